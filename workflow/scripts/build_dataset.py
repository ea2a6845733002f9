from steering_reliability.items import load_items, split_items
from steering_reliability.prepared import write_prepared
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    items = load_items(snakemake.wildcards.dataset, snakemake.input.raw)
    table = split_items(items, snakemake.params.seed, snakemake.params.split, snakemake.params.max_items)
    log.info("%d items, %d selected", len(table), int(table["selected"].sum()))
    write_prepared(table, snakemake.wildcards.dataset, snakemake.output[0])
