# Spurious-bias regression: slope variance explained by A/B and Yes/No; unsteered bias.


rule bias_regression:
    input:
        "results/{model}/tables/items.parquet",
    output:
        report(
            "results/{model}/tables/bias.csv",
            caption="../report/table_bias.rst",
            category="Tables",
            subcategory="{model}",
        ),
    log:
        "logs/{model}/tables/bias.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("bias_regression.py"),
        statistics=config["statistics"],
    script:
        "../scripts/bias_regression.py"
