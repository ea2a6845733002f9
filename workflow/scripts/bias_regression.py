import pandas as pd

from steering_reliability.artifacts import write_table
from steering_reliability.bias import factor_effects, variance_shares
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    items = pd.read_parquet(snakemake.input[0])
    rows = []
    for dataset, frame in items.groupby("dataset", sort=False):
        unsteered = {f"unsteered_{key}": value for key, value in factor_effects(frame, "unsteered_logit_diff").items()}
        rows.append({"dataset": dataset, **variance_shares(frame, "slope"), **unsteered})
    write_table(pd.DataFrame(rows), snakemake.output[0])
