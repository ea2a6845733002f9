import json

import pandas as pd

from steering_reliability.analysis.geometry import cosine_rows, dataset_geometry, diagnostic_correlations
from steering_reliability.analysis.layers import read_layer
from steering_reliability.analysis.steerability import in_distribution
from steering_reliability.model.vector_names import caa_vectors
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.scripting import script_context
from steering_reliability.run.tensors import cached_layer, load_tensors

with script_context(snakemake) as log:
    layer = read_layer(snakemake.input.layer)
    geometry, cosines = [], []
    for dataset, cache, vectors in zip(snakemake.params.datasets, snakemake.input.activations, snakemake.input.vectors):
        tensors, metadata = load_tensors(cache, framework="numpy")
        variants = json.loads(metadata["variants"])
        by_variant = {variant: cached_layer(tensors, metadata, variant, layer, cache) for variant in variants}
        geometry += [{"dataset": dataset, **row} for row in dataset_geometry(by_variant)]
        if len(variants) > 1:
            ood_vectors = caa_vectors(load_tensors(vectors, framework="numpy")[0])
            cosines += [{"dataset": dataset, **row} for row in cosine_rows(ood_vectors)]
    geometry = pd.DataFrame(geometry)
    items = in_distribution(pd.concat([read_table(path) for path in snakemake.input.slopes], ignore_index=True))
    settings = snakemake.params.statistics
    correlations = diagnostic_correlations(
        geometry, read_table(snakemake.input.steerability), items, settings["resamples"], settings["seed"]
    )
    log.info("diagnostics against steerability:\n%s", correlations.to_string())
    write_table(geometry, snakemake.output.geometry)
    write_table(pd.DataFrame(cosines, columns=["dataset", "vector_a", "vector_b", "cosine"]), snakemake.output.cosines)
    write_table(correlations, snakemake.output.correlations)
