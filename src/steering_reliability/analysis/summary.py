"""The study's summary: every headline quantity with its interval and n, beside the paper's values with a
verdict, and which of the paper's findings this run reproduces (docs/statistics.md, "Verdicts").

A row is one quantity of one model (or model pair): value, 95% interval, n (the independent
units behind it: items or datasets), a note, the paper's value(s) for that quantity and a
verdict. Verdicts on paper values:

* ``not comparable``: the paper's value is for another model, or this run's protocol is not
  paper-exact (another split or other prompt strings measure something else);
* ``not testable (n too small)``: the quantity has no interval here;
* ``consistent``: the paper's value (within its stated precision) lies in the 95% interval;
* ``inconsistent``: it does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from steering_reliability.analysis import paper_values, statistics
from steering_reliability.analysis.comparison import NOT_COMPARED
from steering_reliability.analysis.ood import shift_name
from steering_reliability.data.study_datasets import id_only_datasets, ood_datasets
from steering_reliability.data.user_datasets import has_yes_no, user_entries
from steering_reliability.data.variants import BASELINE, HEADLINE_SHIFT

HEADLINE = shift_name(*HEADLINE_SHIFT)
COUNTS = {"steering_layer", "n_datasets", "datasets_above_null", "steered_datasets", "format_dominated_datasets"}
SYCOPHANCY = ("sycophancy_train", "sycophancy_test")
# The share of a counterbalanced dataset's items whose slope is at or below 0 in both answer orders.
BOTH_ORDERS = "anti_steerable_both_orders_fraction"
# Test items per dataset below which per-dataset values get no verdict.
MIN_ITEMS = 10


@dataclass(frozen=True)
class Run:
    """What the verdicts need to know about the run: each model's identity and the protocol."""

    model_ids: dict[str, str]  # model name -> hub id (or "<source>:<id>" for other sources)
    protocol: str
    resamples: int
    seed: int
    yes_no_datasets: frozenset[str] = frozenset()  # datasets whose answers are Yes/No (the Yes/No factor)
    user_datasets: tuple[str, ...] = ()  # the user's own datasets in the study (data.user_datasets)
    ood_datasets: tuple[str, ...] = ()
    id_only_datasets: tuple[str, ...] = ()  # without persona sentences, so without an OOD study
    counterbalanced: bool = False  # every item in both answer orders (data.counterbalance)

    @classmethod
    def from_config(cls, config: dict) -> Run:
        ids = {
            name: entry["id"] if entry["source"] == "huggingface" else f"{entry['source']}:{entry['id']}"
            for name, entry in config["models"].items()
        }
        datasets = config["data"]["datasets"]
        return cls(
            ids,
            config["protocol"],
            config["statistics"]["resamples"],
            config["statistics"]["seed"],
            frozenset(name for name in datasets if has_yes_no(name, config)),
            tuple(name for name in datasets if name in user_entries(config)),
            tuple(ood_datasets(config)),
            tuple(id_only_datasets(config)),
            bool(config["data"]["counterbalance"]),
        )


def steered(steerability: pd.DataFrame) -> pd.Series:
    """Per dataset (indexed by name, in table order): whether its mean steerability's 95% interval lies above 0."""
    return steerability.set_index("dataset")["mean_steerability_ci_low"] > 0


def _row(model: str, quantity: str, value, low=math.nan, high=math.nan, n=None, note: str = "") -> dict:
    return {"model": model, "quantity": quantity, "value": value, "ci_low": low, "ci_high": high, "n": n, "note": note}


def _rho_row(model: str, quantity: str, entry, note: str) -> dict:
    """A Spearman row of a correlation table (spearman_rho, ci_low, ci_high, n_datasets) as a summary row."""
    return _row(model, quantity, entry.spearman_rho, entry.ci_low, entry.ci_high, entry.n_datasets, note)


def layer_rows(model: str, layer: dict) -> list[dict]:
    if layer["source"] == "config":
        return [_row(model, "steering_layer", layer["layer"], note="from config")]
    first, last = layer["eligible_layers"]
    note = f"picked by the layer sweep among layers {first}..{last}"
    if layer["at_edge_of_range"]:
        note += "; AT THE EDGE of that range: the sweep's best layer may lie outside it (see figure A1)"
    return [_row(model, "steering_layer", layer["layer"], note=note)]


