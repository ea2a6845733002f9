"""Uncertainty of the study's numbers (docs/statistics.md).

* Per-dataset quantities (mean steerability, anti-steerable fraction, variance shares):
  95% percentile bootstrap intervals over the dataset's test items.
* Spearman correlations across datasets: a percentile bootstrap interval over datasets
  and a two-sided permutation p-value. Where several points come from one dataset
  (the pooled shifts, relative steerability), whole datasets are resampled and the
  permutation keeps each dataset's points together, so no p-value counts pseudo-replicates.
* No per-item test: an item's slope is a deterministic function of the model and the prompt, and the residuals
  of its fit measure curvature, not sampling noise. A claim about items is a fraction of a dataset's items with
  a bootstrap interval over the items (the sample of the dataset that was drawn).

Every resampling draws from ``numpy.random.default_rng(seed)``: the same seed gives the
same intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
# Fewer datasets than this make a rank correlation across datasets too coarse to read
# (with 4 datasets a permutation p-value cannot go below 1/12).
MIN_DATASETS_FOR_SPEARMAN = 5
# Fewer test items than this make per-dataset variance shares meaningless.
MIN_ITEMS_FOR_SHARES = 8


@dataclass(frozen=True)
class Estimate:
    """A value, its 95% interval and the number of independent units it rests on."""

    value: float
    low: float
    high: float
    n: int
    p_value: float = float("nan")

    def rho_columns(self) -> dict[str, float]:
        """The columns of a Spearman row in the correlation tables."""
        return {
            "spearman_rho": self.value,
            "ci_low": self.low,
            "ci_high": self.high,
            "p_value": self.p_value,
            "n_datasets": self.n,
        }

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        fields = {"": self.value, "_ci_low": self.low, "_ci_high": self.high, "_n": self.n}
        if not np.isnan(self.p_value):
            fields["_p"] = self.p_value
        return {f"{prefix}{suffix}": value for suffix, value in fields.items()}


def _interval(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap(values: np.ndarray, statistic, resamples: int, seed: int) -> Estimate:
    """``statistic`` (a function of a (resamples, n) array, row-wise) with a bootstrap interval over ``values``."""
    values = np.asarray(values, dtype=float)
    point = float(statistic(values[None])[0])
    if values.size < 2:
        return Estimate(point, float("nan"), float("nan"), int(values.size))
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, values.size, size=(resamples, values.size))
    return Estimate(point, *_interval(statistic(values[indices])), int(values.size))


def mean_of_rows(rows: np.ndarray) -> np.ndarray:
    return rows.mean(axis=1)


def anti_steerable_share(rows: np.ndarray) -> np.ndarray:
    """Fraction of items with slope <= 0 (the paper's anti-steerable items)."""
    return (rows <= 0).mean(axis=1)


def type1_shares(outcome: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Sequential (type I) sums of squares of each factor over the total, for many samples at once.

    ``outcome`` (samples, n) and ``factors`` (samples, n, k): the share of each factor entered
    in order after an intercept, (samples, k). A factor that is constant in a sample adds
    nothing (its share is 0), as statsmodels' ANOVA of the same fit gives.
    """
    samples, n, k = factors.shape
    design = np.concatenate([np.ones((samples, n, 1)), factors], axis=2)
    total = ((outcome - outcome.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    residuals = []
    for columns in range(1, k + 2):
        x = design[:, :, :columns]
        beta = np.linalg.pinv(np.swapaxes(x, 1, 2) @ x) @ (np.swapaxes(x, 1, 2) @ outcome[:, :, None])
        residuals.append(((outcome - (x @ beta)[:, :, 0]) ** 2).sum(axis=1))
    explained = np.stack([residuals[i] - residuals[i + 1] for i in range(k)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(explained / total[:, None], 0.0, 1.0)


def share_intervals(outcome: np.ndarray, factors: np.ndarray, resamples: int, seed: int) -> list[Estimate]:
    """Bootstrap intervals of the type I shares of ``factors`` (n, k) in the variance of ``outcome`` (n,)."""
    outcome, factors = np.asarray(outcome, dtype=float), np.asarray(factors, dtype=float)
    point = type1_shares(outcome[None], factors[None])[0]
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, outcome.size, size=(resamples, outcome.size))
    samples = type1_shares(outcome[indices], factors[indices])
    return [Estimate(float(point[j]), *_interval(samples[:, j]), int(outcome.size)) for j in range(factors.shape[1])]


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise Spearman rho of two (samples, n) arrays (average ranks for ties)."""
    rx, ry = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=1) / np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))


