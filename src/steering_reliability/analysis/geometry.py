"""Geometry of the training activations, computed before any steering (beyond the paper).

Braun et al. 2025 ("Understanding (Un)Reliability of Steering Vectors in Language Models",
arXiv 2505.22637) find that a dataset is more steerable when its per-item activation
differences point the same way and when its positive and negative activations are well
separated along the steering direction. From the cached activations at the steering layer:

* ``difference_cosine``: mean cosine similarity over all pairs of items of their
  (positive - negative) activation differences;
* ``discriminability`` (d'): the difference of the mean projections of positive and
  negative activations on the unit steering vector, over their pooled standard deviation
  sqrt((var+ + var-) / 2);
* ``projection_auroc``: the probability that a positive activation projects further along
  the vector than a negative one (AUROC of the projections);
* ``vector_norm``: the norm of the CAA vector.


Everything works on numpy arrays (read from safetensors with numpy), so the analysis
environment needs no torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from steering_reliability.analysis import statistics
from steering_reliability.analysis.statistics import auroc


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    return matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)


def mean_pairwise_cosine(differences: np.ndarray) -> float:
    """Mean over item pairs i < j of cos(d_i, d_j) for differences of shape (items, d)."""
    if len(differences) < 2:
        return float("nan")
    unit = _unit_rows(differences)
    upper = np.triu_indices(len(unit), k=1)
    return float((unit @ unit.T)[upper].mean())


def separation(positive: np.ndarray, negative: np.ndarray, vector: np.ndarray) -> dict[str, float]:
    """d' and AUROC of the projections of positive and negative activations (items, d) on ``vector``."""
    unit = _unit_rows(vector)
    plus, minus = np.asarray(positive, dtype=float) @ unit, np.asarray(negative, dtype=float) @ unit
    pooled = np.sqrt((plus.var(ddof=1) + minus.var(ddof=1)) / 2) if len(plus) > 1 else float("nan")
    scores = np.concatenate([plus, minus])
    labels = np.concatenate([np.ones(len(plus), dtype=bool), np.zeros(len(minus), dtype=bool)])
    return {
        "discriminability": float((plus.mean() - minus.mean()) / pooled) if pooled else float("nan"),
        "projection_auroc": auroc(scores, labels),
    }


def activation_geometry(positive: np.ndarray, negative: np.ndarray, vector: np.ndarray) -> dict[str, float]:
    """The four diagnostics of one dataset (and prompt variant) at the steering layer."""
    positive, negative = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
    return {
        "difference_cosine": mean_pairwise_cosine(positive - negative),
        **separation(positive, negative, vector),
        "vector_norm": float(np.linalg.norm(np.asarray(vector, dtype=float))),
    }


def cosine_matrix(vectors: dict[str, np.ndarray]) -> np.ndarray:
    """Pairwise cosine similarities of named vectors, in the dict's order (the paper code's heatmap)."""
    unit = _unit_rows(np.stack([np.asarray(vector, dtype=float) for vector in vectors.values()]))
    return unit @ unit.T


DIAGNOSTICS = ("difference_cosine", "discriminability", "projection_auroc", "vector_norm")


def dataset_geometry(positive_by_variant: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict]:
    """One row per prompt variant: the diagnostics of its training activations and of its own CAA vector."""
    rows = []
    for variant, (positive, negative) in positive_by_variant.items():
        positive, negative = np.asarray(positive, dtype=float), np.asarray(negative, dtype=float)
        vector = (positive - negative).mean(axis=0)
        rows.append({"variant": variant, "n_items": len(positive), **activation_geometry(positive, negative, vector)})
    return rows


def discriminability_interval(
    positive: np.ndarray, negative: np.ndarray, vector: np.ndarray, resamples: int, seed: int
) -> tuple[float, float]:
    """95% percentile bootstrap interval of d' along ``vector``, resampling the training pairs whole."""
    unit = _unit_rows(vector)
    plus, minus = np.asarray(positive, dtype=float) @ unit, np.asarray(negative, dtype=float) @ unit
    if len(plus) < 3:
        return float("nan"), float("nan")
    rows = np.random.default_rng(seed).integers(0, len(plus), size=(resamples, len(plus)))
    gap = plus[rows].mean(axis=1) - minus[rows].mean(axis=1)
    pooled = np.sqrt((plus[rows].var(axis=1, ddof=1) + minus[rows].var(axis=1, ddof=1)) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = gap / pooled
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def direction_rows(
    positive: np.ndarray, negative: np.ndarray, vectors: dict[str, np.ndarray], resamples: int, seed: int
) -> list[dict]:
    """Per named direction (the first is the reference, CAA's): how far the training activations separate along it
    (d' with its interval over pairs, AUROC), and its cosine with the reference."""
    reference = _unit_rows(next(iter(vectors.values())))
    rows = []
    for name, vector in vectors.items():
        low, high = discriminability_interval(positive, negative, vector, resamples, seed)
        rows.append(
            {
                "vector": name,
                **separation(positive, negative, vector),
                "discriminability_ci_low": low,
                "discriminability_ci_high": high,
                "cosine_with_caa": float(_unit_rows(vector) @ reference),
            }
        )
    return rows


def cosine_rows(vectors: dict[str, np.ndarray]) -> list[dict]:
    """The vectors' cosine matrix as rows (vector_a, vector_b, cosine)."""
    names = list(vectors)
    matrix = cosine_matrix(vectors)
    return [
        {"vector_a": a, "vector_b": b, "cosine": float(matrix[i, j])}
        for i, a in enumerate(names)
        for j, b in enumerate(names)
    ]


def diagnostic_correlations(
    geometry: pd.DataFrame, steerability: pd.DataFrame, items: pd.DataFrame, resamples: int, seed: int
) -> pd.DataFrame:
    """Does the geometry predict steerability? Spearman rho (with intervals) of each diagnostic of the
    baseline prompts against the datasets' ID steerability, and per item of the item's own
    difference cosine against its slope (datasets resampled whole), with the AUROC of that cosine
    for telling steerable (slope > 0) from anti-steerable items."""
    baseline = geometry[geometry["variant"] == "baseline"].merge(steerability, on="dataset")
    rows = []
    for diagnostic in DIAGNOSTICS:
        estimate = statistics.spearman(baseline[diagnostic], baseline["mean_steerability"], resamples, seed)
        rows.append(_row(diagnostic, "dataset", "mean_steerability", estimate))
    estimate = statistics.spearman(
        items["difference_cosine"], items["slope"], resamples, seed, groups=items["dataset"].to_numpy()
    )
    row = _row("item difference_cosine", "item", "slope", estimate)
    row["auroc_steerable"] = statistics.auroc(items["difference_cosine"].to_numpy(), items["slope"].to_numpy() > 0)
    rows.append(row)
    return pd.DataFrame(rows)


def _row(diagnostic: str, unit: str, target: str, estimate) -> dict:
    return {
        "diagnostic": diagnostic,
        "unit": unit,
        "against": target,
        "spearman_rho": estimate.value,
        "ci_low": estimate.low,
        "ci_high": estimate.high,
        "p_value": estimate.p_value,
        "n_datasets": estimate.n,
    }
