"""The summary's vector methods and its findings against chance (with ``vectors.methods`` beyond ``caa``).

From ``results/{model}/tables/methods.csv`` and ``methods_vs_null.csv`` (``method_comparison``):

* summary rows, per model: each real method's and each null's mean over datasets of the mean steerability, the
  anti-steerable fraction and the A/B share, with a bootstrap interval over datasets
  (``mean_steerability[method:pca]``, ``anti_steerable_fraction[null:random]``), and per real method and null the
  number of datasets on which the method beats every draw (``datasets_above_null[pca vs random]``), beside the
  count chance gives, n / (draws + 1), and a one-sided binomial p-value;
* with ``ood.methods`` beyond ``caa``, each other method's headline ID vs OOD rho and relative-steerability rho
  (``spearman_id_vs_ood[method:pca]``), from ``ood_methods_correlations.csv``;
* findings: the headline findings F1 (items moved the wrong way) and F2 (a spurious factor explains the variance)
  restated against a null direction of the same norm (random if the run has it, else shuffled), and whether CAA
  steers more than that null at all (F0). Each compares CAA with the null's mean over draws dataset by dataset; the
  verdict reads the 95% bootstrap interval (over datasets) of the mean paired difference (docs/statistics.md).
"""

from __future__ import annotations

import pandas as pd
from scipy import stats

from steering_reliability.analysis import statistics
from steering_reliability.analysis.summary import HEADLINE, Run, _rho_row, _row, steered
from steering_reliability.model.vector_names import NULLS

# (column, how the summary names it)
QUANTITIES = {
    "mean_steerability": "mean steerability",
    "anti_steerable_fraction": "anti-steerable fraction",
    "share_ab": "A/B share of the slope variance",
}
# a counterbalanced study's (data.counterbalance)
COUNTERBALANCED = {
    "anti_steerable_both_orders_fraction": "fraction of items anti-steerable in both answer orders",
    "position_share": "share of the two orders' slope variation that the answer's position explains",
}
NULL_TEXT = {
    "random": "random direction of the same norm",
    "shuffled": "CAA vector of label-shuffled pairs (same norm)",
}


def _over_datasets(values: pd.Series, run: Run) -> statistics.Estimate:
    return statistics.bootstrap(values.to_numpy(dtype=float), statistics.mean_of_rows, run.resamples, run.seed)


def _estimate_row(model: str, quantity: str, estimate: statistics.Estimate, note: str) -> dict:
    return _row(model, quantity, estimate.value, estimate.low, estimate.high, estimate.n, note)


def draws_of(nulls: pd.DataFrame, null: str) -> int:
    return int(nulls[f"{null}_draws"].iloc[0]) if f"{null}_draws" in nulls else 0


def nulls_in(nulls: pd.DataFrame) -> list[str]:
    return [null for null in NULLS if draws_of(nulls, null)]


def above_every_draw(nulls: pd.DataFrame, null: str) -> pd.Series:
    """Per (dataset, method) row: whether the method's mean steerability beats every draw of ``null``
    (its Monte Carlo p-value is the smallest possible, 1 / (draws + 1))."""
    return nulls[f"mean_steerability_{null}_p"] <= 1 / (draws_of(nulls, null) + 1) + 1e-12


def quantities(methods: pd.DataFrame) -> dict[str, str]:
    """``QUANTITIES``; in a counterbalanced study the position share, not the A/B share (constant within a pair)."""
    if "position_share" not in methods:
        return QUANTITIES
    return {**{key: text for key, text in QUANTITIES.items() if key != "share_ab"}, **COUNTERBALANCED}


def method_rows(model: str, methods: pd.DataFrame, nulls: pd.DataFrame, run: Run) -> list[dict]:
    """Summary rows of every real method and null, over the datasets."""
    rows = []
    real, draws = methods[methods["draw"].isna()], methods[methods["draw"].notna()]
    shown = quantities(methods)
    for method, frame in real.groupby("method", sort=False):
        for column, meaning in shown.items():
            estimate = _over_datasets(frame[column], run)
            rows.append(_estimate_row(model, f"{column}[method:{method}]", estimate, f"{meaning}, mean over datasets"))
    for null, frame in draws.groupby("method", sort=False):
        per_dataset = frame.groupby("dataset", sort=False)[list(shown)].mean()
        for column, meaning in shown.items():
            estimate = _over_datasets(per_dataset[column], run)
            note = (
                f"{meaning} of a {NULL_TEXT[null]}: mean over datasets of the mean over {draws_of(nulls, null)} draws"
            )
            rows.append(_estimate_row(model, f"{column}[null:{null}]", estimate, note))
    for null in nulls_in(nulls):
        chance = 1 / (draws_of(nulls, null) + 1)
        for method, frame in nulls.groupby("method", sort=False):
            above, n = int(above_every_draw(frame, null).sum()), len(frame)
            p = stats.binomtest(above, n, chance, alternative="greater").pvalue
            note = (
                f"datasets on which {method}'s mean steerability beats all {draws_of(nulls, null)} {null} draws; "
                f"{n * chance:.1f} expected by chance, one-sided binomial p = {p:.2g}"
            )
            rows.append(_row(model, f"datasets_above_null[{method} vs {null}]", above, n=n, note=note))
    return rows


