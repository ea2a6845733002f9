# Per-model manifest: every artifact with its sha256 and the rule that made it.


rule manifest:
    input:
        model_targets,
    output:
        "results/{model}/manifest.json",
    log:
        "logs/{model}/manifest.log",
    conda:
        "../../envs/data.yaml"
    params:
        code=code_version("manifest.py"),
    script:
        "../scripts/manifest.py"
