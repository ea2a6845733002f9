from steering_reliability.analysis.layers import eligible_layers, pick_layer
from steering_reliability.run.artifacts import read_table, write_json
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    layer = snakemake.params.layer
    if layer == "auto":
        per_layer = read_table(snakemake.input[0])
        eligible = eligible_layers(int(per_layer["layer"].max()) + 1, snakemake.params.auto_depth)
        layer = pick_layer(per_layer, eligible)
        means = per_layer.groupby("layer")["mean_steerability"].mean()
        record = {
            "layer": layer,
            "source": "sweep",
            "eligible_layers": [eligible[0], eligible[-1]],
            # a pick at the edge of the range may mean the best layer lies outside it
            "at_edge_of_range": layer in (eligible[0], eligible[-1]),
            "mean_steerability_by_layer": means.round(6).to_dict(),
        }
    else:
        record = {"layer": layer, "source": "config"}
    log.info("steering layer %s (%s)", layer, record["source"])
    write_json(record, snakemake.output[0])
