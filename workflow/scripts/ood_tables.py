import pandas as pd

from steering_reliability.analysis import ood
from steering_reliability.analysis.position_effect import by_pair
from steering_reliability.run.artifacts import read_table, write_table
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    items = pd.concat([read_table(path) for path in snakemake.input], ignore_index=True)
    by_method = {
        method: by_pair(rows, ("dataset", "vector", "variant")) for method, rows in ood.method_items(items).items()
    }
    settings = snakemake.params.statistics
    tables = {
        method: ood.study_tables(items, snakemake.params.relative_filter, settings["resamples"], settings["seed"])
        for method, items in by_method.items()
    }
    log.info("correlations:\n%s", tables["caa"]["correlations"].to_string())
    write_table(by_method["caa"], snakemake.output.item_table)
    for name in ("steerability", "id_vs_ood", "correlations", "relative"):
        write_table(tables["caa"][name], snakemake.output[name])
    if "method_correlations" in snakemake.output.keys():  # every method of ood.methods, CAA's rows included
        write_table(ood.with_method_column(tables, "id_vs_ood"), snakemake.output.method_id_vs_ood)
        write_table(ood.with_method_column(tables, "correlations"), snakemake.output.method_correlations)
