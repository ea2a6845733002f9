import json

import pandas as pd

from steering_reliability.artifacts import atomic_path, write_table
from steering_reliability.scripting import script_context
from steering_reliability.summary import comparison_rows, model_summary, to_markdown

with script_context(snakemake) as log:
    inputs = snakemake.input
    rows = []
    for index, model in enumerate(snakemake.params.models):
        rows += model_summary(
            model,
            pd.read_csv(inputs.steerability[index]),
            pd.read_csv(inputs.bias[index]),
            json.loads(open(inputs.layer[index]).read()),
            pd.read_csv(inputs.ood_spearman[index]) if inputs.ood_spearman else None,
            pd.read_csv(inputs.relative[index]) if inputs.relative else None,
        )
    if inputs.comparison:
        rows += comparison_rows(pd.read_csv(inputs.comparison))
    summary = pd.DataFrame(rows)
    write_table(summary, snakemake.output.csv)
    with atomic_path(snakemake.output.md) as partial:
        partial.write_text(to_markdown(summary))
