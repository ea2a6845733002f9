import pandas as pd

from steering_reliability.analysis.layers import read_layer
from steering_reliability.analysis.method_comparison import (
    method_cosines,
    method_geometry,
    method_table,
    null_comparison,
)
from steering_reliability.analysis.position_effect import by_pair
from steering_reliability.data.variants import BASELINE
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.scripting import script_context
from steering_reliability.run.tensors import cached_layer, load_tensors

with script_context(snakemake) as log:
    inputs, settings = snakemake.input, snakemake.params.statistics
    items = by_pair(
        pd.concat([read_table(path) for path in inputs.slopes], ignore_index=True), ("dataset", "vector", "variant")
    )
    table = method_table(items, settings["resamples"], settings["seed"])
    nulls = null_comparison(table)
    layer, geometry, cosines = read_layer(inputs.layer), [], []
    for dataset, cache, stored in zip(snakemake.params.datasets, inputs.activations, inputs.vectors):
        tensors, metadata = load_tensors(cache, framework="numpy")
        positive, negative = cached_layer(tensors, metadata, BASELINE, layer, cache)
        vectors = load_tensors(stored, framework="numpy")[0]
        geometry.append(method_geometry(positive, negative, vectors, settings["resamples"], settings["seed"]))
        cosines.append(method_cosines(vectors))
        geometry[-1].insert(0, "dataset", dataset)
        cosines[-1].insert(0, "dataset", dataset)
    log.info("%d datasets x %d vectors; against the nulls:\n%s", table["dataset"].nunique(), len(table), nulls)
    write_table(table, snakemake.output.methods)
    write_table(nulls, snakemake.output.nulls)
    write_table(pd.concat(geometry, ignore_index=True), snakemake.output.geometry)
    write_table(pd.concat(cosines, ignore_index=True), snakemake.output.cosines)
