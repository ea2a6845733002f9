from steering_reliability.data.design import study_table
from steering_reliability.data.prepared import write_prepared
from steering_reliability.data.user_datasets import dataset_items
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    name = snakemake.wildcards.dataset
    hub_record = (list(snakemake.input.hub_record) or [None])[0]  # a hub dataset's record of what was downloaded
    items = dataset_items(name, snakemake.input.raw, snakemake.config, hub_record)
    table = study_table(items, snakemake.params.design)
    log.info("%d items, %d selected", len(table), int(table["selected"].sum()))
    write_prepared(table, name, snakemake.output[0])
