import pandas as pd

from steering_reliability.artifacts import write_table
from steering_reliability.scripting import script_context
from steering_reliability.steerability import summarise

with script_context(snakemake) as log:
    items = pd.concat([pd.read_parquet(path) for path in snakemake.input.slopes], ignore_index=True)
    summary = pd.DataFrame(
        [{"dataset": dataset, **summarise(frame["slope"])} for dataset, frame in items.groupby("dataset", sort=False)]
    )
    write_table(items, snakemake.output.item_table)
    write_table(summary, snakemake.output.summary)
