"""Steering-vector methods from the same cached training activations, and the null directions to compare them with.

Every method reads the positive and negative answer-letter activations of a dataset's training items at the
steering layer, ``positive`` and ``negative`` of shape (items, d), and returns a direction (docs/protocol.md,
"4. Activations and vectors", where each formula has its source):

* ``caa``: the mean of the paired differences d_i = positive_i - negative_i (Rimsky et al. 2024; the study's vector);
* ``pca``: the first principal component of the paired differences, uncentred (the top right singular vector of the
  matrix of d_i, as steering-vectors' ``pca_aggregator`` computes it from [d; -d]), signed so that the d_i project
  on it positively on average;
* ``probe``: the weight vector of an L2-regularised logistic regression (scikit-learn, lbfgs, C = 1, no intercept)
  of positive (+1) against negative (-1) activations, each pair centred on its own mean (so the inputs are +-d_i/2),
  as steering-vectors' ``logistic_aggregator`` fits it;
* ``whitened``: the mean difference of the two classes multiplied by the inverse of their pooled within-class
  covariance, Ledoit-Wolf shrunk (the two-class linear discriminant, Fisher 1936; shrinkage: Ledoit & Wolf 2004);
* ``random``: isotropic Gaussian directions (the null of "any direction of the same norm"), one per draw;
* ``shuffled``: CAA on the pairs with each pair's positive/negative labels swapped with probability 1/2 (the null of
  "a direction learned from the same activations without the behaviour's labels"), one per draw.

Every direction but CAA's is scaled to the CAA vector's norm before steering: the methods then differ by direction
alone (unit-norm methods would otherwise differ mostly by scale). The norm each had as trained is returned too.
The null draws come from seeds derived from (statistics seed, dataset name, method, draw) through numpy's
SeedSequence, so each dataset's draws are the same on every run and machine, and differ between datasets.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from steering_reliability.model.vector_names import METHODS, NULLS, PREFIX, ood_name
from steering_reliability.model.vectors import caa_vector, ood_vectors

# A probe needs both classes and more than a handful of pairs to be fitted at all.
MIN_PAIRS = 2


class VectorMethodError(ValueError):
    """A direction that cannot be computed; the message names the method and the dataset."""


@dataclass(frozen=True)
class Direction:
    name: str  # "pca", or "random_3" for a null draw
    method: str  # the method (or null) it comes from
    vector: torch.Tensor  # scaled to the CAA vector's norm (CAA's own: as trained)
    trained_norm: float


def _differences(positive: torch.Tensor, negative: torch.Tensor) -> np.ndarray:
    if positive.shape != negative.shape or positive.ndim != 2:
        raise ValueError(f"positive {tuple(positive.shape)} and negative {tuple(negative.shape)}: need (items, d) each")
    return (positive.double() - negative.double()).numpy()


def pca(positive: torch.Tensor, negative: torch.Tensor) -> np.ndarray:
    differences = _differences(positive, negative)
    _, _, right = np.linalg.svd(differences, full_matrices=False)
    component = right[0]
    return component if (differences @ component).mean() >= 0 else -component


def probe(positive: torch.Tensor, negative: torch.Tensor) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    half = _differences(positive, negative) / 2
    features = np.concatenate([half, -half]).astype(np.float32)
    labels = np.concatenate([np.ones(len(half)), -np.ones(len(half))]).astype(np.float32)
    fit = LogisticRegression(fit_intercept=False, solver="lbfgs", C=1.0, max_iter=100).fit(features, labels)
    return fit.coef_[0].astype(np.float64)


def whitened(positive: torch.Tensor, negative: torch.Tensor) -> np.ndarray:
    from sklearn.covariance import LedoitWolf

    pos, neg = positive.double().numpy(), negative.double().numpy()
    centred = np.concatenate([pos - pos.mean(axis=0), neg - neg.mean(axis=0)])
    covariance = LedoitWolf(assume_centered=True).fit(centred).covariance_
    return np.linalg.solve(covariance, pos.mean(axis=0) - neg.mean(axis=0))


def null_generator(seed: int, dataset: str, method: str, draw: int) -> np.random.Generator:
    """The generator of one null draw: the same on every machine, different for every dataset, method and draw."""
    key = [seed, zlib.crc32(dataset.encode()), zlib.crc32(method.encode()), draw]
    return np.random.default_rng(np.random.SeedSequence(key))


def random_direction(dimension: int, generator: np.random.Generator) -> np.ndarray:
    return generator.standard_normal(dimension)


def shuffled(positive: torch.Tensor, negative: torch.Tensor, generator: np.random.Generator) -> np.ndarray:
    differences = _differences(positive, negative)
    signs = np.where(generator.random(len(differences)) < 0.5, -1.0, 1.0)
    return (signs[:, None] * differences).mean(axis=0)


FUNCTIONS = {"pca": pca, "probe": probe, "whitened": whitened}


def directions(
    positive: torch.Tensor,
    negative: torch.Tensor,
    methods: list[str],
    null_draws: int,
    seed: int,
    dataset: str,
) -> list[Direction]:
    """Every direction of ``methods`` (and ``null_draws`` draws of each null among them), CAA first, each scaled to
    the CAA vector's norm. Raises ``VectorMethodError`` naming the method and dataset when one cannot be computed."""
    unknown = [name for name in methods if name not in METHODS + NULLS]
    if unknown:
        raise VectorMethodError(f"vectors.methods: unknown method {unknown[0]!r} (known: {', '.join(METHODS + NULLS)})")
    if len(positive) < MIN_PAIRS:
        raise VectorMethodError(f"{dataset}: {len(positive)} training pair(s); the vector methods need {MIN_PAIRS}")
    reference = caa_vector(positive, negative)  # the study's vector, exactly
    norm = float(reference.double().norm())
    if norm == 0:
        raise VectorMethodError(f"{dataset}: the CAA vector is zero, so no direction can be scaled to its norm")
    result = [Direction("caa", "caa", reference, norm)]
    raw: list[tuple[str, str, np.ndarray]] = []
    for method in methods:
        if method in FUNCTIONS:
            raw.append((method, method, FUNCTIONS[method](positive, negative)))
        elif method in NULLS:
            for draw in range(null_draws):
                generator = null_generator(seed, dataset, method, draw)
                vector = (
                    random_direction(positive.shape[1], generator)
                    if method == "random"
                    else shuffled(positive, negative, generator)
                )
                raw.append((f"{method}_{draw}", method, vector))
    for name, method, vector in raw:
        trained = float(np.linalg.norm(vector))
        if not np.isfinite(trained) or trained == 0:
            raise VectorMethodError(f"{dataset}: method {method} gave a degenerate direction (norm {trained})")
        result.append(Direction(name, method, torch.from_numpy(vector * (norm / trained)).float(), trained))
    return result


def ood_method_vectors(
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]], methods: list[str], seed: int, dataset: str
) -> dict[str, torch.Tensor]:
    """The six OOD vectors of every method of ``methods`` but CAA, built as CAA's are (``vectors.ood_vectors``) from
    the method's direction on each prompt variant's training pairs (scaled to that variant's CAA norm), named
    ``<method>:<vector>``."""
    result = {}
    for method in methods:
        if method == "caa":
            continue
        trained = {
            variant: next(d.vector for d in directions(*pair, [method], 0, seed, dataset) if d.method == method)
            for variant, pair in pairs.items()
        }
        result.update({ood_name(method, name): vector for name, vector in ood_vectors(trained).items()})
    return result


def method_vectors(
    positive: torch.Tensor, negative: torch.Tensor, methods: list[str], null_draws: int, seed: int, dataset: str
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The directions of every method but CAA (which is the study's baseline vector), named for a vectors file
    ("method.pca", "method.random_0"), and the norm each had as trained."""
    found = [d for d in directions(positive, negative, methods, null_draws, seed, dataset) if d.method != "caa"]
    return {PREFIX + d.name: d.vector for d in found}, {PREFIX + d.name: round(d.trained_norm, 6) for d in found}
