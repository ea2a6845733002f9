import pandas as pd

from steering_reliability.artifacts import write_json
from steering_reliability.layers import pick_layer
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    layer = snakemake.params.layer
    if layer == "auto":
        per_layer = pd.read_csv(snakemake.input[0])
        layer = pick_layer(per_layer)
        means = per_layer.groupby("layer")["mean_steerability"].mean()
        record = {"layer": layer, "source": "sweep", "mean_steerability_by_layer": means.round(6).to_dict()}
    else:
        record = {"layer": layer, "source": "config"}
    log.info("steering layer %s (%s)", layer, record["source"])
    write_json(record, snakemake.output[0])
