# Raw files (pinned upstream commits or a local mirror, sha256-checked) -> A/B item tables.


rule fetch_raw_file:
    output:
        "resources/raw/{raw_path}",
    log:
        "logs/raw/{raw_path}.log",
    wildcard_constraints:
        raw_path=".+\\.(jsonl|json)",
    conda:
        "../../envs/data.yaml"
    params:
        sha256=pinned_sha256,
        mirror=config["data"].get("mirror"),
    script:
        "../scripts/fetch_raw_file.py"


rule build_dataset:
    input:
        raw=raw_file,
    output:
        "results/datasets/{dataset}.parquet",
    log:
        "logs/datasets/{dataset}.log",
    conda:
        "../../envs/data.yaml"
    params:
        seed=config["data"]["seed"],
        split=config["data"]["split"],
        max_items=config["data"].get("max_items"),
    script:
        "../scripts/build_dataset.py"
