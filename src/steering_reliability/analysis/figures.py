"""The study's figures (docs/protocol.md), drawn with seaborn, saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from steering_reliability.run.artifacts import atomic_path  # noqa: E402

sns.set_theme(style="whitegrid", context="paper")
# SVG element ids are hashed from this salt instead of a random one: identical files across runs.
matplotlib.rcParams["svg.hashsalt"] = "steering-reliability"
# seaborn draws strip-plot jitter from numpy's global generator and bootstraps regression bands
# with its own: both are seeded so that a figure is a function of its data alone.
SEED = 0


def save_figure(figure: plt.Figure, png: str | Path, svg: str | Path) -> None:
    figure.tight_layout()
    for path, fmt in ((png, "png"), (svg, "svg")):
        with atomic_path(path) as partial:
            # No date or software version in the files: identical bytes across runs.
            metadata = {"Date": None} if fmt == "svg" else {"Software": None}
            figure.savefig(partial, format=fmt, dpi=150, metadata=metadata)
    plt.close(figure)


def _height(n_datasets: int) -> float:
    return max(3.0, 0.28 * n_datasets + 1.2)


def steerability_distribution(items: pd.DataFrame, model: str) -> plt.Figure:
    """Figure 1: per-item steerability per dataset, datasets ordered by median."""
    order = items.groupby("dataset")["slope"].median().sort_values(ascending=False).index
    figure, axis = plt.subplots(figsize=(9, _height(len(order))))
    np.random.seed(SEED)
    sns.boxplot(data=items, y="dataset", x="slope", order=order, color="#a6cee3", fliersize=0, ax=axis)
    sns.stripplot(data=items, y="dataset", x="slope", order=order, size=2, color="#1f3b57", alpha=0.6, ax=axis)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set(
        xlabel="per-item steerability (slope of logit difference on multiplier)",
        ylabel="",
        title=f"Steerability per item: {model}",
    )
    return figure


def _rho_text(row) -> str:
    """rho with its 95% interval and n, for legends and titles."""
    interval = "" if pd.isna(row["ci_low"]) else f" [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
    return f"rho = {row['spearman_rho']:.2f}{interval}, n = {int(row['n_datasets'])}"


def anti_steerable_fraction(summary: pd.DataFrame, model: str) -> plt.Figure:
    """Figure 2: fraction of items with slope <= 0 per dataset, with its 95% bootstrap interval; in a counterbalanced
    study (slopes: the behaviour's), also the fraction of items at or below 0 in both answer orders."""
    ordered = summary.sort_values("anti_steerable_fraction", ascending=False).reset_index(drop=True)
    figure, axis = plt.subplots(figsize=(9, _height(len(ordered))))
    positions = range(len(ordered))
    axis.barh(positions, ordered["anti_steerable_fraction"], color="#fb9a99", label="slope <= 0")
    axis.errorbar(
        ordered["anti_steerable_fraction"],
        positions,
        xerr=[
            ordered["anti_steerable_fraction"] - ordered["anti_steerable_fraction_ci_low"],
            ordered["anti_steerable_fraction_ci_high"] - ordered["anti_steerable_fraction"],
        ],
        fmt="none",
        ecolor="black",
        elinewidth=0.8,
        capsize=2,
        label="95% bootstrap interval",
    )
    if "anti_steerable_both_orders_fraction" in ordered:
        axis.barh(
            positions,
            ordered["anti_steerable_both_orders_fraction"],
            color="#e31a1c",
            label="slope <= 0 in both answer orders",
        )
    axis.set_yticks(list(positions), ordered["dataset"])
    axis.invert_yaxis()
    axis.set(xlim=(0, 1), xlabel="fraction of test items", ylabel="", title=f"Anti-steerable items: {model}")
    axis.legend(loc="lower right", fontsize=7)
    return figure


def variance_explained(bias: pd.DataFrame, model: str) -> plt.Figure:
    """Figure 3: share of slope variance explained by A/B and Yes/No (stacked), per dataset, with the
    95% bootstrap interval of each share drawn at the end of its segment."""
    ordered = bias.sort_values(["share_ab", "share_yes_no"], ascending=True).reset_index(drop=True)
    figure, axis = plt.subplots(figsize=(9, _height(len(ordered))))
    left = pd.Series(0.0, index=ordered.index)
    for column, label, colour in (
        ("share_ab", "A/B position", "#1f78b4"),
        ("share_yes_no", "Yes/No", "#33a02c"),
        ("share_residual", "unexplained", "#d9d9d9"),
    ):
        axis.barh(ordered["dataset"], ordered[column], left=left, label=label, color=colour)
        if f"{column}_ci_low" in ordered:
            end = left + ordered[column]
            axis.errorbar(
                end,
                ordered["dataset"],
                xerr=[
                    (ordered[column] - ordered[f"{column}_ci_low"]).clip(lower=0).fillna(0),
                    (ordered[f"{column}_ci_high"] - ordered[column]).clip(lower=0).fillna(0),
                ],
                fmt="none",
                ecolor="black",
                elinewidth=0.7,
                capsize=1.5,
            )
        left = left + ordered[column]
    small = ordered[ordered["shares_small_n"]]["dataset"].tolist()
    axis.set(
        xlim=(0, 1),
        xlabel="share of per-item steerability variance (whiskers: 95% bootstrap intervals)",
        ylabel="",
        title=f"Variance explained by spurious factors: {model}" + (" (n too small for shares)" if small else ""),
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
    """Figure 5: per-dataset ID steerability against OOD steerability for each shift, with Spearman rho
    and its interval; the paper's headline shift first, drawn larger."""
    rho = correlations[correlations["kind"] == "id_vs_ood"].set_index("setting")
    shifts = [column for column in table.columns if "->" in column]
    long = table.melt(id_vars=["dataset", "id"], value_vars=shifts, var_name="shift", value_name="ood")
    labels = {
        shift: f"{shift}{' (headline)' if i == 0 else ''}: {_rho_text(rho.loc[shift])}"
        for i, shift in enumerate(shifts)
    }
    long["shift"] = long["shift"].map(labels)
    figure, axis = plt.subplots(figsize=(7, 5.5))
    axis.axhline(0, color="grey", linewidth=0.6)
    axis.axvline(0, color="grey", linewidth=0.6)
    _identity_line(axis, pd.concat([long["id"], long["ood"]]))
    sizes = {label: (60 if i == 0 else 25) for i, label in enumerate(labels.values())}
    sns.scatterplot(data=long, x="id", y="ood", hue="shift", style="shift", size="shift", sizes=sizes, ax=axis)
    pooled = rho.loc["all shifts (pooled)"]
    axis.set(
        xlabel="ID steerability (baseline vector, baseline prompts)",
        ylabel="OOD steerability (train variant -> test variant)",
        title=f"ID vs OOD steerability: {model}\nall shifts pooled: {_rho_text(pooled)} (datasets resampled whole)",
    )
    axis.legend(fontsize=6, loc="upper left")
    return figure


def relative_steerability(relative: pd.DataFrame, correlation: pd.Series, model: str) -> plt.Figure:
    """Figure 6: relative steerability against the unsteered logit-difference gap (kept rows)."""
    kept = relative[relative["kept"]]
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    axis.axhline(0, color="grey", linewidth=0.6)
    axis.axhline(1, color="grey", linewidth=0.6, linestyle=":")
    if len(kept) >= 2:
        sns.regplot(
            data=kept, x="unsteered_gap", y="relative_steerability", scatter=False, color="black", seed=SEED, ax=axis
        )
    sns.scatterplot(data=kept, x="unsteered_gap", y="relative_steerability", hue="test_variant", ax=axis)
    axis.set(
        xlabel="mean |unsteered logit difference (test prompt) - (train prompt)|",
        ylabel="relative steerability s(v_train, D_test) / |s(v_test, D_test)|",
        title=(
            f"Relative steerability: {model}\n({_rho_text(correlation)} datasets; "
            f"{int(correlation['n_points'])} pairs kept, {int(correlation['n_dropped'])} dropped)"
        ),
    )
    return figure


def cross_model(id_table: pd.DataFrame, ood_table: pd.DataFrame, spearman: pd.DataFrame) -> plt.Figure:
    """Figure 7: per-dataset steerability of one model against another, ID and OOD."""
    pairs = list(spearman[["model_a", "model_b"]].drop_duplicates().itertuples(index=False))
    figure, axes = plt.subplots(len(pairs), 2, figsize=(10, 4.5 * len(pairs)), squeeze=False)
    rows = spearman.set_index(["model_a", "model_b", "setting"])
    for row, (model_a, model_b) in enumerate(pairs):
        for column, (setting, table) in enumerate((("ID", id_table), ("OOD", ood_table))):
            axis = axes[row][column]
            wide = table.pivot(index="dataset", columns="model", values="steerability").dropna()
            note = rows.loc[(model_a, model_b, setting)].get("note", "")
            note = note if isinstance(note, str) else ""
            if wide.empty or model_a not in wide or model_b not in wide or note:
                axis.set_axis_off()
                if note:
                    axis.text(0.5, 0.5, f"{setting}: {model_a} vs {model_b}\n{note}", ha="center", wrap=True)
                continue
            _identity_line(axis, pd.concat([wide[model_a], wide[model_b]]))
            sns.regplot(x=wide[model_a], y=wide[model_b], seed=SEED, ax=axis)
            axis.set(
                xlabel=f"{model_a} steerability",
                ylabel=f"{model_b} steerability",
                title=f"{setting}: {_rho_text(rows.loc[(model_a, model_b, setting)])}",
            )
    return figure


def geometry(
    table: pd.DataFrame, steerability: pd.DataFrame, items: pd.DataFrame, correlations: pd.DataFrame, model: str
) -> plt.Figure:
    """Figure 8: each activation-geometry diagnostic of the baseline prompts against the dataset's ID
    steerability, and per item the cosine of its own activation difference with the vector against its slope."""
    from steering_reliability.analysis.geometry import DIAGNOSTICS

    baseline = table[table["variant"] == "baseline"].merge(steerability, on="dataset")
    rho = correlations.set_index("diagnostic")
    figure, axes = plt.subplots(1, len(DIAGNOSTICS) + 1, figsize=(4 * (len(DIAGNOSTICS) + 1), 4))
    for axis, diagnostic in zip(axes, DIAGNOSTICS):
        sns.scatterplot(data=baseline, x=diagnostic, y="mean_steerability", ax=axis)
        axis.set(
            xlabel=diagnostic.replace("_", " "), ylabel="ID mean steerability", title=_rho_text(rho.loc[diagnostic])
        )
    item_row = rho.loc["item difference_cosine"]
    sns.scatterplot(data=items, x="difference_cosine", y="slope", hue="dataset", legend=False, s=10, ax=axes[-1])
    axes[-1].axhline(0, color="grey", linewidth=0.6)
    axes[-1].set(
        xlabel="cosine(item's activation difference, vector)",
        ylabel="item steerability",
        title=f"per item: {_rho_text(item_row)}\nAUROC for steerable items {item_row['auroc_steerable']:.2f}",
    )
    figure.suptitle(f"Geometry of the training activations against steerability: {model}")
    return figure


def ood_vector_cosines(cosines: pd.DataFrame, model: str) -> plt.Figure:
    """Figure 9: cosine similarity of the six OOD vectors of each dataset (the paper code's heatmap)."""
    datasets = list(dict.fromkeys(cosines["dataset"]))
    columns = min(4, len(datasets))
    rows = (len(datasets) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.2 * rows), squeeze=False)
    for axis, dataset in zip(axes.flat, datasets):
        matrix = cosines[cosines["dataset"] == dataset].pivot(index="vector_a", columns="vector_b", values="cosine")
        order = list(dict.fromkeys(cosines[cosines["dataset"] == dataset]["vector_a"]))
        sns.heatmap(
            matrix.loc[order, order],
            vmin=-1,
            vmax=1,
            center=0,
            cmap="RdBu_r",
            annot=True,
            fmt=".2f",
            annot_kws={"size": 5},
            cbar=False,
            ax=axis,
        )
        axis.set(title=dataset[:40], xlabel="", ylabel="")
        axis.tick_params(labelsize=6)
    for axis in list(axes.flat)[len(datasets) :]:
        axis.set_axis_off()
    figure.suptitle(f"Cosine similarity of the OOD steering vectors: {model}")
    return figure


def layer_sweep(per_layer: pd.DataFrame, chosen_layer: int, model: str) -> plt.Figure:
    """Appendix figure A1: mean steerability per layer, one curve per dataset and their mean; a counterbalanced
    sweep (``layers.layer_steerability``) has the behaviour's curves and, beside them, the position effect's."""
    panels = [("mean_steerability", "mean steerability")]
    if "mean_abs_position_effect" in per_layer:
        panels = [
            ("mean_steerability", "behaviour: mean steerability"),
            ("mean_abs_position_effect", "position: mean |p|"),
        ]
    figure, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False)
    for axis, (column, label) in zip(axes.flat, panels):
        sns.lineplot(data=per_layer, x="layer", y=column, hue="dataset", alpha=0.45, linewidth=0.9, ax=axis)
        mean = per_layer.groupby("layer")[column].mean()
        axis.plot(mean.index, mean.values, color="black", linewidth=2.2, label="mean over datasets")
        axis.axvline(chosen_layer, color="#e31a1c", linestyle="--", linewidth=1, label=f"steering layer {chosen_layer}")
        axis.axhline(0, color="grey", linewidth=0.6)
        axis.set(xlabel="layer", ylabel=label, title=f"Layer sweep: {model}")
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


