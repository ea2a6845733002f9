import json

from steering_reliability.analysis.format_effects import format_lines, format_rows
from steering_reliability.analysis.method_summary import chance_findings, method_rows, ood_method_rows
from steering_reliability.analysis.summary import (
    Run,
    bias_rows,
    comparison_rows,
    correlation_rows,
    cosine_rows,
    findings,
    geometry_rows,
    layer_rows,
    steerability_rows,
    to_markdown,
    user_dataset_rows,
    with_verdicts,
)
from steering_reliability.run.artifacts import atomic_path, read_table, write_table
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    inputs, run = snakemake.input, Run.from_config(snakemake.config)
    rows, steerability, bias, against_chance = [], {}, {}, []
    for index, model in enumerate(snakemake.params.models):
        steerability[model] = read_table(inputs.steerability[index])
        bias[model] = read_table(inputs.bias[index])
        layer = json.loads(open(inputs.layer[index]).read())
        rows += layer_rows(model, layer)
        rows += steerability_rows(model, steerability[model], read_table(inputs.slopes[index]), run)
        rows += bias_rows(model, bias[model], run, steerability[model])
        rows += format_rows(model, steerability[model], bias[model], run, layer["layer"])
        rows += user_dataset_rows(model, steerability[model], bias[model], run)
        if inputs.correlations:
            rows += correlation_rows(model, read_table(inputs.correlations[index]))
            rows += cosine_rows(model, read_table(inputs.cosines[index]))
        rows += geometry_rows(model, read_table(inputs.geometry[index]))
        if inputs.methods:
            nulls = read_table(inputs.nulls[index])
            rows += method_rows(model, read_table(inputs.methods[index]), nulls, run)
            against_chance += chance_findings(model, steerability[model], nulls, run)
        if inputs.ood_methods:
            rows += ood_method_rows(model, read_table(inputs.ood_methods[index]))
    if inputs.comparison:
        rows += comparison_rows(read_table(inputs.comparison))
    summary = with_verdicts(rows, run)
    found = findings(summary, steerability, bias, against_chance)
    write_table(summary, snakemake.output.csv)
    write_table(found, snakemake.output.findings)
    with atomic_path(snakemake.output.md) as partial:
        partial.write_text(to_markdown(summary, found, run, format_lines(summary)))
