from pathlib import Path

from steering_reliability.scripting import script_context
from steering_reliability.sources import fetch_raw_file

with script_context(snakemake) as log:
    mirror = snakemake.params.mirror
    fetch_raw_file(
        snakemake.wildcards.raw_path,
        Path(snakemake.output[0]),
        snakemake.params.sha256,
        Path(mirror) if mirror else None,
        snakemake.params.download_url,
    )
