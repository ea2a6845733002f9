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