# Colours of the real vector methods (vector_names.METHODS) and shades of the nulls' ranges.
METHOD_COLOURS = {"caa": "#1f78b4", "pca": "#33a02c", "probe": "#e31a1c", "whitened": "#ff7f00"}
NULL_SHADES = {"random": "#bdbdbd", "shuffled": "#fdbf6f"}


def against_null(methods: pd.DataFrame, nulls: pd.DataFrame, quantity: str, label: str, model: str) -> plt.Figure:
    """Figures 10 and 11: ``quantity`` per dataset for every real method (dot and 95% bootstrap interval), over the
    2.5-97.5 percentile range of each null's draws (shaded band, tick at the draws' mean). Datasets are ordered by
    CAA's value."""
    real = methods[methods["draw"].isna()]
    order = real[real["method"] == "caa"].sort_values(quantity)["dataset"].tolist()
    position = {dataset: index for index, dataset in enumerate(order)}
    shown = [method for method in METHOD_COLOURS if method in set(real["method"])]
    figure, axis = plt.subplots(figsize=(9, _height(len(order))))
    caa = nulls[nulls["method"] == "caa"].set_index("dataset")
    for null, shade in NULL_SHADES.items():
        if f"{quantity}_{null}_low" not in caa:
            continue
        y = np.array([position[dataset] for dataset in caa.index])
        axis.barh(
            y,
            caa[f"{quantity}_{null}_high"] - caa[f"{quantity}_{null}_low"],
            left=caa[f"{quantity}_{null}_low"],
            height=0.7,
            color=shade,
            alpha=0.6,
            label=f"{null} null: 2.5-97.5% of {int(caa[f'{null}_draws'].iloc[0])} draws",
        )
        axis.scatter(caa[f"{quantity}_{null}_mean"], y, marker="|", color="black", s=60, linewidths=0.8)
    offsets = np.linspace(-0.25, 0.25, len(shown)) if len(shown) > 1 else [0.0]
    for offset, method in zip(offsets, shown):
        rows = real[real["method"] == method]
        y = rows["dataset"].map(position).to_numpy() + offset
        axis.errorbar(
            rows[quantity],
            y,
            xerr=[
                (rows[quantity] - rows[f"{quantity}_ci_low"]).clip(lower=0),
                (rows[f"{quantity}_ci_high"] - rows[quantity]).clip(lower=0),
            ],
            fmt="o",
            markersize=3,
            color=METHOD_COLOURS[method],
            elinewidth=0.7,
            capsize=1.5,
            label=method,
        )
    if quantity == "mean_steerability":
        axis.axvline(0, color="grey", linewidth=0.6)
    axis.set_yticks(range(len(order)), order)
    axis.set(ylim=(-0.6, len(order) - 0.4), xlabel=f"{label} (whiskers: 95% bootstrap intervals)", ylabel="")
    axis.set_title(f"{label[0].upper()}{label[1:]} of each vector method against chance\n{model}")
    axis.legend(loc="best", fontsize=7)
    return figure
