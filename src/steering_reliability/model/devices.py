"""Where a model runs: the configured device, resolved and checked before any work.

``auto`` takes CUDA when torch sees a CUDA device, else Apple's MPS, else the CPU.
A job that asked its scheduler for a GPU must see one: a CPU-only torch build (or a
node without a visible GPU) stops the job at once instead of running on the CPU for
hours.

**One job per GPU.** A job on CUDA claims one visible GPU that no other job of this
machine holds (an exclusive lock file named after the GPU's UUID, in the system's
temporary folder, held until the job's process ends, even if it crashes). On a workstation
with N GPUs, ``snakemake --cores all --resources gpu=N`` runs at most N model jobs at once
and each takes its own GPU; without ``--resources`` the surplus jobs wait for a GPU to be
released. Under SLURM or Kubernetes each job sees only the GPUs it was given, so the claim
always succeeds at once. A model's ``gpu_memory_gb`` restricts the claim to GPUs that large
and stops the job before it loads anything if none is.

**bfloat16** needs compute capability 8.0 (A100, L4, H100, RTX 30xx and newer); on older
GPUs (V100, T4) bfloat16 weights are refused, or become ``bf16_fallback``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)
LOCKS = Path(tempfile.gettempdir()) / f"steering-reliability-gpus-{os.getuid()}"
_held = []  # the open lock files of the GPUs this process has claimed

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


class DeviceError(RuntimeError):
    pass


def _cuda_report() -> str:
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    return f"torch {torch.__version__} ({build}), CUDA_VISIBLE_DEVICES={visible}"


def check_device_name(name: str) -> None:
    """Raise ValueError unless ``name`` is auto, cpu, cuda, cuda:N or mps."""
    base, _, index = name.partition(":")
    if base not in DEVICE_NAMES or (index and (base != "cuda" or not index.isdigit())):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N, mps")


def resolve_device(name: str = "auto", requested_gpus: int = 0, what: str = "this job") -> torch.device:
    """The torch device for ``name``; fails if a GPU was asked for (device or scheduler) but none is visible."""
    check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif requested_gpus:
            name = "cuda"  # the scheduler gave this job a GPU: it must be usable
        elif torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if requested_gpus and not name.startswith("cuda"):
        raise DeviceError(
            f"{what} asked the scheduler for {requested_gpus} GPU(s) but its device is {name!r}: "
            "set the model's device to auto or cuda, or ask for no GPU"
        )
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            reason = f"asked the scheduler for {requested_gpus} GPU(s)" if requested_gpus else f"runs on {name!r}"
            raise DeviceError(f"{what} {reason} but torch sees no CUDA device: {_cuda_report()}")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceError(f"{what}: {name} does not exist, torch sees {torch.cuda.device_count()} CUDA device(s)")
    if name == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"{what} runs on 'mps' but torch sees no Apple MPS device")
    return torch.device(name)


def claim_gpu(
    device: torch.device, minimum_gb: float | None = None, what: str = "this job", wait_seconds: float = 5.0
) -> torch.device:
    """A visible CUDA device no other job of this machine holds (``device``'s own index if it names one).

    The claim lasts until the process ends. Waits (logging once) while every eligible GPU is held.
    """
    candidates = [device.index] if device.index is not None else list(range(torch.cuda.device_count()))
    sizes = {index: torch.cuda.get_device_properties(index).total_memory for index in candidates}
    eligible = [index for index in candidates if minimum_gb is None or sizes[index] >= minimum_gb * 1e9]
    if not eligible:
        largest = max(sizes.values(), default=0) / 1e9
        raise DeviceError(
            f"{what} needs a GPU with {minimum_gb:g} GB (the model's gpu_memory_gb); the largest visible one has "
            f"{largest:.1f} GB: ask the scheduler for a larger GPU (resources.gpu_model or constraint), or lower the "
            "model's token_budget and gpu_memory_gb together (steering-reliability size)"
        )
    LOCKS.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index in eligible:
            handle = open(LOCKS / f"{torch.cuda.get_device_properties(index).uuid}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.write(f"{os.getpid()} {what}\n")
            handle.flush()
            _held.append(handle)
            return torch.device("cuda", index)
        if not waited:
            log.info("%s: all %d eligible GPU(s) are held by other jobs; waiting for one", what, len(eligible))
            waited = True
        time.sleep(wait_seconds)


def weights_dtype(device: torch.device, dtype: str, fallback: str | None, what: str = "this job") -> str:
    """``dtype``, unless it is bfloat16 on a GPU without native bfloat16: then ``fallback``, or an error if none."""
    if dtype != "bfloat16" or device.type != "cuda":
        return dtype
    major, minor = torch.cuda.get_device_capability(device)
    if major >= 8:
        return dtype
    name = torch.cuda.get_device_name(device)
    if fallback is None:
        raise DeviceError(
            f"{what}: bfloat16 weights on {name} (compute capability {major}.{minor}), which has no native bfloat16 "
            "(it needs 8.0: A100, L4, H100 or newer): set the model's bf16_fallback to float16 or float32, or run "
            "on a newer GPU"
        )
    log.warning(
        "%s: %s has no native bfloat16 (compute capability %d.%d): weights in %s", what, name, major, minor, fallback
    )
    return fallback
