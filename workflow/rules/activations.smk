# Residual stream at the answer-letter token of every training item, under each prompt
# variant of the dataset (baseline; and SYS_*/PT_* for the datasets of the OOD study),
# at the steering layer (or every layer: activations.layers).


rule cache_activations:
    input:
        dataset="results/datasets/{dataset}.parquet",
        model="resources/models/{model}/model.json",
        layer=layer_file,
        personas=dataset_personas,
    output:
        "results/{model}/activations/{dataset}.safetensors",
    log:
        job="logs/{model}/activations/{dataset}.log",
        # peak GPU and host memory, device, dtype and token budget (beside the benchmark file)
        memory="logs/{model}/benchmarks/cache_activations/{dataset}.memory.json",
    benchmark:
        "logs/{model}/benchmarks/cache_activations/{dataset}.tsv"
    conda:
        "../../envs/model.yaml"
    threads: config["compute"]["threads_per_job"]
    resources:
        **MODEL_JOB,
    params:
        code=code_version("cache_activations.py"),
        model=model_params,
        variants=dataset_variants,
        activations=config["activations"],
    script:
        "../scripts/cache_activations.py"
