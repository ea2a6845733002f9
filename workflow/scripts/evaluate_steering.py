from steering_reliability.artifacts import write_table
from steering_reliability.evaluation import propensity_table
from steering_reliability.model_jobs import engine_and_items
from steering_reliability.scripting import script_context
from steering_reliability.steerability import item_slopes
from steering_reliability.sweep import read_layer
from steering_reliability.tensors import load_tensors

with script_context(snakemake) as log:
    engine, items, test = engine_and_items(snakemake, "test", snakemake.wildcards.variant)
    vector = load_tensors(snakemake.input.vector)[0]["vector"]
    propensities = propensity_table(
        engine,
        items,
        read_layer(snakemake.input.layer),
        {snakemake.wildcards.vector: vector},
        snakemake.params.multipliers,
        f"{snakemake.wildcards.dataset} steering",
    )
    factors = test[["item_id", "positive_is_a", "positive_is_yes"]]
    slopes = item_slopes(propensities, ["item_id"]).merge(factors, on="item_id")
    slopes.insert(0, "dataset", snakemake.wildcards.dataset)
    propensities.insert(0, "dataset", snakemake.wildcards.dataset)
    write_table(propensities, snakemake.output.propensities)
    write_table(slopes, snakemake.output.slopes)