def steerability_rows(model: str, steerability: pd.DataFrame, items: pd.DataFrame, run: Run) -> list[dict]:
    """Per-model means over datasets, and the per-dataset quantities the paper quotes (with intervals)."""
    datasets = len(steerability)
    rows = [
        _row(model, "n_datasets", datasets),
        _row(
            model, "mean_steerability", steerability["mean_steerability"].mean(), n=datasets, note="mean over datasets"
        ),
        _row(
            model,
            "anti_steerable_fraction",
            steerability["anti_steerable_fraction"].mean(),
            n=datasets,
            note="mean over datasets",
        ),
    ]
    if BOTH_ORDERS in steerability:
        rows.append(
            _row(
                model,
                BOTH_ORDERS,
                steerability[BOTH_ORDERS].mean(),
                n=datasets,
                note="mean over datasets of the share of items anti-steerable in both answer orders",
            )
        )
    by_dataset = steerability.set_index("dataset")
    quoted = {value.quantity for value in paper_values.PAPER_VALUES}
    for dataset, row in by_dataset.iterrows():
        quantity = f"anti_steerable_fraction[{dataset}]"
        if quantity in quoted:
            small = row["n_items"] < MIN_ITEMS
            rows.append(
                _row(
                    model,
                    quantity,
                    row["anti_steerable_fraction"],
                    row["anti_steerable_fraction_ci_low"],
                    row["anti_steerable_fraction_ci_high"],
                    int(row["n_items"]),
                    _small(small, int(row["n_items"]), "test items"),
                )
            )
    pooled = items[items["dataset"].isin(SYCOPHANCY)]
    if pooled["dataset"].nunique() == len(SYCOPHANCY):
        estimate = statistics.bootstrap(
            pooled["slope"].to_numpy(), statistics.anti_steerable_share, run.resamples, run.seed
        )
        rows.append(
            _row(
                model,
                "anti_steerable_fraction[sycophancy]",
                estimate.value,
                estimate.low,
                estimate.high,
                estimate.n,
                "test items of sycophancy_train and sycophancy_test pooled, as the paper does",
            )
        )
    return rows


def _small(small: bool, n: int, units: str) -> str:
    return f"n too small: only {n} {units.removesuffix('s') if n == 1 else units}" if small else ""


def bias_rows(model: str, bias: pd.DataFrame, run: Run, steerability: pd.DataFrame | None = None) -> list[dict]:
    """The regression's variance shares, means over datasets. A counterbalanced run has no A/B share (the position
    is constant within a pair): the position's share of the two orders' slopes (``steerability``) replaces it."""
    yes_no = bias[bias["dataset"].isin(run.yes_no_datasets)]
    if run.counterbalanced:
        position = _row(
            model,
            "position_share",
            steerability["position_share"].mean(),
            n=len(steerability),
            note="mean over datasets of the share of the two answer orders' slope variation the position explains",
        )
    else:
        position = _row(model, "share_ab", bias["share_ab"].mean(), n=len(bias), note="mean over datasets")
    rows = [
        position,
        _row(
            model,
            "share_yes_no",
            yes_no["share_yes_no"].mean(),
            n=len(yes_no),
            note=f"mean over the {len(yes_no)} datasets with Yes/No answers",
        ),
        _row(model, "share_residual", bias["share_residual"].mean(), n=len(bias), note="mean over datasets"),
    ]
    shares = bias.set_index("dataset")
    if "myopic-reward" in shares.index and not run.counterbalanced:
        row = shares.loc["myopic-reward"]
        rows.append(
            _row(
                model,
                "share_ab[myopic-reward]",
                row["share_ab"],
                row.get("share_ab_ci_low", math.nan),
                row.get("share_ab_ci_high", math.nan),
                int(row["n_items"]),
                _small(bool(row["shares_small_n"]), int(row["n_items"]), "test items"),
            )
        )
    return rows


# A user dataset's rows: (quantity, table, column, what it is)
_USER_QUANTITIES = (
    ("mean_steerability", "steerability", "mean_steerability", ""),
    ("anti_steerable_fraction", "steerability", "anti_steerable_fraction", ""),
    ("share_ab", "bias", "share_ab", "; share of the slope variance that the A/B position explains"),
    ("share_yes_no", "bias", "share_yes_no", "; share of the slope variance that Yes/No explains"),
)


_POSITION_SHARE = (
    "position_share",
    "steerability",
    "position_share",
    "; share of the two answer orders' slope variation that the position explains",
)


