# Residual stream at the answer-letter token of every training item, under each prompt
# variant of the dataset (baseline; and SYS_*/PT_* for the datasets of the OOD study),
# at the steering layer (or every layer: activations.layers).
# One job per group of datasets (compute.datasets_per_job.activations): the model is loaded once
# per job, and each dataset's outputs, log and provenance are its own (dataset_groups).

for index, datasets in enumerate(STAGE_GROUPS["activations"], start=1):

    rule:
        name:
            f"cache_activations_{index}"
        input:
            model="resources/models/{model}/model.json",
            datasets=group_inputs("activations", datasets),
        output:
            group_outputs("activations", datasets),
        log:
            *group_logs("activations", datasets),
            # peak GPU and host memory, device, dtype and token budget (beside the benchmark file)
            memory=f"logs/{{model}}/benchmarks/cache_activations/job-{index}.memory.json",
        benchmark:
            f"logs/{{model}}/benchmarks/cache_activations/job-{index}.tsv"
        conda:
            "../../envs/model.yaml"
        threads: config["compute"]["threads_per_job"]
        resources:
            **group_resources(len(datasets)),
        params:
            code=code_version("cache_activations.py"),
            model=model_params,
            datasets=group_plan("activations", datasets),
            activations=config["activations"],
        script:
            "../scripts/cache_activations.py"
