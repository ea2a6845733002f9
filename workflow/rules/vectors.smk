# CAA steering vectors: mean (positive - negative) activation at the model's layer.


rule caa_vector:
    input:
        activations="results/{model}/activations/{dataset}/{vector}.safetensors",
        layer=layer_file,
    output:
        "results/{model}/vectors/{dataset}/{vector}.safetensors",
    log:
        "logs/{model}/vectors/{dataset}/{vector}.log",
    conda:
        "../../envs/model.yaml"
    script:
        "../scripts/caa_vector.py"
