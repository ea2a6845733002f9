"""What a job that runs a model asks a cluster scheduler for, following the model's size.

Defaults (each can be set per model under ``models.<name>.resources``):

* ``gpu``: 1 when the model's device is ``cuda``/``cuda:N``, else 0;
* ``mem_mb`` (host memory): on a GPU the weights stream to the device, so the host needs
  the weight file size plus 8000 MB; on the CPU the weights live in host memory, so twice
  their size (weights plus activations and the tokenizer) plus 4000 MB;
* ``runtime`` (minutes): 120 on the first attempt.

Memory and runtime grow with Snakemake's ``attempt`` (``retries`` in the profiles), so a
job killed for its limits is resubmitted with more. The weight size is read from the
prepared ``model.json`` when the job is scheduled (a dry run shows ``<TBD>``).
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_RUNTIME = 120
BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}


def _weight_megabytes(entry: dict, model_json: str | Path | None) -> float | None:
    if model_json is None or not Path(model_json).is_file():
        return None
    parameters = json.loads(Path(model_json).read_text()).get("parameters")
    if parameters is None:
        return None
    return parameters * BYTES_PER_PARAMETER[entry.get("dtype", "float32")] / 1e6


def model_job_resources(entry: dict, model_json: str | Path | None = None, attempt: int = 1) -> dict[str, int]:
    """{gpu, mem_mb, runtime} for a job of the model configured by ``entry``."""
    configured = entry.get("resources", {})
    gpu = configured.get("gpu", 1 if str(entry.get("device", "auto")).startswith("cuda") else 0)
    resources = {"gpu": int(gpu), "runtime": int(configured.get("runtime", DEFAULT_RUNTIME)) * attempt}
    if "mem_mb" in configured:
        resources["mem_mb"] = int(configured["mem_mb"]) * attempt
    else:
        weights = _weight_megabytes(entry, model_json)
        if weights is None:
            resources["mem_mb"] = 16000 * attempt
        else:
            base = weights + 8000 if gpu else 2 * weights + 4000
            resources["mem_mb"] = int(base) * attempt
    return resources
