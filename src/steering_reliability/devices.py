"""Where a model runs: the configured device, resolved and checked before any work.

``auto`` takes CUDA when torch sees a CUDA device, else Apple's MPS, else the CPU.
A job that asked its scheduler for a GPU must see one: a CPU-only torch build (or a
node without a visible GPU) stops the job at once instead of running on the CPU for
hours.
"""

from __future__ import annotations

import os

import torch

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
