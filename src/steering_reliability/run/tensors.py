"""Tensor artifacts: safetensors (never pickle) with string metadata, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError, safe_open

from steering_reliability.run.artifacts import ArtifactError, atomic_path


def save_tensors(path: str | Path, tensors: dict, metadata: dict[str, object]) -> None:
    """Write torch tensors to safetensors with string metadata (JSON for non-strings), atomically.

    safetensors writes the metadata in a random order (a hash map), so the same tensors
    would give different bytes on every run; the header is rewritten here with sorted keys
    (same length, same offsets), which makes the file a function of its content.
    """
    from safetensors.torch import save

    text_metadata = {
        key: value if isinstance(value, str) else json.dumps(value, sort_keys=True) for key, value in metadata.items()
    }
    raw = save({name: tensor.detach().contiguous() for name, tensor in tensors.items()}, metadata=text_metadata)
    size = int.from_bytes(raw[:8], "little")
    header = json.dumps(json.loads(raw[8 : 8 + size]), sort_keys=True, separators=(",", ":")).encode()
    if len(header) > size:
        raise ValueError(f"{path}: the canonical safetensors header is longer than the library's")
    with atomic_path(path) as partial:
        Path(partial).write_bytes(raw[:8] + header.ljust(size) + raw[8 + size :])


def load_tensors(path: str | Path, framework: str = "pt") -> tuple[dict, dict[str, str]]:
    """Tensors (torch, or numpy arrays with ``framework="numpy"``: no torch needed) and the metadata.

    An unreadable file raises ``ArtifactError`` naming it.
    """
    try:
        with safe_open(str(path), framework=framework) as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
            metadata = handle.metadata() or {}
    except (OSError, SafetensorError) as error:
        raise ArtifactError(
            f"{path}: not a readable safetensors file ({error}); delete it and run snakemake again"
        ) from None
    return tensors, metadata


def activation_name(variant: str, polarity: str) -> str:
    """Tensor name in an activation cache: ``{variant}.positive`` / ``{variant}.negative``."""
    return f"{variant}.{polarity}"


def cached_layer(tensors: dict, metadata: dict[str, str], variant: str, layer: int, source: str = "the cache"):
    """(positive, negative) activations of ``variant`` at ``layer``, each (items, d), from an activation cache.

    The cache holds (items, cached layers, d) per variant and polarity; its metadata lists the layers.
    """
    layers = json.loads(metadata["layers"])
    if layer not in layers:
        raise ValueError(f"{source} holds layers {layers}, not the steering layer {layer}: re-run cache_activations")
    index = layers.index(layer)
    return tuple(tensors[activation_name(variant, polarity)][:, index] for polarity in ("positive", "negative"))
