import pandas as pd

from steering_reliability import figures
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    model = snakemake.wildcards.model
    rule = snakemake.rule
    if rule == "figure_steerability_distribution":
        figure = figures.steerability_distribution(pd.read_parquet(snakemake.input[0]), model)
    elif rule == "figure_anti_steerable_fraction":
        figure = figures.anti_steerable_fraction(pd.read_csv(snakemake.input[0]), model)
    elif rule == "figure_variance_explained":
        figure = figures.variance_explained(pd.read_csv(snakemake.input[0]), model)
    else:
        figure = figures.propensity_curves(
            pd.read_parquet(snakemake.input.propensities),
            pd.read_parquet(snakemake.input.slopes),
            snakemake.params.dataset,
            model,
        )
    figures.save_figure(figure, snakemake.output.png, snakemake.output.svg)
