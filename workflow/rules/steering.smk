# Steering evaluation on the test split: every vector of the dataset on every prompt variant
# in one job (one model load; the ID setting is the baseline vector on the baseline prompts),
# and the per-dataset steerability table.


rule evaluate_steering:
    input:
        dataset="results/datasets/{dataset}.parquet",
        model="resources/models/{model}/model.json",
        vectors="results/{model}/vectors/{dataset}.safetensors",
        layer=layer_file,
        personas=dataset_personas,
    output:
        propensities="results/{model}/steering/{dataset}/propensities.parquet",
        slopes="results/{model}/steering/{dataset}/items.parquet",
        activations="results/{model}/steering/{dataset}/activations.safetensors",
    log:
        job="logs/{model}/steering/{dataset}.log",
        # peak GPU and host memory, device, dtype and token budget (beside the benchmark file)
        memory="logs/{model}/benchmarks/evaluate_steering/{dataset}.memory.json",
    benchmark:
        "logs/{model}/benchmarks/evaluate_steering/{dataset}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: config["compute"]["threads_per_job"]
    resources:
        **MODEL_JOB,
    params:
        code=code_version("evaluate_steering.py"),
        model=model_params,
        variants=dataset_variants,
        multipliers=config["steering"]["multipliers"],
    script:
        "../scripts/evaluate_steering.py"


rule steerability_table:
    input:
        per_dataset("results/{model}/steering/{dataset}/items.parquet"),
    output:
        summary=report(
            "results/{model}/tables/steerability.csv",
            caption="../report/table_steerability.rst",
            category="Tables",
            subcategory="{model}",
        ),
        item_table="results/{model}/tables/items.parquet",
    log:
        "logs/{model}/tables/steerability.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("steerability_table.py"),
        statistics=config["statistics"],
        multipliers=config["steering"]["multipliers"],
    script:
        "../scripts/steerability_table.py"
