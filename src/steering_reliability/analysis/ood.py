"""Out-of-distribution analyses: the six vectors, ID vs OOD steerability, relative steerability.

Definitions follow docs/protocol.md, which follows the paper's code (repepo/paper):
ID steerability is the baseline vector on the baseline test prompts; each OOD shift is
(training variant -> test variant) from ``variants.SHIFTS``, the paper's headline being
SYS_pos -> PT_neg. Relative steerability of vector v_X on test variant Y is
s(v_X, D_Y) / |s(v_Y, D_Y)|, kept where s(v_Y, D_Y) > 0.25 (``signed``, the paper code)
or |s(v_Y, D_Y)| > 0.25 (``absolute``); its x-axis is the mean over items of the absolute
difference between the item's unsteered logit difference under Y and under X.
"""

from __future__ import annotations

import pandas as pd

from steering_reliability.analysis import statistics
from steering_reliability.analysis.steerability import summarise
from steering_reliability.data.variants import BASELINE, SHIFTS, VARIANTS
from steering_reliability.model.vector_names import is_method_vector, split_ood_name

MIN_SELF_STEERABILITY = 0.25
RELATIVE_FILTERS = ("signed", "absolute")


def method_items(items: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The OOD study's items of each method (CAA first, then those of ``ood.methods``), each method's vectors under
    their plain names ("pca:SYS_pos" -> "SYS_pos"), so every analysis below runs on any method unchanged. The
    in-distribution-only method directions ("method.pca") are left out."""
    items = items[~items["vector"].map(is_method_vector)]
    names = items["vector"].map(split_ood_name)
    methods = names.str[0]
    result = {}
    for method in dict.fromkeys(["caa", *methods]):
        rows = items[methods == method].copy()
        rows["vector"] = names[methods == method].str[1]
        result[method] = rows.reset_index(drop=True)
    return result


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


def _row(kind: str, setting: str, estimate, n_points: int, **extra) -> dict:
    return {"kind": kind, "setting": setting, **estimate.rho_columns(), "n_points": n_points, **extra}


def id_ood_correlations(table: pd.DataFrame, resamples: int, seed: int) -> list[dict]:
    """Spearman rho across datasets of ID vs each OOD shift (the paper's headline first), and pooled.

    Each with a bootstrap interval over datasets and a permutation p-value; the pooled value
    resamples and permutes whole datasets, since a dataset contributes one point per shift.
    """
    shifts = [shift_name(train, test) for train, test in SHIFTS]
    rows = [
        _row("id_vs_ood", shift, statistics.spearman(table["id"], table[shift], resamples, seed), len(table))
        for shift in shifts
    ]
    pooled = statistics.pooled_spearman(table["id"], table[shifts].to_numpy(), resamples, seed)
    rows.append(_row("id_vs_ood", "all shifts (pooled)", pooled, len(table) * len(shifts)))
    return rows


def relative_steerability(items: pd.DataFrame, settings: pd.DataFrame, rule: str = "signed") -> pd.DataFrame:
    """One row per (dataset, training variant X, test variant Y) of the five prompt variants (not the mean vector).

    ``kept`` marks rows whose denominator s(v_Y, D_Y) (``signed``) or |s(v_Y, D_Y)| (``absolute``)
    exceeds ``MIN_SELF_STEERABILITY``.
    """
    if rule not in RELATIVE_FILTERS:
        raise ValueError(f"ood.relative_filter must be one of {RELATIVE_FILTERS}, got {rule!r}")
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
                        "kept": bool(
                            (abs(self_steerability) if rule == "absolute" else self_steerability)
                            > MIN_SELF_STEERABILITY
                        ),
                    }
                )
    return pd.DataFrame(rows)


def relative_steerability_correlation(relative: pd.DataFrame, resamples: int, seed: int) -> dict:
    """Spearman rho of relative steerability on the unsteered gap over the kept rows.

    A dataset contributes up to 25 points, so its points are resampled and permuted together.
    """
    kept = relative[relative["kept"]]
    estimate = statistics.spearman(
        kept["unsteered_gap"], kept["relative_steerability"], resamples, seed, groups=kept["dataset"].to_numpy()
    )
    return _row("relative_vs_gap", "all kept pairs", estimate, len(kept), n_dropped=int((~relative["kept"]).sum()))


def correlations(table: pd.DataFrame, relative: pd.DataFrame, resamples: int, seed: int) -> pd.DataFrame:
    """The OOD study's correlations: ID vs OOD per shift and pooled, relative steerability vs gap."""
    return pd.DataFrame(
        id_ood_correlations(table, resamples, seed) + [relative_steerability_correlation(relative, resamples, seed)]
    )


def study_tables(items: pd.DataFrame, relative_filter: str, resamples: int, seed: int) -> dict[str, pd.DataFrame]:
    """The OOD study's tables of one method's items: per-setting steerability, ID vs OOD, relative steerability
    and the correlations."""
    settings = steerability_by_setting(items)
    table = id_vs_ood(settings)
    relative = relative_steerability(items, settings, relative_filter)
    return {
        "steerability": settings,
        "id_vs_ood": table,
        "relative": relative,
        "correlations": correlations(table, relative, resamples, seed),
    }


def with_method_column(tables: dict[str, dict[str, pd.DataFrame]], name: str) -> pd.DataFrame:
    """Table ``name`` of every method's ``study_tables``, stacked, with the method as the first column."""
    frames = [study[name].assign(method=method) for method, study in tables.items()]
    stacked = pd.concat(frames, ignore_index=True)
    return stacked[["method", *[column for column in stacked if column != "method"]]]
