import pandas as pd

from steering_reliability import figures
from steering_reliability.layers import read_layer
from steering_reliability.ood import relative_steerability_correlation
from steering_reliability.scripting import script_context


def draw(rule: str, inputs, params, model: str):
    if rule == "figure_steerability_distribution":
        return figures.steerability_distribution(pd.read_parquet(inputs[0]), model)
    if rule == "figure_anti_steerable_fraction":
        return figures.anti_steerable_fraction(pd.read_csv(inputs[0]), model)
    if rule == "figure_variance_explained":
        return figures.variance_explained(pd.read_csv(inputs[0]), model)
    if rule == "figure_propensity_curves":
        propensities, slopes = pd.read_parquet(inputs.propensities), pd.read_parquet(inputs.slopes)
        return figures.propensity_curves(propensities, slopes, params.dataset, model)
    if rule == "figure_id_vs_ood":
        return figures.id_vs_ood(pd.read_csv(inputs.table), pd.read_csv(inputs.spearman), model)
    if rule == "figure_relative_steerability":
        relative = pd.read_csv(inputs[0])
        return figures.relative_steerability(relative, relative_steerability_correlation(relative), model)
    if rule == "figure_layer_sweep":
        return figures.layer_sweep(pd.read_csv(inputs.sweep), read_layer(inputs.layer), model)
    if rule == "figure_multiplier_range":
        return figures.multiplier_range(pd.read_csv(inputs[0]), model)
    raise ValueError(f"no figure for rule {rule}")


with script_context(snakemake) as log:
    figure = draw(snakemake.rule, snakemake.input, snakemake.params, snakemake.wildcards.model)
    figures.save_figure(figure, snakemake.output.png, snakemake.output.svg)
