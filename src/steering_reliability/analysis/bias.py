"""Spurious-bias analysis: how much of the per-item slope variance A/B and Yes/No explain.

Per dataset, an OLS of the per-item slope on the binary factors. Shares are the
sequential (type I) sums of squares over the total, A/B entered first, so the
shares of A/B, Yes/No and the residual add up to one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

FACTORS = {"positive_is_a": "ab", "positive_is_yes": "yes_no"}


def variance_shares(table: pd.DataFrame, outcome: str = "slope") -> dict[str, float]:
    """Shares of ``outcome``'s variance explained by each factor present, and the residual.

    A factor that is missing, all-NA, or constant explains nothing and gets share 0.
    """
    frame = table.copy()
    factors = [name for name in FACTORS if name in frame and frame[name].notna().all() and frame[name].nunique() > 1]
    result = {f"share_{label}": 0.0 for label in FACTORS.values()}
    total = float(((frame[outcome] - frame[outcome].mean()) ** 2).sum())
    if total == 0 or not factors:
        return {**result, "share_residual": 1.0 if total > 0 else np.nan, "r_squared": 0.0, "n_items": len(frame)}
    for name in factors:
        frame[name] = frame[name].astype(int)
    fit = smf.ols(f"{outcome} ~ " + " + ".join(factors), data=frame).fit()
    anova = anova_lm(fit, typ=1)
    for name in factors:
        result[f"share_{FACTORS[name]}"] = float(anova.loc[name, "sum_sq"] / total)
    result["share_residual"] = float(anova.loc["Residual", "sum_sq"] / total)
    result["r_squared"] = float(fit.rsquared)
    result["n_items"] = len(frame)
    return result


def factor_effects(table: pd.DataFrame, outcome: str) -> dict[str, float]:
    """OLS coefficients (with p-values) of ``outcome`` on the factors present."""
    frame = table.copy()
    factors = [n for n in FACTORS if n in frame and frame[n].notna().all() and frame[n].nunique() > 1]
    if not factors:
        return {}
    for name in factors:
        frame[name] = frame[name].astype(int)
    fit = smf.ols(f"{outcome} ~ " + " + ".join(factors), data=frame).fit()
    effects = {}
    for name in factors:
        effects[f"effect_{FACTORS[name]}"] = float(fit.params[name])
        effects[f"pvalue_{FACTORS[name]}"] = float(fit.pvalues[name])
    return effects


def share_intervals(table: pd.DataFrame, resamples: int, seed: int, outcome: str = "slope") -> dict[str, float]:
    """Bootstrap intervals (over items) of the shares ``variance_shares`` gives, and the small-n flag.

    The factors are those present and varying in the whole dataset, entered in the same order.
    """
    from steering_reliability.analysis import statistics

    factors = [name for name in FACTORS if name in table and table[name].notna().all() and table[name].nunique() > 1]
    intervals = {"shares_small_n": bool(len(table) < statistics.MIN_ITEMS_FOR_SHARES)}
    if not factors or len(table) < 3:
        return intervals
    estimates = statistics.share_intervals(
        table[outcome].to_numpy(dtype=float), table[factors].to_numpy(dtype=float), resamples, seed
    )
    for name, estimate in zip(factors, estimates):
        intervals[f"share_{FACTORS[name]}_ci_low"] = estimate.low
        intervals[f"share_{FACTORS[name]}_ci_high"] = estimate.high
    return intervals