def spearman(x: np.ndarray, y: np.ndarray, resamples: int, seed: int, groups: np.ndarray | None = None) -> Estimate:
    """Spearman rho of paired points, a bootstrap interval and a permutation p-value.

    Without ``groups`` every point is one unit (a dataset). With ``groups`` (one label per
    point, e.g. the dataset), the units are the groups: the bootstrap resamples whole
    groups and the permutation shuffles ``y`` within each group, so the p-value tests for
    an association inside datasets without treating a dataset's points as independent.
    ``n`` is the number of units.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if groups is None:
        groups = np.arange(x.size)
    labels, members = np.unique(np.asarray(groups), return_inverse=True)
    units = labels.size
    rho = float(_spearman_rows(x[None], y[None])[0]) if x.size >= 3 else float("nan")
    if units < 3 or np.isnan(rho):
        return Estimate(rho, float("nan"), float("nan"), units)
    rng = np.random.default_rng(seed)
    positions = [np.flatnonzero(members == unit) for unit in range(units)]
    draws = rng.integers(0, units, size=(resamples, units))
    if labels.size == x.size:
        boot = _spearman_rows(x[members.argsort()][draws], y[members.argsort()][draws])
    else:
        boot = np.empty(resamples)
        for r in range(resamples):
            chosen = np.concatenate([positions[unit] for unit in draws[r]])
            boot[r] = _spearman_rows(x[chosen][None], y[chosen][None])[0]
    if labels.size == x.size:  # one point per unit: permute the pairing
        shuffled = np.stack([y[rng.permutation(y.size)] for _ in range(resamples)])
    else:  # several points per unit: permute within units
        shuffled = np.tile(y, (resamples, 1))
        for index in positions:
            shuffled[:, index] = np.take_along_axis(
                shuffled[:, index], np.argsort(rng.random((resamples, index.size)), axis=1), axis=1
            )
    null = _spearman_rows(np.tile(x, (resamples, 1)), shuffled)
    p_value = (1 + np.sum(np.abs(null) >= abs(rho) - 1e-12)) / (1 + resamples)
    return Estimate(rho, *_interval(boot), units, float(p_value))


def pooled_spearman(x: np.ndarray, y_columns: np.ndarray, resamples: int, seed: int) -> Estimate:
    """Spearman rho of x (datasets,) against several columns of y (datasets, shifts), pooled.

    Each dataset contributes one point per column, so the units are datasets: the bootstrap
    resamples datasets with all their points, and the permutation shuffles which dataset's
    row of y goes with which x (the same shuffle for every column).
    """
    x, y_columns = np.asarray(x, dtype=float), np.asarray(y_columns, dtype=float)
    datasets, shifts = y_columns.shape
    pooled_x = np.repeat(x, shifts)
    rho = float(_spearman_rows(pooled_x[None], y_columns.reshape(1, -1))[0])
    if datasets < 3:
        return Estimate(rho, float("nan"), float("nan"), datasets)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, datasets, size=(resamples, datasets))
    boot = _spearman_rows(np.repeat(x[draws], shifts, axis=1), y_columns[draws].reshape(resamples, -1))
    orders = np.argsort(rng.random((resamples, datasets)), axis=1)
    null = _spearman_rows(np.tile(pooled_x, (resamples, 1)), y_columns[orders].reshape(resamples, -1))
    p_value = (1 + np.sum(np.abs(null) >= abs(rho) - 1e-12)) / (1 + resamples)
    return Estimate(rho, *_interval(boot), datasets, float(p_value))


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the positive ``labels`` (Mann-Whitney U / (n1 n0))."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))
