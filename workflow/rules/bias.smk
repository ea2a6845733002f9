# Spurious-bias regression: slope variance explained by A/B and Yes/No; unsteered bias.


rule bias_regression:
    input:
        "results/{model}/tables/items.parquet",
    output:
        "results/{model}/tables/bias.csv",
    log:
        "logs/{model}/tables/bias.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/bias_regression.py"
