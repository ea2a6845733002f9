"""What every workflow script needs: its log file and provenance records."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from steering_reliability import __version__
from steering_reliability.run.artifacts import config_hash
from steering_reliability.run.provenance import verify_inputs, write_records


@contextlib.contextmanager
def script_context(snakemake) -> Iterator[logging.Logger]:
    """Run a workflow script: its output to the rule's log, inputs checked first, provenance last.

    Every input that has a provenance record is checked against it before any work (a
    truncated or edited file is refused, named, with the way to re-make it). When the job
    fails, the traceback goes to the job's log and the console gets one line: the rule, the
    error's message and where the log is.
    """
    log_path = snakemake.log[0] if snakemake.log else None
    stream = open(log_path, "w") if log_path else sys.stderr
    logging.basicConfig(stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    logger = logging.getLogger(snakemake.rule)
    what = f"rule {snakemake.rule}"
    if getattr(snakemake, "job", None):  # one dataset of a job that covers several (dataset_groups)
        what += f", dataset {snakemake.wildcards.dataset} (job {snakemake.job})"
    try:
        with contextlib.redirect_stderr(stream), contextlib.redirect_stdout(stream):
            try:
                input_hashes = verify_inputs(snakemake)
                yield logger
            except Exception as error:
                logger.exception("%s failed", what)
                where = f" (traceback in {log_path})" if log_path else ""
                print(f"ERROR in {what}: {error}{where}", file=sys.__stderr__, flush=True)
                raise SystemExit(1) from None
            write_records(snakemake, input_hashes)
    finally:
        if log_path:
            stream.close()


def tensor_metadata(snakemake, **extra: object) -> dict[str, object]:
    """Metadata stored inside every safetensors artifact (the full record is its .prov.json)."""
    return {
        "rule": snakemake.rule,
        "wildcards": dict(snakemake.wildcards.items()),
        "config_hash": config_hash(snakemake.config, dict(snakemake.wildcards.items()).get("model")),
        "package_version": __version__,
        **extra,
    }
