# Out-of-distribution study (STUDY.md): six vectors per dataset (one per prompt variant,
# rescaled to the baseline's norm, and their mean), each evaluated on every test variant;
# ID vs OOD Spearman and relative steerability against the unsteered gap.


rule ood_vectors:
    input:
        activations=expand(
            "results/{{model}}/activations/{{dataset}}/{variant}.safetensors",
            variant=VARIANTS,
        ),
        layer=layer_file,
    output:
        "results/{model}/ood/{dataset}/vectors.safetensors",
    log:
        "logs/{model}/ood/{dataset}/vectors.log",
    conda:
        "../../envs/model.yaml"
    params:
        variants=VARIANTS,
    script:
        "../scripts/ood_vectors.py"


rule evaluate_ood:
    input:
        dataset="results/datasets/{dataset}.parquet",
        model="resources/models/{model}/model.json",
        vectors="results/{model}/ood/{dataset}/vectors.safetensors",
        layer=layer_file,
        personas=variant_personas,
    output:
        propensities="results/{model}/ood/{dataset}/{variant}/propensities.parquet",
        slopes="results/{model}/ood/{dataset}/{variant}/items.parquet",
    log:
        "logs/{model}/ood/{dataset}/{variant}.log",
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
        "../scripts/evaluate_ood.py"


rule ood_tables:
    input:
        per_dataset(
            "results/{model}/ood/{dataset}/{variant}/items.parquet",
            ood=True,
            variant=VARIANTS,
        ),
    output:
        item_table="results/{model}/tables/ood_items.parquet",
        steerability="results/{model}/tables/ood_steerability.csv",
        id_vs_ood="results/{model}/tables/id_vs_ood.csv",
        spearman="results/{model}/tables/ood_spearman.csv",
        relative="results/{model}/tables/relative_steerability.csv",
    log:
        "logs/{model}/tables/ood.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/ood_tables.py"
