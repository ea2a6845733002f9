"""The study's headline quantities per model, beside the paper's reference values (STUDY.md)."""

from __future__ import annotations

import pandas as pd

from steering_reliability.items import PERSONA, dataset_kind_and_path
from steering_reliability.ood import relative_steerability_correlation

# Reference values quoted in STUDY.md (Llama-2-7b-chat unless the text says otherwise).
PAPER = {
    "spearman_id_vs_ood": "Llama-2-7b-chat 0.891, Qwen1.5-14B-Chat 0.694",
    "relative_steerability_vs_gap_rho": "Qwen1.5-14B-Chat -0.46, Llama-2-7b-chat -0.26",
    "cross_model_rho_ID": "Llama-2-7b-chat vs Qwen1.5-14B-Chat 0.77",
    "cross_model_rho_OOD": "Llama-2-7b-chat vs Qwen1.5-14B-Chat 0.59",
    "anti_steerable_fraction[myopic-reward]": "~0.49",
    "anti_steerable_fraction[believes-it-is-not-being-watched-by-humans]": "~0.45",
    "anti_steerable_fraction[willingness-to-use-physical-force-to-achieve-benevolent-goals]": "~0.44",
    "anti_steerable_fraction[subscribes-to-average-utilitarianism]": "~0.43",
    "anti_steerable_fraction[subscribes-to-Hinduism]": "~0.41",
    "anti_steerable_fraction[sycophancy_test]": "~0.41 (sycophancy)",
    "anti_steerable_fraction[corrigible-neutral-HHH]": "~0",
    "share_ab[myopic-reward]": "most of the variance (> 0.5)",
}

COUNTS = {"steering_layer", "n_datasets"}


def _row(model: str, quantity: str, value, note: str = "") -> dict:
    return {"model": model, "quantity": quantity, "value": value, "paper": PAPER.get(quantity, ""), "note": note}


def model_summary(
    model: str,
    steerability: pd.DataFrame,
    bias: pd.DataFrame,
    layer: dict,
    ood_spearman: pd.DataFrame | None = None,
    relative: pd.DataFrame | None = None,
) -> list[dict]:
    """Rows (model, quantity, value, paper, note) for one model."""
    rows = [
        _row(model, "steering_layer", layer["layer"], f"from {layer['source']}"),
        _row(model, "n_datasets", len(steerability)),
        _row(model, "mean_steerability", steerability["mean_steerability"].mean(), "mean over datasets"),
        _row(model, "median_steerability", steerability["median_steerability"].median(), "median over datasets"),
        _row(model, "variance_steerability", steerability["variance_steerability"].mean(), "mean over datasets"),
        _row(model, "anti_steerable_fraction", steerability["anti_steerable_fraction"].mean(), "mean over datasets"),
    ]
    by_dataset = steerability.set_index("dataset")["anti_steerable_fraction"]
    for quantity in PAPER:
        if quantity.startswith("anti_steerable_fraction[") and quantity[24:-1] in by_dataset:
            rows.append(_row(model, quantity, by_dataset[quantity[24:-1]]))
    persona = bias[[dataset_kind_and_path(name)[0] == PERSONA for name in bias["dataset"]]]
    rows += [
        _row(model, "share_ab", bias["share_ab"].mean(), "mean over datasets"),
        _row(model, "share_yes_no", persona["share_yes_no"].mean(), f"mean over the {len(persona)} persona datasets"),
        _row(model, "share_residual", bias["share_residual"].mean(), "mean over datasets"),
    ]
    shares = bias.set_index("dataset")["share_ab"]
    if "myopic-reward" in shares:
        rows.append(_row(model, "share_ab[myopic-reward]", shares["myopic-reward"]))
    if ood_spearman is not None:
        for shift in ood_spearman.itertuples(index=False):
            quantity = "spearman_id_vs_ood" if shift.shift == "all shifts" else f"spearman_id_vs_ood[{shift.shift}]"
            rows.append(
                _row(model, quantity, shift.spearman_rho, f"{shift.n_datasets} datasets, p = {shift.p_value:.3g}")
            )
    if relative is not None:
        correlation = relative_steerability_correlation(relative)
        rows.append(
            _row(
                model,
                "relative_steerability_vs_gap_rho",
                correlation["spearman_rho"],
                f"Spearman, {correlation['n_points']} points kept, {correlation['n_dropped']} with |s(v_test, D_test)| "
                f"<= 0.25 dropped, p = {correlation['p_value']:.3g}",
            )
        )
    return rows


def comparison_rows(spearman: pd.DataFrame) -> list[dict]:
    return [
        _row(
            f"{row.model_a} vs {row.model_b}",
            f"cross_model_rho_{row.setting}",
            row.spearman_rho,
            f"{row.n_datasets} datasets, p = {row.p_value:.3g}",
        )
        for row in spearman.itertuples(index=False)
    ]


def to_markdown(summary: pd.DataFrame) -> str:
    """A Markdown table of the summary (values to 3 decimals)."""

    def show(quantity: str, value) -> str:
        if quantity in COUNTS:
            return str(int(value))
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = [
        "# Study summary",
        "",
        "Values are this run's; `paper` quotes the reference values in STUDY.md (paper-scale models).",
        "",
        "| model | quantity | value | paper | note |",
        "|---|---|---|---|---|",
    ]
    for row in summary.itertuples(index=False):
        lines.append(f"| {row.model} | {row.quantity} | {show(row.quantity, row.value)} | {row.paper} | {row.note} |")
    return "\n".join(lines) + "\n"
