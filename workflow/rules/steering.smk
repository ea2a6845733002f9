# Steering evaluation on the test split: propensity per (item, multiplier), slope per item,
# and the per-dataset steerability table.


rule evaluate_steering:
    input:
        dataset="results/datasets/{dataset}.parquet",
        model="resources/models/{model}/model.json",
        vector="results/{model}/vectors/{dataset}/{vector}.safetensors",
        layer=layer_file,
        personas=variant_personas,
    output:
        propensities="results/{model}/steering/{dataset}/{vector}/{variant}/propensities.parquet",
        slopes="results/{model}/steering/{dataset}/{vector}/{variant}/items.parquet",
    log:
        "logs/{model}/steering/{dataset}/{vector}/{variant}.log",
    conda:
        "../../envs/model.yaml"
    threads: config["compute"].get("threads_per_job", 1)
    resources:
        **MODEL_JOB,
    params:
        prompt=prompt_params,
        multipliers=config["steering"]["multipliers"],
        token_budget=config["compute"].get("token_budget", 8192),
    script:
        "../scripts/evaluate_steering.py"


rule steerability_table:
    input:
        slopes=per_dataset(
            "results/{model}/steering/{dataset}/baseline/baseline/items.parquet"
        ),
    output:
        summary="results/{model}/tables/steerability.csv",
        item_table="results/{model}/tables/items.parquet",
    log:
        "logs/{model}/tables/steerability.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/steerability_table.py"
