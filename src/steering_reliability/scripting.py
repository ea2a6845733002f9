"""What every workflow script needs: its log file and provenance records."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from steering_reliability import __version__
from steering_reliability.artifacts import config_hash
from steering_reliability.provenance import write_records


@contextlib.contextmanager
def script_context(snakemake) -> Iterator[logging.Logger]:
    """Send the script's output and errors to its rule log."""
    log_path = snakemake.log[0] if snakemake.log else None
    stream = open(log_path, "w") if log_path else sys.stderr
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    logger = logging.getLogger(snakemake.rule)
    try:
        with contextlib.redirect_stderr(stream), contextlib.redirect_stdout(stream):
            try:
                yield logger
            except Exception:
                logger.exception("rule %s failed", snakemake.rule)
                raise
            write_records(snakemake)
    finally:
        if log_path:
            stream.close()


def tensor_metadata(snakemake, **extra: object) -> dict[str, object]:
    """Metadata stored inside every safetensors artifact (the full record is its .prov.json)."""
    return {
        "rule": snakemake.rule,
        "wildcards": dict(snakemake.wildcards.items()),
        "config_hash": config_hash(snakemake.config),
        "package_version": __version__,
        **extra,
    }
