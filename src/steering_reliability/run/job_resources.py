"""What a job that runs a model asks a scheduler for, following the model's entry and size.

Defaults (each can be set per model under ``models.<name>.resources``):

* ``gpu``: 1 when the model's device is ``cuda``/``cuda:N``, else none: a CPU model's jobs
  carry no ``gpu`` resource at all, so no scheduler gives them a GPU and the Kubernetes
  executor adds no GPU toleration;
* ``gpu_manufacturer`` (Kubernetes: which device plugin resource): ``nvidia`` for a job with a GPU;
* ``mem_mb`` (host memory): on a GPU the weights stream to the device, so the host needs
  the weight file size plus 8000 MB; on the CPU the weights live in host memory, so twice
  their size (weights plus activations and the tokenizer) plus 4000 MB;
* ``runtime`` (minutes): per dataset the job covers (``compute.datasets_per_job``), 120 on the
  first attempt: a job of n datasets asks for n times the model's runtime;
* ``disk_mb`` (a job's local disk: the inputs and outputs a Kubernetes pod stages): 10000;
* the executor plugins' own names, passed through only when set: ``gpu_model``,
  ``constraint``, ``gres``, ``qos``, ``slurm_partition``, ``slurm_account``, ``slurm_extra``
  (SLURM) and ``machine_type`` (Kubernetes).

Memory and runtime grow with Snakemake's ``attempt`` (``retries`` in the profiles), so a
job killed for its limits is resubmitted with more. ``token_budget`` (the engine's tokens
per pass: ``models.<name>.token_budget``, else ``compute.token_budget``) halves with each
attempt: a job that failed because one item with its steering copies did not fit the GPU
is retried with the copies spread over more passes. The weight size is read from the
prepared ``model.json`` when the job is scheduled (a dry run shows ``<TBD>``).
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_RUNTIME = 120
DEFAULT_DISK_MB = 10000
MIN_TOKEN_BUDGET = 64
BYTES_PER_PARAMETER = {"float32": 4, "bfloat16": 2, "float16": 2}
PASS_THROUGH = (
    "gpu_model",
    "constraint",
    "gres",
    "qos",
    "slurm_partition",
    "slurm_account",
    "slurm_extra",
    "machine_type",
)
# every resource a model job may carry (a value of None: the job does not carry it)
RESOURCE_NAMES = ("gpu", "gpu_manufacturer", "mem_mb", "runtime", "disk_mb", *PASS_THROUGH, "token_budget")


def _weight_megabytes(entry: dict, model_json: str | Path | None) -> float | None:
    if model_json is None or not Path(model_json).is_file():
        return None
    parameters = json.loads(Path(model_json).read_text()).get("parameters")
    if parameters is None:
        return None
    return parameters * BYTES_PER_PARAMETER[entry.get("dtype", "float32")] / 1e6


def wants_gpu(entry: dict) -> bool:
    return bool(requested_gpus(entry))


def requested_gpus(entry: dict) -> int:
    configured = entry.get("resources", {})
    return int(configured.get("gpu", 1 if str(entry.get("device", "auto")).startswith("cuda") else 0))


def token_budget(entry: dict, compute: dict | None, attempt: int = 1) -> int:
    """The model's tokens per pass on this attempt: halved with each retry (at least 64)."""
    budget = entry.get("token_budget") or (compute or {}).get("token_budget", 16384)
    return max(MIN_TOKEN_BUDGET, int(budget) >> (attempt - 1))


def model_job_resources(
    entry: dict,
    model_json: str | Path | None = None,
    attempt: int = 1,
    compute: dict | None = None,
    datasets: int = 1,
) -> dict[str, int | str | None]:
    """Every resource of a job of the model configured by ``entry`` over ``datasets`` datasets (None: not requested)."""
    configured = entry.get("resources", {})
    gpu = requested_gpus(entry)
    resources: dict[str, int | str | None] = {
        "gpu": gpu or None,
        "gpu_manufacturer": configured.get("gpu_manufacturer", "nvidia") if gpu else None,
        "runtime": int(configured.get("runtime", DEFAULT_RUNTIME)) * datasets * attempt,
        "disk_mb": int(configured.get("disk_mb", DEFAULT_DISK_MB)),
        "token_budget": token_budget(entry, compute, attempt),
    }
    resources.update({name: configured.get(name) for name in PASS_THROUGH})
    if "mem_mb" in configured:
        resources["mem_mb"] = int(configured["mem_mb"]) * attempt
    else:
        weights = _weight_megabytes(entry, model_json)
        if weights is None:
            resources["mem_mb"] = 16000 * attempt
        else:
            base = weights + 8000 if gpu else 2 * weights + 4000
            resources["mem_mb"] = int(base) * attempt
    return {name: resources[name] for name in RESOURCE_NAMES}
