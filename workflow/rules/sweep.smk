# Layer sweep (docs/protocol.md, "Layer choice"): steerability of every layer's CAA vector on a few
# datasets, the layer the study steers at (from config, or `layer: auto` = the sweep's best),
# and the effect of the multiplier range on steerability.


# One job per group of datasets (compute.datasets_per_job.sweep): the model is loaded once per job.
for index, datasets in enumerate(STAGE_GROUPS["sweep"], start=1):

    rule:
        name:
            f"layer_sweep_{index}"
        input:
            model="resources/models/{model}/model.json",
            datasets=group_inputs("sweep", datasets),
        output:
            group_outputs("sweep", datasets),
        log:
            *group_logs("sweep", datasets),
            # peak GPU and host memory, device, dtype and token budget (beside the benchmark file)
            memory=f"logs/{{model}}/benchmarks/layer_sweep/job-{index}.memory.json",
        benchmark:
            f"logs/{{model}}/benchmarks/layer_sweep/job-{index}.tsv"
        conda:
            "../../envs/model.yaml"
        threads: config["compute"]["threads_per_job"]
        resources:
            **group_resources(len(datasets)),
        params:
            code=code_version("layer_sweep.py"),
            model=model_params,
            datasets=group_plan("sweep", datasets),
            sweep=config["sweep"],
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
    params:
        code=code_version("sweep_table.py"),
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
        code=code_version("choose_layer.py"),
        layer=lambda wildcards: config["models"][wildcards.model]["layer"],
        auto_depth=config["sweep"]["auto_depth"],
    script:
        "../scripts/choose_layer.py"


rule multiplier_range:
    input:
        per_dataset("results/{model}/steering/{dataset}/propensities.parquet"),
    output:
        "results/{model}/tables/multiplier_range.csv",
    log:
        "logs/{model}/tables/multiplier_range.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("multiplier_range.py"),
    script:
        "../scripts/multiplier_range.py"
