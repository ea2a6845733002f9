# CAA steering vectors: mean (positive - negative) activation at the configured layer.


rule caa_vector:
    input:
        "results/{model}/activations/{dataset}/{vector}.safetensors",
    output:
        "results/{model}/vectors/{dataset}/{vector}.safetensors",
    log:
        "logs/{model}/vectors/{dataset}/{vector}.log",
    conda:
        "../../envs/model.yaml"
    params:
        layer=model_layer,
    script:
        "../scripts/caa_vector.py"
