import json

from steering_reliability.analysis.layers import read_layer
from steering_reliability.data.variants import BASELINE
from steering_reliability.model.vector_methods import method_vectors, ood_method_vectors
from steering_reliability.model.vectors import caa_vector, ood_vectors
from steering_reliability.run.scripting import script_context, tensor_metadata
from steering_reliability.run.tensors import cached_layer, load_tensors, save_tensors

with script_context(snakemake) as log:
    activations, metadata = load_tensors(snakemake.input.activations)
    layer = read_layer(snakemake.input.layer)
    pairs = {
        variant: [
            part.float() for part in cached_layer(activations, metadata, variant, layer, snakemake.input.activations)
        ]
        for variant in json.loads(metadata["variants"])
    }
    trained = {variant: caa_vector(*pair) for variant, pair in pairs.items()}
    vectors = ood_vectors(trained) if len(trained) > 1 else {BASELINE: trained[BASELINE]}
    norms = {name: round(float(vector.norm()), 6) for name, vector in trained.items()}
    settings = snakemake.params.vectors
    others, other_norms = method_vectors(
        *pairs[BASELINE],
        settings["methods"],
        settings["null_draws"],
        snakemake.params.seed,
        snakemake.wildcards.dataset,
    )
    vectors.update(others)
    if len(trained) > 1:
        ood_methods = snakemake.params.ood_methods
        vectors.update(ood_method_vectors(pairs, ood_methods, snakemake.params.seed, snakemake.wildcards.dataset))
    log.info("layer %d; norms as trained: %s; %d directions of other methods", layer, norms, len(others))
    save_tensors(
        snakemake.output[0],
        vectors,
        tensor_metadata(
            snakemake,
            layer=layer,
            num_items=len(activations[f"{BASELINE}.positive"]),
            norms_as_trained=norms,
            method_norms_as_trained=other_norms,
        ),
    )
