"""Steerability: the slope of propensity (logit difference) on the steering multiplier."""

from __future__ import annotations

import numpy as np
import pandas as pd

from steering_reliability.analysis import statistics


def least_squares_slope(multipliers: np.ndarray, propensities: np.ndarray) -> float:
    """Slope of the least-squares line of ``propensities`` on ``multipliers``."""
    x = np.asarray(multipliers, dtype=float)
    y = np.asarray(propensities, dtype=float)
    if x.shape != y.shape or x.size < 2:
        raise ValueError("a slope needs at least two (multiplier, propensity) pairs of equal length")
    centred = x - x.mean()
    spread = (centred**2).sum()
    if spread == 0:
        raise ValueError("all multipliers are equal: the slope is undefined")
    return float((centred * (y - y.mean())).sum() / spread)


def item_slopes(propensities: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per item (and per ``keys`` group): steerability slope, its standard error, unsteered propensity.

    ``propensities`` has one row per (item, multiplier) with columns ``multiplier`` and
    ``logit_diff``. The slope is the least-squares slope of logit difference on multiplier;
    ``slope_se`` its usual OLS standard error, sqrt(RSS / (n - 2) / Sxx) (NaN with two points).
    """
    codes = propensities.groupby(keys, sort=False).ngroup().to_numpy()
    x = propensities["multiplier"].to_numpy(dtype=float)
    y = propensities["logit_diff"].to_numpy(dtype=float)
    count = np.bincount(codes).astype(float)
    x_centred = x - (np.bincount(codes, x) / count)[codes]
    y_centred = y - (np.bincount(codes, y) / count)[codes]
    sxx = np.bincount(codes, x_centred**2)
    if (count < 2).any() or (sxx == 0).any():
        raise ValueError("a slope needs at least two different multipliers per item")
    sxy = np.bincount(codes, x_centred * y_centred)
    syy = np.bincount(codes, y_centred**2)
    slope = sxy / sxx
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = np.maximum(syy - slope * sxy, 0.0)
        slope_se = np.where(count > 2, np.sqrt(residual / (count - 2) / sxx), np.nan)
    unsteered = np.full(len(count), np.nan)
    at_zero = x == 0
    unsteered[codes[at_zero]] = y[at_zero]
    table = propensities[keys].drop_duplicates().reset_index(drop=True)
    return table.assign(slope=slope, slope_se=slope_se, unsteered_logit_diff=unsteered)


def summarise(slopes: pd.Series) -> dict[str, float]:
    """Dataset steerability: mean, median and variance of per-item slopes, anti-steerable fraction."""
    values = slopes.to_numpy(dtype=float)
    return {
        "n_items": int(values.size),
        "mean_steerability": float(values.mean()),
        "median_steerability": float(np.median(values)),
        "variance_steerability": float(values.var(ddof=1)) if values.size > 1 else np.nan,
        "anti_steerable_fraction": float((values <= 0).mean()),
    }


def dataset_steerability(items: pd.DataFrame, resamples: int, seed: int) -> dict[str, float]:
    """``summarise`` of one dataset's items, with bootstrap intervals over its items.

    The items of a counterbalanced study are its pairs (``position_effect.pair_slopes``): they add the fraction of
    pairs that are anti-steerable in both answer orders (both orders' slopes b + p and b - p at or below 0, that is
    b + |p| <= 0), with its interval: items that move against the behaviour whichever letter the matching answer has.
    """
    slopes = items["slope"].to_numpy(dtype=float)
    mean = statistics.bootstrap(slopes, statistics.mean_of_rows, resamples, seed)
    anti = statistics.bootstrap(slopes, statistics.anti_steerable_share, resamples, seed)
    summary = {
        **summarise(items["slope"]),
        "mean_steerability_ci_low": mean.low,
        "mean_steerability_ci_high": mean.high,
        "anti_steerable_fraction_ci_low": anti.low,
        "anti_steerable_fraction_ci_high": anti.high,
    }
    if "position_effect" in items:
        worst = slopes + np.abs(items["position_effect"].to_numpy(dtype=float))  # the larger of the two orders' slopes
        both = statistics.bootstrap(worst, statistics.anti_steerable_share, resamples, seed)
        summary.update(
            anti_steerable_both_orders_fraction=both.value,
            anti_steerable_both_orders_fraction_ci_low=both.low,
            anti_steerable_both_orders_fraction_ci_high=both.high,
        )
    return summary


def multiplier_range_steerability(propensities: pd.DataFrame) -> pd.DataFrame:
    """Dataset steerability when only multipliers with |lambda| <= r are used, for every r.

    ``propensities`` has columns dataset, item_id, multiplier, logit_diff. One row per
    (dataset, r) with the mean per-item slope and the anti-steerable fraction.
    """
    ranges = sorted({abs(m) for m in propensities["multiplier"] if m != 0})
    rows = []
    for limit in ranges:
        subset = propensities[propensities["multiplier"].abs() <= limit]
        if subset["multiplier"].nunique() < 2:
            continue
        slopes = item_slopes(subset, ["dataset", "item_id"])
        for dataset, frame in slopes.groupby("dataset", sort=False):
            summary = summarise(frame["slope"])
            rows.append(
                {
                    "dataset": dataset,
                    "max_multiplier": limit,
                    "mean_steerability": summary["mean_steerability"],
                    "anti_steerable_fraction": summary["anti_steerable_fraction"],
                }
            )
    return pd.DataFrame(rows)


def in_distribution(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the in-distribution setting (baseline vector on baseline prompts), without those two columns."""
    rows = table[(table["vector"] == "baseline") & (table["variant"] == "baseline")]
    return rows.drop(columns=["vector", "variant"]).reset_index(drop=True)
