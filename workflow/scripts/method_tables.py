import pandas as pd

from steering_reliability.artifacts import read_table, write_table
from steering_reliability.method_comparison import method_table, null_comparison
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    items = pd.concat([read_table(path) for path in snakemake.input], ignore_index=True)
    settings = snakemake.params.statistics
    table = method_table(items, len(snakemake.params.multipliers), settings["resamples"], settings["seed"])
    nulls = null_comparison(table)
    log.info("%d datasets x %d vectors; against the nulls:\n%s", table["dataset"].nunique(), len(table), nulls)
    write_table(table, snakemake.output.methods)
    write_table(nulls, snakemake.output.nulls)
