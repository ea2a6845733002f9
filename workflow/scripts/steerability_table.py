import pandas as pd

from steering_reliability.analysis.position_effect import by_pair, position_summary
from steering_reliability.analysis.steerability import dataset_steerability, in_distribution
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    rows = in_distribution(pd.concat([read_table(path) for path in snakemake.input], ignore_index=True))
    items = by_pair(rows, keys=("dataset",))  # a counterbalanced study: one row per pair, its behaviour slope
    settings = snakemake.params.statistics
    summary = pd.DataFrame(
        [
            {
                "dataset": dataset,
                **dataset_steerability(frame, settings["resamples"], settings["seed"]),
                **position_summary(frame, settings["resamples"], settings["seed"]),
            }
            for dataset, frame in items.groupby("dataset", sort=False)
        ]
    )
    write_table(items, snakemake.output.item_table)
    write_table(summary, snakemake.output.summary)
