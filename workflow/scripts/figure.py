from steering_reliability.analysis import figures
from steering_reliability.analysis.layers import read_layer
from steering_reliability.analysis.steerability import in_distribution
from steering_reliability.run.artifacts import read_table
from steering_reliability.run.scripting import script_context


def draw(name: str, inputs, params, model: str):
    if name == "fig1_steerability_distribution":
        return figures.steerability_distribution(read_table(inputs.item_slopes), model)
    if name == "fig2_anti_steerable_fraction":
        return figures.anti_steerable_fraction(read_table(inputs.steerability), model)
    if name == "fig3_variance_explained":
        return figures.variance_explained(read_table(inputs.bias), model)
    if name == "fig4_propensity_curves":
        propensities = in_distribution(read_table(inputs.example_propensities))
        slopes = in_distribution(read_table(inputs.example_slopes))
        return figures.propensity_curves(propensities, slopes, params.dataset, model)
    if name == "fig5_id_vs_ood":
        return figures.id_vs_ood(read_table(inputs.id_vs_ood), read_table(inputs.ood_correlations), model)
    if name == "fig6_relative_steerability":
        correlations = read_table(inputs.ood_correlations)
        correlation = correlations[correlations["kind"] == "relative_vs_gap"].iloc[0]
        return figures.relative_steerability(read_table(inputs.relative), correlation, model)
    if name == "fig8_geometry":
        return figures.geometry(
            read_table(inputs.geometry),
            read_table(inputs.steerability),
            read_table(inputs.item_slopes),
            read_table(inputs.geometry_correlations),
            model,
        )
    if name == "fig9_ood_vector_cosines":
        return figures.ood_vector_cosines(read_table(inputs.ood_vector_cosines), model)
    if name == "fig10_methods_steerability":
        methods, nulls = read_table(inputs.methods), read_table(inputs.nulls)
        return figures.against_null(methods, nulls, "mean_steerability", "mean steerability", model)
    if name == "fig11_methods_anti_steerable":
        methods, nulls = read_table(inputs.methods), read_table(inputs.nulls)
        return figures.against_null(methods, nulls, "anti_steerable_fraction", "anti-steerable fraction", model)
    if name == "figA1_layer_sweep":
        return figures.layer_sweep(read_table(inputs.sweep), read_layer(inputs.layer), model)
    if name == "figA2_multiplier_range":
        return figures.multiplier_range(read_table(inputs.multiplier_range), model)
    raise ValueError(f"no figure named {name}")


with script_context(snakemake) as log:
    for name in snakemake.params.figures:
        figure = draw(name, snakemake.input, snakemake.params, snakemake.wildcards.model)
        figures.save_figure(figure, snakemake.output[f"{name}_png"], snakemake.output[f"{name}_svg"])
        log.info("drew %s", name)
