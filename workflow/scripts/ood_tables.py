import pandas as pd

from steering_reliability import ood
from steering_reliability.artifacts import read_table, write_table
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    items = pd.concat([read_table(path) for path in snakemake.input], ignore_index=True)
    settings = ood.steerability_by_setting(items)
    id_vs_ood = ood.id_vs_ood(settings)
    relative = ood.relative_steerability(items, settings, snakemake.params.relative_filter)
    statistics = snakemake.params.statistics
    correlations = ood.correlations(id_vs_ood, relative, statistics["resamples"], statistics["seed"])
    log.info("correlations:\n%s", correlations.to_string())
    write_table(items, snakemake.output.item_table)
    write_table(settings, snakemake.output.steerability)
    write_table(id_vs_ood, snakemake.output.id_vs_ood)
    write_table(correlations, snakemake.output.correlations)
    write_table(relative, snakemake.output.relative)
