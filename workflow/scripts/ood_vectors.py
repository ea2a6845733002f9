from steering_reliability.layers import read_layer
from steering_reliability.scripting import script_context, tensor_metadata
from steering_reliability.tensors import load_tensors, save_tensors
from steering_reliability.vectors import caa_vector, ood_vectors

with script_context(snakemake) as log:
    layer = read_layer(snakemake.input.layer)
    variant_vectors = {}
    for variant, path in zip(snakemake.params.variants, snakemake.input.activations):
        activations = load_tensors(path)[0]
        variant_vectors[variant] = caa_vector(activations["positive"][:, layer], activations["negative"][:, layer])
    vectors = ood_vectors(variant_vectors)
    norms = {name: round(float(variant_vectors[name].norm()), 6) for name in variant_vectors}
    log.info("layer %d; norms before rescaling: %s", layer, norms)
    save_tensors(snakemake.output[0], vectors, tensor_metadata(snakemake, layer=layer, norms_before_rescaling=norms))
