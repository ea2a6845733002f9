from pathlib import Path

from steering_reliability.data.sources import fetch_raw_file
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    mirror = snakemake.params.mirror
    fetch_raw_file(
        snakemake.wildcards.raw_path,
        Path(snakemake.output[0]),
        snakemake.params.sha256,
        Path(mirror) if mirror else None,
        snakemake.params.download_url,
    )
