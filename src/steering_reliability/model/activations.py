"""Cache the answer-letter residual stream of training items (at the layers later rules read).

A cache file holds, per prompt variant, ``{variant}.positive`` and ``{variant}.negative`` of
shape (items, cached layers, d); its metadata ``layers`` lists the cached layers
(``steering_reliability.run.tensors.cached_layer`` reads one layer back).
"""

from __future__ import annotations

import torch

from steering_reliability.data.prompts import EncodedItem
from steering_reliability.model.engine import SteeringEngine

STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def letter_activations(
    engine: SteeringEngine, items: list[EncodedItem], layers: list[int] | None = None
) -> dict[str, torch.Tensor]:
    """``positive`` and ``negative`` activations, each of shape (items, layers, d); every layer by default."""
    if not items:
        raise ValueError("no items to record activations for")
    engine.share_prefix(items)
    both = engine.letter_activations(items, layers)
    return {"positive": both[:, 0], "negative": both[:, 1]}
