from steering_reliability import figures
from steering_reliability.artifacts import read_table, write_table
from steering_reliability.comparison import OOD_SHIFT, cross_model_spearman, long_table
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    models = snakemake.params.models
    id_table = long_table(
        {model: read_table(path) for model, path in zip(models, snakemake.input.steerability)}, "mean_steerability"
    )
    ood_inputs = {model: read_table(path) for model, path in zip(models, snakemake.input.id_vs_ood)}
    ood_table = long_table(ood_inputs, OOD_SHIFT) if ood_inputs else id_table.iloc[0:0]
    statistics = snakemake.params.statistics
    spearman = cross_model_spearman(id_table, ood_table, statistics["resamples"], statistics["seed"])
    write_table(spearman, snakemake.output.spearman)
    figures.save_figure(figures.cross_model(id_table, ood_table, spearman), snakemake.output.png, snakemake.output.svg)
