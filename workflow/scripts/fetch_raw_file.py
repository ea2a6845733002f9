from pathlib import Path

from steering_reliability.scripting import script_context
from steering_reliability.sources import fetch_raw_file

with script_context(snakemake) as log:
    mirror = snakemake.params.mirror
    if mirror and not Path(mirror).is_dir():
        log.info("mirror %s does not exist: downloading from the pinned upstream commit", mirror)
        mirror = None
    fetch_raw_file(
        snakemake.wildcards.raw_path, Path(snakemake.output[0]), snakemake.params.sha256, mirror and Path(mirror)
    )
