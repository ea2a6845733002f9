import pandas as pd

from steering_reliability import ood
from steering_reliability.artifacts import read_table, write_table
from steering_reliability.scripting import script_context


def ood_tables(items: pd.DataFrame, params) -> tuple[pd.DataFrame, ...]:
    """(per-setting steerability, ID vs OOD, relative steerability, correlations) of one method's items."""
    settings = ood.steerability_by_setting(items)
    id_vs_ood = ood.id_vs_ood(settings)
    relative = ood.relative_steerability(items, settings, params.relative_filter)
    statistics = params.statistics
    correlations = ood.correlations(id_vs_ood, relative, statistics["resamples"], statistics["seed"])
    return settings, id_vs_ood, relative, correlations


with script_context(snakemake) as log:
    by_method = ood.method_items(pd.concat([read_table(path) for path in snakemake.input], ignore_index=True))
    tables = {method: ood_tables(items, snakemake.params) for method, items in by_method.items()}
    settings, id_vs_ood, relative, correlations = tables["caa"]
    log.info("correlations:\n%s", correlations.to_string())
    write_table(by_method["caa"], snakemake.output.item_table)
    write_table(settings, snakemake.output.steerability)
    write_table(id_vs_ood, snakemake.output.id_vs_ood)
    write_table(correlations, snakemake.output.correlations)
    write_table(relative, snakemake.output.relative)
    if "method_correlations" in snakemake.output.keys():
        # every method of ood.methods, CAA's rows included, with a method column
        for index, name in ((1, "method_id_vs_ood"), (3, "method_correlations")):
            frames = [table[index].assign(method=method) for method, table in tables.items()]
            table = pd.concat(frames, ignore_index=True)
            write_table(table[["method", *table.columns[:-1]]], snakemake.output[name])
