# Layer sweep (STUDY.md, "Layer choice"): steerability of every layer's CAA vector on a few
# datasets, the layer the study steers at (from config, or `layer: auto` = the sweep's best),
# and the effect of the multiplier range on steerability.


rule layer_sweep:
    input:
        dataset="results/datasets/{dataset}.parquet",
        model="resources/models/{model}/model.json",
    output:
        activations="results/{model}/sweep/{dataset}/activations.safetensors",
        propensities="results/{model}/sweep/{dataset}/propensities.parquet",
    log:
        "logs/{model}/sweep/{dataset}.log",
    conda:
        "../../envs/model.yaml"
    threads: config["compute"].get("threads_per_job", 1)
    resources:
        **MODEL_JOB,
    params:
        prompt=prompt_params,
        token_budget=config["compute"].get("token_budget", 8192),
        sweep=config.get("sweep", {}),
    script:
        "../scripts/layer_sweep.py"


rule sweep_table:
    input:
        per_dataset("results/{model}/sweep/{dataset}/propensities.parquet", sweep=True),
    output:
        "results/{model}/tables/layer_sweep.csv",
    log:
        "logs/{model}/tables/layer_sweep.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/sweep_table.py"


rule choose_layer:
    input:
        layer_choice_inputs,
    output:
        "results/{model}/layer.json",
    log:
        "logs/{model}/layer.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        layer=lambda wildcards: config["models"][wildcards.model]["layer"],
    script:
        "../scripts/choose_layer.py"


rule multiplier_range:
    input:
        per_dataset(
            "results/{model}/steering/{dataset}/baseline/baseline/propensities.parquet"
        ),
    output:
        "results/{model}/tables/multiplier_range.csv",
    log:
        "logs/{model}/tables/multiplier_range.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/multiplier_range.py"
