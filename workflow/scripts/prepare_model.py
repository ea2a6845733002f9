from pathlib import Path

from steering_reliability.model.models import ModelSpec, prepare_model
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    spec = ModelSpec.from_config(snakemake.wildcards.model, snakemake.params.entry)
    record = prepare_model(
        spec,
        Path(snakemake.output[0]).parent,
        Path(snakemake.params.wheel_dir),
        Path(snakemake.params.hub_cache).expanduser(),
    )
    log.info("model ready: %s", record)
