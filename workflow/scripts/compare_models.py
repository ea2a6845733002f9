from steering_reliability.analysis import figures
from steering_reliability.analysis.comparison import OOD_SHIFT, cross_model_spearman, long_table
from steering_reliability.analysis.summary import steered
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    models = snakemake.params.models
    steerability = [read_table(path) for path in snakemake.input.steerability]
    id_table = long_table(dict(zip(models, steerability)), "mean_steerability")
    ood_inputs = {model: read_table(path) for model, path in zip(models, snakemake.input.id_vs_ood)}
    ood_table = long_table(ood_inputs, OOD_SHIFT) if ood_inputs else id_table.iloc[0:0]
    statistics = snakemake.params.statistics
    silent = tuple(model for model, table in zip(models, steerability) if not steered(table).any())
    for model in silent:
        log.warning("%s steers no dataset: the cross-model comparison leaves it out", model)
    spearman = cross_model_spearman(id_table, ood_table, statistics["resamples"], statistics["seed"], silent)
    write_table(spearman, snakemake.output.spearman)
    figures.save_figure(figures.cross_model(id_table, ood_table, spearman), snakemake.output.png, snakemake.output.svg)
