import pandas as pd

from steering_reliability.artifacts import read_table, write_table
from steering_reliability.scripting import script_context
from steering_reliability.steerability import in_distribution, multiplier_range_steerability

with script_context(snakemake) as log:
    propensities = in_distribution(pd.concat([read_table(path) for path in snakemake.input], ignore_index=True))
    write_table(multiplier_range_steerability(propensities), snakemake.output[0])
