from steering_reliability.artifacts import write_table
from steering_reliability.evaluation import propensity_table
from steering_reliability.model_jobs import engine_and_items
from steering_reliability.scripting import script_context
from steering_reliability.steerability import item_slopes
from steering_reliability.sweep import read_layer
from steering_reliability.tensors import load_tensors

with script_context(snakemake) as log:
    dataset, variant = snakemake.wildcards.dataset, snakemake.wildcards.variant
    engine, items, test = engine_and_items(snakemake, "test", variant)
    vectors = load_tensors(snakemake.input.vectors)[0]
    propensities = propensity_table(
        engine,
        items,
        read_layer(snakemake.input.layer),
        vectors,
        snakemake.params.multipliers,
        f"{dataset} {variant} (6 vectors)",
    )
    slopes = item_slopes(propensities, ["vector", "item_id"])
    for frame in (propensities, slopes):
        frame.insert(0, "variant", variant)
        frame.insert(0, "dataset", dataset)
    write_table(propensities, snakemake.output.propensities)
    write_table(slopes, snakemake.output.slopes)
