# Raw files (pinned upstream commits or a local mirror, sha256-checked) -> A/B item tables,
# and the persona sentences of the OOD study.


rule fetch_raw_file:
    output:
        "resources/raw/{raw_path}",
    log:
        "logs/raw/{raw_path}.log",
    wildcard_constraints:
        raw_path=".+\\.(jsonl|json|py)",
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("fetch_raw_file.py"),
        sha256=pinned_sha256,
        mirror=config["data"]["mirror"],
        download_url=config["data"]["download_url"],
    script:
        "../scripts/fetch_raw_file.py"


rule fetch_hub_dataset:
    output:
        rows="resources/user-datasets/{dataset}.parquet",
        record="resources/user-datasets/{dataset}.json",
    log:
        "logs/raw/user-datasets/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("fetch_hub_dataset.py"),
        hub=lambda wildcards: USER_DATASETS[wildcards.dataset]["hub"],
        cache=config["compute"]["hub_cache"],
    script:
        "../scripts/fetch_hub_dataset.py"


rule build_dataset:
    input:
        raw=raw_file,
        hub_record=hub_dataset_record,
    output:
        "results/datasets/{dataset}.parquet",
    log:
        "logs/datasets/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("build_dataset.py"),
        design=lambda wildcards: design_settings(config, wildcards.dataset),
    script:
        "../scripts/build_dataset.py"


rule persona_sentences:
    input:
        raw=PERSONAS_RAW,
    output:
        PERSONAS,
    log:
        "logs/datasets/persona_sentences.log",
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("persona_sentences.py"),
        datasets=OOD_DATASETS,
        user={
            name: entry["persona"]
            for name, entry in USER_DATASETS.items()
            if entry["persona"] is not None
        },
    script:
        "../scripts/persona_sentences.py"
