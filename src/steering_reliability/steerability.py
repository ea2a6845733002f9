"""Steerability: the slope of propensity (logit difference) on the steering multiplier."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
    """One row per item (and per ``keys`` group) with its steerability slope and unsteered propensity.

    ``propensities`` has one row per (item, multiplier) with columns ``multiplier``
    and ``logit_diff``.
    """
    rows = []
    for group, frame in propensities.groupby(keys, sort=False):
        group = group if isinstance(group, tuple) else (group,)
        at_zero = frame.loc[frame["multiplier"] == 0, "logit_diff"]
        rows.append(
            {
                **dict(zip(keys, group)),
                "slope": least_squares_slope(frame["multiplier"].to_numpy(), frame["logit_diff"].to_numpy()),
                "unsteered_logit_diff": float(at_zero.iloc[0]) if len(at_zero) else np.nan,
            }
        )
    return pd.DataFrame(rows)


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
