"""Out-of-distribution analyses: the six vectors, ID vs OOD steerability, relative steerability.

Definitions follow STUDY.md and, where it is silent, the paper's code (repepo/paper):
ID steerability is the baseline vector on the baseline test prompts; each OOD shift
is (training variant -> test variant) from ``variants.SHIFTS``. Relative steerability
of vector v_X on test variant Y is s(v_X, D_Y) / |s(v_Y, D_Y)|, kept where
|s(v_Y, D_Y)| > 0.25; its x-axis is the mean over items of the absolute difference
between the item's unsteered logit difference under Y and under X.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from steering_reliability.steerability import summarise
from steering_reliability.variants import BASELINE, SHIFTS, VARIANTS

MIN_SELF_STEERABILITY = 0.25


def steerability_by_setting(items: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, vector, variant): steerability summary and mean unsteered logit difference."""
    rows = []
    for (dataset, vector, variant), frame in items.groupby(["dataset", "vector", "variant"], sort=False):
        rows.append(
            {
                "dataset": dataset,
                "vector": vector,
                "variant": variant,
                **summarise(frame["slope"]),
                "mean_unsteered_logit_diff": float(frame["unsteered_logit_diff"].mean()),
            }
        )
    return pd.DataFrame(rows)


def spearman(x, y) -> tuple[float, float]:
    """Spearman rank correlation and its two-sided p-value (nan for fewer than 3 points)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 3:
        return float("nan"), float("nan")
    result = stats.spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def _mean_steerability(settings: pd.DataFrame, vector: str, variant: str) -> pd.Series:
    rows = settings[(settings["vector"] == vector) & (settings["variant"] == variant)]
    return rows.set_index("dataset")["mean_steerability"]


def id_vs_ood(settings: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: ID steerability (baseline -> baseline) and one column per OOD shift."""
    table = _mean_steerability(settings, BASELINE, BASELINE).rename("id").to_frame()
    for train, test in SHIFTS:
        table[shift_name(train, test)] = _mean_steerability(settings, train, test)
    return table.reset_index()


def shift_name(train: str, test: str) -> str:
    return f"{train} -> {test}"


def id_ood_correlations(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman rho across datasets of ID vs each OOD shift, and over all shifts pooled."""
    rows = []
    shifts = [shift_name(train, test) for train, test in SHIFTS]
    for shift in shifts:
        rho, p = spearman(table["id"], table[shift])
        rows.append(
            {"shift": shift, "spearman_rho": rho, "p_value": p, "n_datasets": len(table), "n_points": len(table)}
        )
    # pooled: each dataset's ID value appears once per shift, so the points are not independent
    # and the p-value is only indicative
    pooled = table.melt(id_vars=["dataset", "id"], value_vars=shifts)
    rho, p = spearman(pooled["id"], pooled["value"])
    rows.append(
        {"shift": "all shifts", "spearman_rho": rho, "p_value": p, "n_datasets": len(table), "n_points": len(pooled)}
    )
    return pd.DataFrame(rows)


def relative_steerability(items: pd.DataFrame, settings: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, training variant X, test variant Y) of the five prompt variants.

    ``kept`` marks rows whose denominator |s(v_Y, D_Y)| exceeds ``MIN_SELF_STEERABILITY``.
    """
    steer = settings.set_index(["dataset", "vector", "variant"])["mean_steerability"]
    # the unsteered logit difference does not depend on the vector: take the baseline vector's rows
    unsteered = (
        items[items["vector"] == BASELINE]
        .set_index(["dataset", "variant", "item_id"])["unsteered_logit_diff"]
        .sort_index()
    )
    rows = []
    for dataset in settings["dataset"].unique():
        for test in VARIANTS:
            self_steerability = steer[(dataset, test, test)]
            for train in VARIANTS:
                gap = (unsteered[(dataset, test)] - unsteered[(dataset, train)]).abs().mean()
                rows.append(
                    {
                        "dataset": dataset,
                        "train_variant": train,
                        "test_variant": test,
                        "steerability": steer[(dataset, train, test)],
                        "self_steerability": self_steerability,
                        "relative_steerability": steer[(dataset, train, test)] / abs(self_steerability),
                        "unsteered_gap": float(gap),
                        "kept": bool(abs(self_steerability) > MIN_SELF_STEERABILITY),
                    }
                )
    return pd.DataFrame(rows)


def relative_steerability_correlation(relative: pd.DataFrame) -> dict[str, float]:
    """Spearman rho of relative steerability on the unsteered gap, over the kept rows."""
    kept = relative[relative["kept"]]
    rho, p = spearman(kept["unsteered_gap"], kept["relative_steerability"])
    return {"spearman_rho": rho, "p_value": p, "n_points": int(len(kept)), "n_dropped": int((~relative["kept"]).sum())}
