from steering_reliability.scripting import script_context, tensor_metadata
from steering_reliability.sweep import read_layer
from steering_reliability.tensors import load_tensors, save_tensors
from steering_reliability.vectors import caa_vector

with script_context(snakemake) as log:
    activations, metadata = load_tensors(snakemake.input.activations)
    layer = read_layer(snakemake.input.layer)
    num_layers = activations["positive"].shape[1]
    if not 0 <= layer < num_layers:
        raise ValueError(
            f"models.{snakemake.wildcards.model}.layer = {layer} is out of range: "
            f"the model has {num_layers} layers (0..{num_layers - 1})"
        )
    vector = caa_vector(activations["positive"][:, layer], activations["negative"][:, layer])
    log.info("layer %d vector norm %.4f from %d items", layer, vector.norm(), activations["positive"].shape[0])
    save_tensors(
        snakemake.output[0],
        {"vector": vector},
        tensor_metadata(
            snakemake,
            layer=layer,
            num_items=activations["positive"].shape[0],
            activations=snakemake.input.activations,
        ),
    )
