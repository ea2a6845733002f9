"""The behaviour slope and the position effect of counterbalanced pairs (``data.counterbalance``, ``answer_order``).

In a counterbalanced study every item is evaluated in both answer orders: the behaviour-matching answer at (A) and
at (B).

* ``pair_slopes(items)``: per pair, the behaviour slope (the mean of the two orders' slopes: the position's
  effect cancels) and the position effect (half the slope with the matching answer at (A) minus half the slope
  with it at (B)), with their standard errors from the two slopes' (independent fits).
* ``position_summary(pairs)``: per dataset, the mean position effect with its bootstrap interval, and the share of
  the two orders' slope variation that the position explains, sum p_i^2 / (sum p_i^2 + sum (b_i - mean b)^2) with
  b_i the behaviour slope and p_i the position effect of pair i (the two orders' slopes b_i + p_i and b_i - p_i
  have, around their grand mean, the sum of squares 2 sum (b_i - mean b)^2 + 2 sum p_i^2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from steering_reliability.analysis import statistics
from steering_reliability.data.answer_order import ORDERS

# per-item values measured on each order's own prompt, averaged over a pair
MEASURED = ("unsteered_logit_diff", "difference_cosine")


def is_counterbalanced(items: pd.DataFrame) -> bool:
    return "order" in items and bool((items["order"] == ORDERS[1]).any())


def by_pair(items: pd.DataFrame, keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """``pair_slopes`` of a counterbalanced study's items; the items unchanged otherwise."""
    return pair_slopes(items, keys) if is_counterbalanced(items) else items


def pair_slopes(items: pd.DataFrame, keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per pair (and per ``keys``, e.g. vector and variant): ``slope`` the behaviour slope, ``slope_se``
    its standard error, ``position_effect`` and ``position_effect_se``. Both orders of every pair must be there."""
    frame = items.assign(at_a=items["positive_is_a"].astype(bool))
    group = [*keys, "pair_id"]
    counts = frame.groupby(group, sort=False)["at_a"].agg(["size", "sum"])
    broken = counts[(counts["size"] != 2) | (counts["sum"] != 1)]
    if len(broken):
        raise ValueError(f"pair {broken.index[0]} does not hold one item in each answer order")
    at_a = frame[frame["at_a"]].set_index(group)
    at_b = frame[~frame["at_a"]].set_index(group).loc[at_a.index]
    # the position of the matching answer is both orders' now: the pair has no A/B factor
    dropped = ["slope", "slope_se", "at_a", "item_id", "order", "positive_is_a"]
    result = at_a.drop(columns=dropped, errors="ignore").copy()
    for column in MEASURED:  # read from each order's own prompt: their mean is the pair's
        if column in result:
            result[column] = (at_a[column] + at_b[column]) / 2
    result["slope"] = (at_a["slope"] + at_b["slope"]) / 2
    result["position_effect"] = (at_a["slope"] - at_b["slope"]) / 2
    spread = np.sqrt(at_a["slope_se"] ** 2 + at_b["slope_se"] ** 2) / 2
    result["slope_se"] = spread
    result["position_effect_se"] = spread
    return result.reset_index().rename(columns={"pair_id": "item_id"})


def position_summary(pairs: pd.DataFrame, resamples: int, seed: int) -> dict[str, float]:
    """One dataset's pairs (``pair_slopes``): the mean position effect (interval over pairs) and the position's share
    of the slope variation; empty without a position effect column (a study that is not counterbalanced)."""
    if "position_effect" not in pairs:
        return {}
    position = pairs["position_effect"].to_numpy(dtype=float)
    behaviour = pairs["slope"].to_numpy(dtype=float)
    mean = statistics.bootstrap(position, statistics.mean_of_rows, resamples, seed)
    spread = float((position**2).sum() + ((behaviour - behaviour.mean()) ** 2).sum())
    return {
        "mean_position_effect": mean.value,
        "mean_position_effect_ci_low": mean.low,
        "mean_position_effect_ci_high": mean.high,
        "position_share": float((position**2).sum()) / spread if spread else float("nan"),
    }