def _difference_verdict(estimate: statistics.Estimate, above: str, below: str, same: str) -> str:
    if pd.isna(estimate.low):
        return "not testable (n too small)"
    if estimate.low > 0:
        return above
    if estimate.high < 0:
        return below
    return same


def _difference(caa: pd.Series, null: pd.Series, run: Run) -> tuple[statistics.Estimate, str]:
    estimate = _over_datasets(caa - null, run)
    interval = "" if pd.isna(estimate.low) else f" [{estimate.low:.3f}, {estimate.high:.3f}]"
    return estimate, f"mean difference {estimate.value:+.3f}{interval}"


def chance_findings(model: str, steerability: pd.DataFrame, nulls: pd.DataFrame, run: Run) -> list[dict]:
    """F0, F1 and F2 of one model against the run's null (random if present, else shuffled); [] without a null."""
    present = nulls_in(nulls)
    if not present:
        return []
    null = present[0]
    text = NULL_TEXT[null]
    caa = nulls[nulls["method"] == "caa"].set_index("dataset")
    rows = []

    def column(quantity: str, frame: pd.DataFrame = caa) -> tuple[pd.Series, pd.Series]:
        return frame[quantity], frame[f"{quantity}_{null}_mean"]

    method_value, null_value = column("mean_steerability")
    estimate, difference = _difference(method_value, null_value, run)
    above, n = int(above_every_draw(caa, null).sum()), len(caa)
    chance = 1 / (draws_of(nulls, null) + 1)
    p = stats.binomtest(above, n, chance, alternative="greater").pvalue
    rows.append(
        {
            "finding": f"F0 the CAA vector steers more than a {text}",
            "model": model,
            "evidence": f"mean steerability {method_value.mean():.3f} vs {null_value.mean():.3f} over {n} datasets "
            f"({difference}); above all {draws_of(nulls, null)} draws on {above} of {n} datasets "
            f"({n * chance:.1f} expected by chance, binomial p = {p:.2g})",
            "verdict": _difference_verdict(
                estimate, "holds against chance", "below chance", "not distinguishable from chance"
            ),
        }
    )

    working = steered(steerability)
    working = working.index[working]
    finding = "F1 against chance: items moved the wrong way, beside a " + text
    counterbalanced = "position_share" in caa
    wrong, which = (
        ("anti_steerable_both_orders_fraction", "anti-steerable in both answer orders")
        if counterbalanced
        else ("anti_steerable_fraction", "anti-steerable")
    )
    method_value, null_value = column(wrong, caa.loc[caa.index.intersection(working)])
    if len(method_value):
        estimate, difference = _difference(method_value, null_value, run)
        evidence = (
            f"{method_value.mean():.0%} of items {which} vs {null_value.mean():.0%} for a {text}, "
            f"over the {len(method_value)} datasets CAA steers ({difference})"
        )
        verdict = _difference_verdict(
            estimate,
            "more anti-steerable items than chance gives",
            "fewer anti-steerable items than chance gives",
            "as many anti-steerable items as chance gives",
        )
    else:
        evidence, verdict = "CAA steers no dataset (mean steerability above 0 at 95%)", "not testable (nothing steered)"
    rows.append({"finding": finding, "model": model, "evidence": evidence, "verdict": verdict})

    share, name = ("position_share", "position share") if counterbalanced else ("share_ab", "A/B share")
    method_value, null_value = column(share)
    estimate, difference = _difference(method_value, null_value, run)
    rows.append(
        {
            "finding": f"F2 against chance: the {name} of the slope variance, beside a " + text,
            "model": model,
            "evidence": f"{name} {method_value.mean():.2f} vs {null_value.mean():.2f} for a {text}, "
            f"over {len(method_value)} datasets ({difference})",
            "verdict": _difference_verdict(
                estimate,
                "larger than chance gives: the vector's own bias",
                "smaller than chance gives",
                f"as large as for a {text}: the model's sensitivity to the answer's position, not the vector's",
            ),
        }
    )
    return rows


def ood_method_rows(model: str, method_correlations: pd.DataFrame) -> list[dict]:
    """The headline ID vs OOD rho and the relative-steerability rho of every OOD method but CAA (whose rows the
    summary has already)."""
    rows = []
    others = method_correlations[method_correlations["method"] != "caa"]
    for entry in others.itertuples(index=False):
        if entry.kind == "id_vs_ood" and entry.setting == HEADLINE:
            quantity = f"spearman_id_vs_ood[method:{entry.method}]"
        elif entry.kind == "relative_vs_gap":
            quantity = f"relative_steerability_vs_gap_rho[method:{entry.method}]"
        else:
            continue
        note = f"{entry.method}'s six OOD vectors; p = {entry.p_value:.3g} (permutation)"
        if entry.n_datasets < statistics.MIN_DATASETS_FOR_SPEARMAN:
            note = f"n too small: only {entry.n_datasets} datasets"
        rows.append(_rho_row(model, quantity, entry, note))
    return rows
