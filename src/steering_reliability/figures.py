"""The study's figures (STUDY.md, "Figures"), drawn with seaborn, saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from steering_reliability.artifacts import atomic_path  # noqa: E402

sns.set_theme(style="whitegrid", context="paper")


def save_figure(figure: plt.Figure, png: str | Path, svg: str | Path) -> None:
    figure.tight_layout()
    for path, fmt in ((png, "png"), (svg, "svg")):
        with atomic_path(path) as partial:
            # A fixed date keeps the SVG identical across runs.
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            figure.savefig(partial, format=fmt, dpi=150, metadata=metadata)
    plt.close(figure)


def _height(n_datasets: int) -> float:
    return max(3.0, 0.28 * n_datasets + 1.2)


def steerability_distribution(items: pd.DataFrame, model: str) -> plt.Figure:
    """Figure 1: per-item steerability per dataset, datasets ordered by median."""
    order = items.groupby("dataset")["slope"].median().sort_values(ascending=False).index
    figure, axis = plt.subplots(figsize=(9, _height(len(order))))
    sns.boxplot(data=items, y="dataset", x="slope", order=order, color="#a6cee3", fliersize=0, ax=axis)
    sns.stripplot(data=items, y="dataset", x="slope", order=order, size=2, color="#1f3b57", alpha=0.6, ax=axis)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set(
        xlabel="per-item steerability (slope of logit difference on multiplier)",
        ylabel="",
        title=f"Steerability per item: {model}",
    )
    return figure


def anti_steerable_fraction(summary: pd.DataFrame, model: str) -> plt.Figure:
    """Figure 2: fraction of items with slope <= 0, per dataset."""
    ordered = summary.sort_values("anti_steerable_fraction", ascending=False)
    figure, axis = plt.subplots(figsize=(9, _height(len(ordered))))
    sns.barplot(data=ordered, y="dataset", x="anti_steerable_fraction", color="#e31a1c", ax=axis)
    axis.set(
        xlim=(0, 1), xlabel="anti-steerable fraction (slope <= 0)", ylabel="", title=f"Anti-steerable items: {model}"
    )
    return figure


def variance_explained(bias: pd.DataFrame, model: str) -> plt.Figure:
    """Figure 3: share of slope variance explained by A/B and Yes/No (stacked), per dataset."""
    ordered = bias.sort_values(["share_ab", "share_yes_no"], ascending=True).reset_index(drop=True)
    figure, axis = plt.subplots(figsize=(9, _height(len(ordered))))
    left = pd.Series(0.0, index=ordered.index)
    for column, label, colour in (
        ("share_ab", "A/B position", "#1f78b4"),
        ("share_yes_no", "Yes/No", "#33a02c"),
        ("share_residual", "unexplained", "#d9d9d9"),
    ):
        axis.barh(ordered["dataset"], ordered[column], left=left, label=label, color=colour)
        left = left + ordered[column]
    axis.set(
        xlim=(0, 1),
        xlabel="share of per-item steerability variance",
        ylabel="",
        title=f"Variance explained by spurious factors: {model}",
    )
    axis.legend(loc="lower right", frameon=True)
    return figure


def propensity_curves(propensities: pd.DataFrame, slopes: pd.DataFrame, dataset: str, model: str) -> plt.Figure:
    """Figure 4: propensity against multiplier for steerable and anti-steerable items of one dataset."""
    labelled = propensities.merge(slopes[["item_id", "slope"]], on="item_id")
    labelled["item kind"] = labelled["slope"].map(lambda s: "steerable" if s > 0 else "anti-steerable")
    figure, axis = plt.subplots(figsize=(6, 4))
    sns.lineplot(
        data=labelled,
        x="multiplier",
        y="logit_diff",
        units="item_id",
        estimator=None,
        hue="item kind",
        hue_order=["steerable", "anti-steerable"],
        palette={"steerable": "#1f78b4", "anti-steerable": "#e31a1c"},
        alpha=0.5,
        linewidth=0.8,
        ax=axis,
    )
    axis.axhline(0, color="black", linewidth=0.6)
    axis.set(
        xlabel="steering multiplier",
        ylabel="propensity (logit difference, positive - negative)",
        title=f"Propensity curves: {dataset} ({model})",
    )
    return figure


def _identity_line(axis, values) -> None:
    low, high = float(min(values)), float(max(values))
    axis.plot([low, high], [low, high], color="black", linestyle="--", linewidth=0.8, label="y = x")


def id_vs_ood(table: pd.DataFrame, correlations: pd.DataFrame, model: str) -> plt.Figure:
    """Figure 5: per-dataset ID steerability against OOD steerability for each shift, with Spearman rho."""
    rho = correlations.set_index("shift")["spearman_rho"]
    shifts = [column for column in table.columns if "->" in column]
    long = table.melt(id_vars=["dataset", "id"], value_vars=shifts, var_name="shift", value_name="ood")
    long["shift"] = long["shift"].map(lambda shift: f"{shift} (rho = {rho[shift]:.2f})")
    figure, axis = plt.subplots(figsize=(6.5, 5))
    axis.axhline(0, color="grey", linewidth=0.6)
    axis.axvline(0, color="grey", linewidth=0.6)
    _identity_line(axis, pd.concat([long["id"], long["ood"]]))
    sns.scatterplot(data=long, x="id", y="ood", hue="shift", style="shift", ax=axis)
    axis.set(
        xlabel="ID steerability (baseline vector, baseline prompts)",
        ylabel="OOD steerability (train variant -> test variant)",
        title=f"ID vs OOD steerability: {model} (all shifts rho = {rho['all shifts']:.2f})",
    )
    axis.legend(fontsize=7, loc="upper left")
    return figure


def relative_steerability(relative: pd.DataFrame, correlation: dict, model: str) -> plt.Figure:
    """Figure 6: relative steerability against the unsteered logit-difference gap (kept rows)."""
    kept = relative[relative["kept"]]
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    axis.axhline(0, color="grey", linewidth=0.6)
    axis.axhline(1, color="grey", linewidth=0.6, linestyle=":")
    if len(kept) >= 2:
        sns.regplot(data=kept, x="unsteered_gap", y="relative_steerability", scatter=False, color="black", ax=axis)
    sns.scatterplot(data=kept, x="unsteered_gap", y="relative_steerability", hue="test_variant", ax=axis)
    axis.set(
        xlabel="mean |unsteered logit difference (test prompt) - (train prompt)|",
        ylabel="relative steerability s(v_train, D_test) / |s(v_test, D_test)|",
        title=(
            f"Relative steerability: {model}\n(Spearman rho = {correlation['spearman_rho']:.2f}, "
            f"n = {correlation['n_points']}, {correlation['n_dropped']} dropped)"
        ),
    )
    return figure


def cross_model(id_table: pd.DataFrame, ood_table: pd.DataFrame, spearman: pd.DataFrame) -> plt.Figure:
    """Figure 7: per-dataset steerability of one model against another, ID and OOD."""
    pairs = spearman[["model_a", "model_b"]].drop_duplicates().itertuples(index=False)
    pairs = list(pairs)
    figure, axes = plt.subplots(len(pairs), 2, figsize=(10, 4.5 * len(pairs)), squeeze=False)
    rho = spearman.set_index(["model_a", "model_b", "setting"])["spearman_rho"]
    for row, (model_a, model_b) in enumerate(pairs):
        for column, (setting, table) in enumerate((("ID", id_table), ("OOD", ood_table))):
            axis = axes[row][column]
            wide = table.pivot(index="dataset", columns="model", values="steerability").dropna()
            if wide.empty or model_a not in wide or model_b not in wide:
                axis.set_axis_off()
                continue
            _identity_line(axis, pd.concat([wide[model_a], wide[model_b]]))
            sns.regplot(x=wide[model_a], y=wide[model_b], ax=axis)
            axis.set(
                xlabel=f"{model_a} steerability",
                ylabel=f"{model_b} steerability",
                title=f"{setting}: Spearman rho = {rho[(model_a, model_b, setting)]:.2f} ({len(wide)} datasets)",
            )
    return figure


def layer_sweep(per_layer: pd.DataFrame, chosen_layer: int, model: str) -> plt.Figure:
    """Appendix figure A1: mean steerability per layer, one curve per dataset and their mean."""
    figure, axis = plt.subplots(figsize=(7, 4.5))
    sns.lineplot(data=per_layer, x="layer", y="mean_steerability", hue="dataset", alpha=0.45, linewidth=0.9, ax=axis)
    mean = per_layer.groupby("layer")["mean_steerability"].mean()
    axis.plot(mean.index, mean.values, color="black", linewidth=2.2, label="mean over datasets")
    axis.axvline(chosen_layer, color="#e31a1c", linestyle="--", linewidth=1, label=f"steering layer {chosen_layer}")
    axis.axhline(0, color="grey", linewidth=0.6)
    axis.set(xlabel="layer", ylabel="mean steerability", title=f"Layer sweep: {model}")
    axis.legend(fontsize=6, ncol=2, loc="upper left")
    return figure


def multiplier_range(ranges: pd.DataFrame, model: str) -> plt.Figure:
    """Appendix figure A2: dataset steerability and anti-steerable fraction against the multiplier range."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, column, label in (
        (axes[0], "mean_steerability", "mean steerability"),
        (axes[1], "anti_steerable_fraction", "anti-steerable fraction"),
    ):
        sns.lineplot(data=ranges, x="max_multiplier", y=column, units="dataset", estimator=None, alpha=0.3, ax=axis)
        sns.lineplot(data=ranges, x="max_multiplier", y=column, color="black", linewidth=2.2, errorbar=None, ax=axis)
        axis.set(xlabel="largest |multiplier| used for the slope", ylabel=label)
    figure.suptitle(f"Effect of the multiplier range: {model} (thin: datasets; thick: mean)")
    return figure
