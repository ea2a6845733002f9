import pandas as pd

from steering_reliability.analysis.layers import layer_steerability
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    sweep = pd.concat([read_table(path) for path in snakemake.input], ignore_index=True)
    write_table(layer_steerability(sweep), snakemake.output[0])