def user_dataset_rows(model: str, steerability: pd.DataFrame, bias: pd.DataFrame, run: Run) -> list[dict]:
    """Each of the user's own datasets on its own, with its intervals (``quantity[dataset]`` rows)."""
    tables = {"steerability": steerability.set_index("dataset"), "bias": bias.set_index("dataset")}
    quantities = _USER_QUANTITIES
    if run.counterbalanced:  # the A/B factor is constant within a pair: the position's share instead
        quantities = tuple(_POSITION_SHARE if entry[0] == "share_ab" else entry for entry in quantities)
    rows = []
    for dataset in run.user_datasets:
        study = "also in the OOD study" if dataset in run.ood_datasets else "in-distribution only"
        for quantity, table, column, meaning in quantities:
            if column == "share_yes_no" and dataset not in run.yes_no_datasets:
                continue
            row = tables[table].loc[dataset]
            n = int(row["n_items"])
            small = bool(row["shares_small_n"]) if table == "bias" else n < MIN_ITEMS
            rows.append(
                _row(
                    model,
                    f"{quantity}[{dataset}]",
                    row[column],
                    row.get(f"{column}_ci_low", math.nan),
                    row.get(f"{column}_ci_high", math.nan),
                    n,
                    _small(small, n, "test items") or f"your dataset ({study}){meaning}",
                )
            )
    return rows


def correlation_rows(model: str, correlations: pd.DataFrame) -> list[dict]:
    """ID vs OOD (the paper's headline shift as the main row, the others and the pooled value as extras)."""
    rows = []
    for entry in correlations.itertuples(index=False):
        if entry.kind == "id_vs_ood":
            quantity = "spearman_id_vs_ood" if entry.setting == HEADLINE else f"spearman_id_vs_ood[{entry.setting}]"
            note = f"p = {entry.p_value:.3g} (permutation)"
        else:
            quantity = "relative_steerability_vs_gap_rho"
            note = (
                f"{entry.n_points} pairs kept, {entry.n_dropped} dropped; datasets resampled whole, "
                f"p = {entry.p_value:.3g}"
            )
        small = entry.n_datasets < statistics.MIN_DATASETS_FOR_SPEARMAN
        note = _small(small, entry.n_datasets, "datasets") or note
        rows.append(_rho_row(model, quantity, entry, note))
    return rows


def cosine_rows(model: str, cosines: pd.DataFrame) -> list[dict]:
    """How far the OOD study's vectors are from the baseline vector (a high ID-vs-OOD rho means little if all ~1)."""
    if cosines.empty:
        return []
    to_baseline = cosines[(cosines["vector_a"] == BASELINE) & (cosines["vector_b"] != BASELINE)]
    return [
        _row(
            model,
            "min_cosine_to_baseline_vector",
            to_baseline["cosine"].min(),
            n=to_baseline["dataset"].nunique(),
            note="smallest cosine of any OOD vector with its dataset's baseline vector",
        ),
        _row(
            model,
            "median_cosine_to_baseline_vector",
            to_baseline["cosine"].median(),
            n=to_baseline["dataset"].nunique(),
        ),
    ]


def geometry_rows(model: str, correlations: pd.DataFrame) -> list[dict]:
    rows = []
    for entry in correlations.itertuples(index=False):
        small = entry.n_datasets < statistics.MIN_DATASETS_FOR_SPEARMAN
        note = (
            _small(small, entry.n_datasets, "datasets") or f"Spearman against {entry.against}, p = {entry.p_value:.3g}"
        )
        if not math.isnan(getattr(entry, "auroc_steerable", math.nan)):
            note += f"; AUROC for steerable items {entry.auroc_steerable:.2f}"
        rows.append(_rho_row(model, f"geometry_rho[{entry.diagnostic}]", entry, note))
    return rows


def comparison_rows(spearman: pd.DataFrame) -> list[dict]:
    rows = []
    for entry in spearman.itertuples(index=False):
        small = entry.n_datasets < statistics.MIN_DATASETS_FOR_SPEARMAN
        note = _small(small, entry.n_datasets, "datasets") or f"p = {entry.p_value:.3g} (permutation)"
        if isinstance(getattr(entry, "note", None), str) and entry.note:  # a pair with a model that steers nothing
            note = entry.note
        rows.append(_rho_row(f"{entry.model_a} vs {entry.model_b}", f"cross_model_rho_{entry.setting}", entry, note))
    return rows


def _models_of(row_model: str, run: Run) -> tuple[str, ...]:
    return tuple(run.model_ids.get(name, name) for name in row_model.split(" vs "))


