import json

import pandas as pd

from steering_reliability import ood
from steering_reliability.artifacts import write_table
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    items = pd.concat([pd.read_parquet(path) for path in snakemake.input], ignore_index=True)
    settings = ood.steerability_by_setting(items)
    id_vs_ood = ood.id_vs_ood(settings)
    relative = ood.relative_steerability(items, settings)
    log.info("relative steerability: %s", json.dumps(ood.relative_steerability_correlation(relative)))
    write_table(items, snakemake.output.item_table)
    write_table(settings, snakemake.output.steerability)
    write_table(id_vs_ood, snakemake.output.id_vs_ood)
    write_table(ood.id_ood_correlations(id_vs_ood), snakemake.output.spearman)
    write_table(relative, snakemake.output.relative)
