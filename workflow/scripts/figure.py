from steering_reliability import figures
from steering_reliability.artifacts import read_table
from steering_reliability.layers import read_layer
from steering_reliability.scripting import script_context
from steering_reliability.steerability import in_distribution


def draw(rule: str, inputs, params, model: str):
    if rule == "figure_steerability_distribution":
        return figures.steerability_distribution(read_table(inputs[0]), model)
    if rule == "figure_anti_steerable_fraction":
        return figures.anti_steerable_fraction(read_table(inputs[0]), model)
    if rule == "figure_variance_explained":
        return figures.variance_explained(read_table(inputs[0]), model)
    if rule == "figure_propensity_curves":
        propensities = in_distribution(read_table(inputs.propensities))
        slopes = in_distribution(read_table(inputs.slopes))
        return figures.propensity_curves(propensities, slopes, params.dataset, model)
    if rule == "figure_id_vs_ood":
        return figures.id_vs_ood(read_table(inputs.table), read_table(inputs.correlations), model)
    if rule == "figure_relative_steerability":
        correlations = read_table(inputs.correlations)
        correlation = correlations[correlations["kind"] == "relative_vs_gap"].iloc[0]
        return figures.relative_steerability(read_table(inputs.relative), correlation, model)
    if rule == "figure_geometry":
        items = read_table(inputs.slopes)
        return figures.geometry(
            read_table(inputs.geometry),
            read_table(inputs.steerability),
            items,
            read_table(inputs.correlations),
            model,
        )
    if rule == "figure_ood_vector_cosines":
        return figures.ood_vector_cosines(read_table(inputs[0]), model)
    if rule == "figure_layer_sweep":
        return figures.layer_sweep(read_table(inputs.sweep), read_layer(inputs.layer), model)
    if rule == "figure_multiplier_range":
        return figures.multiplier_range(read_table(inputs[0]), model)
    raise ValueError(f"no figure for rule {rule}")


with script_context(snakemake) as log:
    figure = draw(snakemake.rule, snakemake.input, snakemake.params, snakemake.wildcards.model)
    figures.save_figure(figure, snakemake.output.png, snakemake.output.svg)