def verdict(row: dict, run: Run) -> tuple[str, str]:
    """(the paper's values for this quantity, the verdict for the one of this model) for a summary row."""
    candidates = paper_values.values_for(row["quantity"])
    if not candidates:
        return "", ""
    paper = "; ".join(paper_values.describe(value) for value in candidates)
    ours = set(_models_of(row["model"], run))
    matching = [value for value in candidates if set(value.models) == ours]
    if not matching:
        names = ", ".join(" vs ".join(value.models) for value in candidates)
        return paper, f"not comparable: the paper's value is for {names}"
    if run.protocol != "paper-exact":
        return paper, "not comparable: this run's protocol is not paper-exact"
    value, low, high = matching[0], row["ci_low"], row["ci_high"]
    if any(math.isnan(float(bound)) for bound in (low, high)) or row["note"].startswith("n too small"):
        return paper, "not testable (n too small)"
    if value.relation == "greater":
        return paper, "consistent" if high > value.value else "inconsistent"
    overlap = low <= value.value + value.tolerance and value.value - value.tolerance <= high
    return paper, "consistent" if overlap else "inconsistent"


def with_verdicts(rows: list[dict], run: Run) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    judged = [verdict(row, run) for row in rows]
    table["paper"] = [paper for paper, _ in judged]
    table["verdict"] = [text for _, text in judged]
    return table


def findings(
    summary: pd.DataFrame,
    steerability: dict[str, pd.DataFrame],
    bias: dict[str, pd.DataFrame],
    against_chance: list[dict] = (),
) -> pd.DataFrame:
    """The paper's qualitative findings, tested on this run (the rules are in docs/statistics.md), followed by
    ``against_chance``: the findings restated against a null direction (``method_summary.chance_findings``)."""
    rows = []
    for model, table in steerability.items():
        working = table[steered(table).to_numpy()]
        # the share of the dataset's items that move the wrong way, its interval over items; counterbalanced: the
        # items that do so in both answer orders, so that the letter cannot be what moves them
        wrong = BOTH_ORDERS if BOTH_ORDERS in table else "anti_steerable_fraction"
        wrong_way = working[working[f"{wrong}_ci_low"] > 0]
        which = "anti-steerable in both answer orders" if wrong == BOTH_ORDERS else "anti-steerable (slope <= 0)"
        rows.append(
            {
                "finding": "F1 a vector that steers a dataset on average still moves some of its items the other way",
                "model": model,
                "evidence": f"on {len(wrong_way)} of the {len(working)} datasets whose mean steerability is above 0, "
                f"the share of items {which} is above 0 (95% interval over items)",
                "verdict": "not testable (no dataset steered)"
                if working.empty
                else "reproduced"
                if len(wrong_way)
                else "not reproduced",
            }
        )
        shares = bias[model]
        testable = shares[~shares["shares_small_n"]]
        if "position_share" in table:  # counterbalanced: the A/B factor is constant within a pair; the order's share
            position = testable["dataset"].map(table.set_index("dataset")["position_share"]) >= 0.5
            which = "position share (point estimate) or Yes/No share (lower end of the 95% interval) >= 0.5"
        else:
            position = testable.get("share_ab_ci_low", 0) >= 0.5
            which = "A/B or Yes/No share >= 0.5 (lower end of the 95% interval)"
        large = testable[position | (testable.get("share_yes_no_ci_low", 0) >= 0.5)]
        rows.append(
            {
                "finding": "F2 for some datasets a spurious factor (A/B or Yes/No) explains most of the "
                "steerability variance",
                "model": model,
                "evidence": f"{len(large)} of {len(testable)} datasets with {which}",
                "verdict": "not testable (n too small)"
                if testable.empty
                else "reproduced"
                if len(large)
                else "not reproduced",
            }
        )
    for finding, quantity, sign in (
        ("F3 ID and OOD steerability are rank-correlated across datasets (SYS_pos -> PT_neg)", "spearman_id_vs_ood", 1),
        (
            "F4 relative steerability falls as the unsteered gap between train and test prompts grows",
            "relative_steerability_vs_gap_rho",
            -1,
        ),
        ("F5 datasets that steer well in one model steer well in another (ID)", "cross_model_rho_ID", 1),
        ("F5 the same out of distribution (SYS_pos -> PT_neg)", "cross_model_rho_OOD", 1),
    ):
        for row in summary[summary["quantity"] == quantity].itertuples(index=False):
            rows.append({"finding": finding, "model": row.model, **_sign_verdict(row, sign)})
    rows += against_chance
    return pd.DataFrame(rows, columns=["finding", "model", "evidence", "verdict"])


