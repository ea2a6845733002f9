"""CAA steering vectors: the mean over training items of (positive - negative) activation,
and the OOD study's six vectors (variant vectors rescaled to the baseline's norm, and their mean)."""

from __future__ import annotations

import torch

from steering_reliability.variants import BASELINE, MEAN_VECTOR, VARIANTS


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


def rescale_to_norm(vector: torch.Tensor, norm: float) -> torch.Tensor:
    """``vector`` scaled to Euclidean norm ``norm`` (its direction unchanged)."""
    current = vector.double().norm()
    if current == 0:
        raise ValueError("cannot rescale a zero vector")
    return (vector.double() * (norm / current)).to(vector.dtype)


def ood_vectors(variant_vectors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The six vectors: each variant's vector rescaled to the baseline's norm, and their mean.

    The mean is taken over the five rescaled vectors and is not rescaled again.
    """
    missing = [name for name in VARIANTS if name not in variant_vectors]
    if missing:
        raise KeyError(f"missing variant vectors: {missing}")
    norm = float(variant_vectors[BASELINE].double().norm())
    vectors = {name: rescale_to_norm(variant_vectors[name], norm) for name in VARIANTS}
    vectors[BASELINE] = variant_vectors[BASELINE]
    vectors[MEAN_VECTOR] = torch.stack([vectors[name].double() for name in VARIANTS]).mean(0).float()
    return vectors
