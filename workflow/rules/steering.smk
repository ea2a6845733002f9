# Steering evaluation on the test split: every vector of the dataset on every prompt variant
# (the ID setting is the baseline vector on the baseline prompts), and the per-dataset
# steerability table.


# One job per group of datasets (compute.datasets_per_job.evaluation): the model is loaded once per
# job, and each dataset's outputs, log and provenance are its own (dataset_groups).
for index, datasets in enumerate(STAGE_GROUPS["evaluation"], start=1):

    rule:
        name:
            f"evaluate_steering_{index}"
        input:
            model="resources/models/{model}/model.json",
            datasets=group_inputs("evaluation", datasets),
        output:
            group_outputs("evaluation", datasets),
        log:
            *group_logs("evaluation", datasets),
            # peak GPU and host memory, device, dtype and token budget (beside the benchmark file)
            memory=f"logs/{{model}}/benchmarks/evaluate_steering/job-{index}.memory.json",
        benchmark:
            f"logs/{{model}}/benchmarks/evaluate_steering/job-{index}.tsv"
        conda:
            "../../envs/model.yaml"
        threads: config["compute"]["threads_per_job"]
        resources:
            **group_resources(len(datasets)),
        params:
            code=code_version("evaluate_steering.py"),
            model=model_params,
            datasets=group_plan("evaluation", datasets),
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
    script:
        "../scripts/steerability_table.py"


# The other vector methods against CAA and against the null directions (vectors.methods): their
# steerability and spurious-bias shares from the evaluated items, and their geometry (separation of
# the training activations along each direction, cosines) from the cache and the vectors files.
rule method_tables:
    input:
        slopes=per_dataset("results/{model}/steering/{dataset}/items.parquet"),
        activations=per_dataset("results/{model}/activations/{dataset}.safetensors"),
        vectors=per_dataset("results/{model}/vectors/{dataset}.safetensors"),
        layer=layer_file,
    output:
        methods="results/{model}/tables/methods.csv",
        nulls=report(
            "results/{model}/tables/methods_vs_null.csv",
            caption="../report/table_methods_vs_null.rst",
            category="Tables",
            subcategory="{model}",
        ),
        geometry="results/{model}/tables/method_geometry.csv",
        cosines="results/{model}/tables/method_cosines.csv",
    log:
        "logs/{model}/tables/methods.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        code=code_version("method_tables.py"),
        datasets=DATASETS,
        statistics=config["statistics"],
    script:
        "../scripts/method_tables.py"