def _sign_verdict(row, sign: int) -> dict[str, str]:
    if NOT_COMPARED in row.note:
        return {"evidence": row.note, "verdict": "not tested (a model steers no dataset)"}
    datasets = "?" if pd.isna(row.n) else int(row.n)  # a count, read back from the CSV as a float
    if row.note.startswith("n too small") or np.isnan(row.ci_low):  # no rho worth printing
        needed = statistics.MIN_DATASETS_FOR_SPEARMAN
        evidence = f"{datasets} dataset(s); a rank correlation with an interval needs at least {needed}"
        return {"evidence": evidence, "verdict": "not testable (n too small)"}
    evidence = f"rho = {row.value:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}], {datasets} datasets"
    low, high = sorted((sign * row.ci_low, sign * row.ci_high))
    if low > 0:
        return {"evidence": evidence, "verdict": "reproduced"}
    if high <= 0:
        return {"evidence": evidence, "verdict": "not reproduced (the opposite sign)"}
    return {"evidence": evidence, "verdict": "inconclusive (the interval includes 0)"}


def _show(quantity: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if quantity.split("[")[0] in COUNTS:
        return str(int(value))
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _interval(row) -> str:
    return "" if math.isnan(float(row.ci_low)) else f"[{row.ci_low:.3f}, {row.ci_high:.3f}]"


def _dataset_lines(summary: pd.DataFrame, run: Run) -> list[str]:
    """The user's own datasets (each on its own, with intervals), and the datasets without an OOD study."""
    lines = []
    if run.id_only_datasets:
        lines += [
            f"In-distribution only (no persona sentences, so no OOD study): {', '.join(run.id_only_datasets)}.",
            "",
        ]
    if run.user_datasets:
        lines += [
            "## Your own datasets",
            "",
            "| model | quantity | value | 95% interval | n | note |",
            "|---|---|---|---|---|---|",
        ]
        suffixes = tuple(f"[{name}]" for name in run.user_datasets)
        own = summary[summary["quantity"].str.endswith(suffixes)]
        lines += [
            f"| {r.model} | {r.quantity} | {_show(r.quantity, r.value)} | {_interval(r)} | {_show('n_datasets', r.n)} "
            f"| {r.note} |"
            for r in own.itertuples(index=False)
        ]
        lines.append("")
    return lines


def _method_lines(summary: pd.DataFrame) -> list[str]:
    """The vector methods and the nulls over datasets (``method_summary.method_rows``), when the run has them."""
    rows = summary[summary["quantity"].str.contains(r"\[(?:method|null):|^datasets_above_null\[", regex=True)]
    if rows.empty:
        return []
    return [
        "## Against chance: vector methods and null directions",
        "",
        "Every direction is scaled to the CAA vector's norm and evaluated on the same test items; the findings "
        'above that start "against chance" (and F0) compare CAA with the null dataset by dataset.',
        "",
        "| model | quantity | value | 95% interval | n | note |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r.model} | {r.quantity} | {_show(r.quantity, r.value)} | {_interval(r)} | "
            f"{_show('n_datasets', r.n)} | {r.note} |"
            for r in rows.itertuples(index=False)
        ),
        "",
    ]


def to_markdown(summary: pd.DataFrame, found: pd.DataFrame, run: Run, sections: list[str] = ()) -> str:
    """The summary as Markdown: findings first (then ``sections``' lines), then the paper's values, then every
    quantity."""
    lines = [
        "# Study summary",
        "",
        f"Protocol: {run.protocol}. Intervals: 95% bootstrap ({run.resamples} resamples, seed {run.seed}); "
        "n counts the independent units (test items or datasets). The protocol, formulas and reference values "
        "are in docs/protocol.md and docs/reference_values.md; the interval, p-value and verdict rules in "
        "docs/statistics.md.",
        "",
        *_dataset_lines(summary, run),
        "## Which of the paper's findings this run reproduces",
        "",
        "| finding | model | evidence | verdict |",
        "|---|---|---|---|",
        *(f"| {f.finding} | {f.model} | {f.evidence} | {f.verdict} |" for f in found.itertuples(index=False)),
        "",
        *sections,
        *_method_lines(summary),
        "## The paper's values",
        "",
        "| model | quantity | value | 95% interval | n | paper | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    quoted = summary[summary["paper"] != ""]
    lines += [
        f"| {r.model} | {r.quantity} | {_show(r.quantity, r.value)} | {_interval(r)} | {_show('n_datasets', r.n)} "
        f"| {r.paper} | {r.verdict} |"
        for r in quoted.itertuples(index=False)
    ]
    lines += [
        "",
        "## Every quantity",
        "",
        "| model | quantity | value | 95% interval | n | note |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.model} | {r.quantity} | {_show(r.quantity, r.value)} | {_interval(r)} | {_show('n_datasets', r.n)} "
        f"| {r.note} |"
        for r in summary.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"
