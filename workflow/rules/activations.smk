# Residual stream at the answer-letter token, every layer, for every training item,
# under each prompt variant (baseline for the ID study; SYS_*/PT_* for the OOD study).


rule cache_activations:
    input:
        dataset="results/datasets/{dataset}.parquet",
        model="resources/models/{model}/model.json",
        personas=variant_personas,
    output:
        "results/{model}/activations/{dataset}/{variant}.safetensors",
    log:
        "logs/{model}/activations/{dataset}/{variant}.log",
    conda:
        "../../envs/model.yaml"
    threads: config["compute"].get("threads_per_job", 1)
    resources:
        **MODEL_JOB,
    params:
        prompt=prompt_params,
        token_budget=config["compute"].get("token_budget", 8192),
    script:
        "../scripts/cache_activations.py"
