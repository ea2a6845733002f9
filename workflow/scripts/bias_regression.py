import pandas as pd

from steering_reliability.analysis.bias import factor_effects, share_intervals, variance_shares
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    items = read_table(snakemake.input[0])
    settings = snakemake.params.statistics
    rows = []
    for dataset, frame in items.groupby("dataset", sort=False):
        unsteered = {f"unsteered_{key}": value for key, value in factor_effects(frame, "unsteered_logit_diff").items()}
        intervals = share_intervals(frame, settings["resamples"], settings["seed"])
        rows.append({"dataset": dataset, **variance_shares(frame, "slope"), **intervals, **unsteered})
    write_table(pd.DataFrame(rows), snakemake.output[0])
