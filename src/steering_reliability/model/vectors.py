"""CAA steering vectors: the mean over training items of (positive - negative) activation,
and the OOD study's six vectors (variant vectors rescaled to the baseline's norm, and their mean)."""

from __future__ import annotations

import torch

from steering_reliability.data.variants import BASELINE, MEAN_VECTOR, VARIANTS


def caa_vector(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Mean difference over items (dim 0); no normalisation (docs/protocol.md, "Activations and vectors").

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
    """The six vectors as the paper's code builds them (repepo persona_generalization.py).

    ``mean`` is the mean of the five variant vectors as trained (the baseline included);
    then every vector but the baseline, ``mean`` too, is rescaled to the baseline vector's norm.
    """
    missing = [name for name in VARIANTS if name not in variant_vectors]
    if missing:
        raise KeyError(f"missing variant vectors: {missing}")
    vectors = {name: variant_vectors[name] for name in VARIANTS}
    vectors[MEAN_VECTOR] = torch.stack([vectors[name].double() for name in VARIANTS]).mean(0).float()
    norm = float(vectors[BASELINE].double().norm())
    return {name: vector if name == BASELINE else rescale_to_norm(vector, norm) for name, vector in vectors.items()}
