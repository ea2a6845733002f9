from steering_reliability.data.hub_datasets import download_hub_dataset
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    record = download_hub_dataset(
        snakemake.wildcards.dataset,
        snakemake.params.hub,
        snakemake.output.rows,
        snakemake.output.record,
        cache_dir=snakemake.params.cache,
    )
    log.info("%s at %s (split %s): %d rows", record["id"], record["commit"], record["split"], record["rows"])
