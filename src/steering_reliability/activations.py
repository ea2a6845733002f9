"""Cache the answer-letter residual stream of every training item at every layer."""

from __future__ import annotations

import torch
from tqdm import tqdm

from steering_reliability.engine import SteeringEngine
from steering_reliability.prompts import EncodedItem


def letter_activations(
    engine: SteeringEngine, items: list[EncodedItem], description: str = "activations"
) -> dict[str, torch.Tensor]:
    """``positive`` and ``negative`` activations, each of shape (items, layers, d)."""
    if not items:
        raise ValueError("no items to record activations for")
    engine.share_prefix(items)
    positive, negative = [], []
    for item in tqdm(items, desc=description, unit="item", mininterval=5):
        both = engine.letter_activations(item)
        positive.append(both[0])
        negative.append(both[1])
    return {"positive": torch.stack(positive), "negative": torch.stack(negative)}
