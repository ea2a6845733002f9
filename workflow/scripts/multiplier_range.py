import pandas as pd

from steering_reliability.analysis.steerability import in_distribution, multiplier_range_steerability
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    propensities = in_distribution(pd.concat([read_table(path) for path in snakemake.input], ignore_index=True))
    write_table(multiplier_range_steerability(propensities), snakemake.output[0])
