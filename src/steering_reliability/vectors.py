"""CAA steering vectors: the mean over training items of (positive - negative) activation."""

from __future__ import annotations

import torch


def caa_vector(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Mean difference over items (dim 0); no normalisation (STUDY.md, "Activations and vectors").

    Works on one layer, shape (items, d), or all layers at once, shape (items, layers, d).
    """
    if positive.shape != negative.shape:
        raise ValueError(
            f"positive {tuple(positive.shape)} and negative {tuple(negative.shape)} activations differ in shape"
        )
    if positive.shape[0] == 0:
        raise ValueError("no training items to average")
    return (positive.double() - negative.double()).mean(dim=0).float()
