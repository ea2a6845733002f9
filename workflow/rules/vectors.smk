# CAA steering vectors at the model's layer: the mean (positive - negative) activation per
# prompt variant; for the OOD study the variant vectors rescaled to the baseline's norm and
# their mean (six vectors); the directions of the other vector methods and nulls
# (vectors.methods), scaled to the CAA vector's norm; and the six OOD vectors of each method
# of ood.methods beyond caa.


rule steering_vectors:
    input:
        activations="results/{model}/activations/{dataset}.safetensors",
        layer=layer_file,
    output:
        "results/{model}/vectors/{dataset}.safetensors",
    log:
        "logs/{model}/vectors/{dataset}.log",
    conda:
        "../../envs/model.yaml"
    params:
        code=code_version("steering_vectors.py"),
        vectors=config["vectors"],
        seed=config["statistics"]["seed"],
        ood_methods=config["ood"]["methods"],
    script:
        "../scripts/steering_vectors.py"
