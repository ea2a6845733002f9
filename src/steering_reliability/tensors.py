"""Tensor artifacts: safetensors (never pickle) with string metadata, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from steering_reliability.artifacts import atomic_path


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, object]) -> None:
    """Write torch tensors to safetensors with string metadata (JSON for non-strings)."""
    text_metadata = {key: value if isinstance(value, str) else json.dumps(value) for key, value in metadata.items()}
    contiguous = {name: tensor.detach().contiguous() for name, tensor in tensors.items()}
    with atomic_path(path) as partial:
        save_file(contiguous, str(partial), metadata=text_metadata)


def load_tensors(path: str | Path) -> tuple[dict, dict[str, str]]:
    with safe_open(str(path), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        metadata = handle.metadata() or {}
    return tensors, metadata
