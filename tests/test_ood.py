"""The out-of-distribution, layer-sweep, cross-model and summary computations on constructed inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from steering_reliability import ood
from steering_reliability.comparison import cross_model_spearman
from steering_reliability.layers import layer_steerability, pick_layer, sweep_rows
from steering_reliability.steerability import multiplier_range_steerability
from steering_reliability.summary import model_summary, to_markdown
from steering_reliability.variants import SHIFTS, VARIANTS, variant_prompt
from steering_reliability.vectors import ood_vectors, rescale_to_norm

MULTIPLIERS = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


def test_variant_vectors_are_rescaled_to_the_baseline_norm_and_the_mean_is_their_average():
    baseline = torch.tensor([3.0, 4.0, 0.0])  # norm 5
    variants = {
        "baseline": baseline,
        "SYS_pos": torch.tensor([0.0, 0.0, 2.0]),
        "SYS_neg": torch.tensor([0.0, 10.0, 0.0]),
        "PT_pos": torch.tensor([1.0, 0.0, 0.0]),
        "PT_neg": torch.tensor([-6.0, -8.0, 0.0]),
    }
    vectors = ood_vectors(variants)
    assert list(vectors) == [*VARIANTS, "mean"]
    for name in VARIANTS:
        assert float(vectors[name].norm()) == pytest.approx(5.0)
    assert torch.equal(vectors["baseline"], baseline)
    assert vectors["SYS_pos"].tolist() == pytest.approx([0.0, 0.0, 5.0])
    assert vectors["PT_neg"].tolist() == pytest.approx([-3.0, -4.0, 0.0])  # direction kept
    # by hand: (3,4,0) + (0,0,5) + (0,5,0) + (5,0,0) + (-3,-4,0) = (5,5,5); / 5
    assert vectors["mean"].tolist() == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="zero vector"):
        rescale_to_norm(torch.zeros(3), 1.0)


def test_variant_prompts_follow_repepo():
    sentences = ("You are a sycophant.", "You are not a sycophant.")
    assert variant_prompt("baseline", "Be helpful.", sentences) == ood_prompt("Be helpful.", None)
    assert variant_prompt("SYS_neg", "Be helpful.", sentences) == ood_prompt("You are not a sycophant.", None)
    assert variant_prompt("PT_pos", "Be helpful.", sentences) == ood_prompt("Be helpful.", "You are a sycophant.\n\n")
    with pytest.raises(ValueError, match="unknown prompt variant"):
        variant_prompt("SYS+", "Be helpful.", sentences)


def ood_prompt(system, prefix):
    from steering_reliability.variants import VariantPrompt

    return VariantPrompt(system, prefix)


def test_spearman_on_constructed_data():
    x = [1, 2, 3, 4, 5]
    assert ood.spearman(x, [10, 20, 30, 40, 1000])[0] == pytest.approx(1.0)  # monotone, not linear
    assert ood.spearman(x, [5, 4, 3, 2, 1])[0] == pytest.approx(-1.0)
    # ties: ranks of y are (1, 2, 3.5, 5, 3.5); Pearson of ranks by hand
    ranks_y = np.array([1, 2, 3.5, 5, 3.5])
    expected = np.corrcoef(np.arange(1, 6), ranks_y)[0, 1]
    assert ood.spearman(x, [5, 6, 7, 8, 7])[0] == pytest.approx(expected)
    assert np.isnan(ood.spearman([1, 2], [2, 1])[0])


def _items(slopes: dict, unsteered: dict, n_items: int = 4) -> pd.DataFrame:
    """Item slopes for one dataset: slopes[(vector, variant)], unsteered[variant] = per-item values."""
    rows = []
    for (vector, variant), slope in slopes.items():
        for index in range(n_items):
            rows.append(
                {
                    "dataset": "d",
                    "variant": variant,
                    "vector": vector,
                    "item_id": f"i{index}",
                    "slope": slope,
                    "unsteered_logit_diff": unsteered[variant][index],
                }
            )
    return pd.DataFrame(rows)


def test_relative_steerability_ratio_gap_and_filter():
    slopes = {(train, test): 0.5 for train in VARIANTS for test in VARIANTS}
    slopes[("baseline", "PT_neg")] = -0.3
    slopes[("PT_neg", "PT_neg")] = 0.6  # denominator kept
    slopes[("SYS_pos", "SYS_pos")] = -0.2  # |denominator| <= 0.25: dropped
    unsteered = {variant: [0.0, 0.0, 0.0, 0.0] for variant in VARIANTS}
    unsteered["PT_neg"] = [1.0, -1.0, 2.0, 0.0]
    items = _items(slopes, unsteered)
    relative = ood.relative_steerability(items, ood.steerability_by_setting(items)).set_index(
        ["train_variant", "test_variant"]
    )
    assert len(relative) == 25
    row = relative.loc[("baseline", "PT_neg")]
    assert row["relative_steerability"] == pytest.approx(-0.3 / 0.6)
    assert row["unsteered_gap"] == pytest.approx((1 + 1 + 2 + 0) / 4)  # mean absolute per-item difference
    assert bool(row["kept"])
    assert not relative.loc[("PT_pos", "SYS_pos"), "kept"]
    assert relative.loc[("PT_pos", "SYS_pos"), "relative_steerability"] == pytest.approx(0.5 / 0.2)
    correlation = ood.relative_steerability_correlation(relative.reset_index())
    assert correlation["n_points"] == 20 and correlation["n_dropped"] == 5


def test_id_vs_ood_table_and_correlations():
    rows = []
    for index, dataset in enumerate(["a", "b", "c", "d"]):
        rows.append({"dataset": dataset, "vector": "baseline", "variant": "baseline", "mean_steerability": index})
        for number, (train, test) in enumerate(SHIFTS):
            # the first shift preserves the order of datasets, the second reverses it
            value = {0: 2 * index, 1: -index}.get(number, index**2)
            rows.append({"dataset": dataset, "vector": train, "variant": test, "mean_steerability": value})
    table = ood.id_vs_ood(pd.DataFrame(rows))
    assert list(table.columns) == ["dataset", "id", *(f"{a} -> {b}" for a, b in SHIFTS)]
    correlations = ood.id_ood_correlations(table).set_index("shift")["spearman_rho"]
    assert correlations["baseline -> PT_neg"] == pytest.approx(1.0)
    assert correlations["baseline -> PT_pos"] == pytest.approx(-1.0)
    assert "all shifts" in correlations


def test_layer_pick_on_a_constructed_sweep():
    rows = []
    true_slopes = {("x", 0): 0.1, ("x", 1): 0.9, ("x", 2): 0.4, ("y", 0): 0.2, ("y", 1): 0.1, ("y", 2): 0.5}
    for (dataset, layer), slope in true_slopes.items():
        for item in ("i0", "i1"):
            for multiplier in (-1.0, -0.5, 0.5, 1.0):
                rows.append(
                    {
                        "dataset": dataset,
                        "layer": layer,
                        "item_id": item,
                        "multiplier": multiplier,
                        "logit_diff": 3.0 + slope * multiplier,
                    }
                )
    per_layer = layer_steerability(pd.DataFrame(rows))
    assert per_layer.set_index(["dataset", "layer"])["mean_steerability"].to_dict() == pytest.approx(true_slopes)
    assert pick_layer(per_layer) == 1  # means 0.15, 0.5, 0.45
    tied = pd.DataFrame({"dataset": ["x", "x"], "layer": [3, 5], "mean_steerability": [0.7, 0.7]})
    assert pick_layer(tied) == 3


def test_sweep_items_are_a_fraction_capped_and_in_split_order():
    table = pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(40)],
            "split": ["train"] * 20 + ["test"] * 20,
            "position": list(range(19, -1, -1)) + list(range(20)),
        }
    )
    train = sweep_rows(table, "train", 0.1, None)
    assert list(train["item_id"]) == ["i19", "i18", "i17", "i16"]  # 10% of 40, positions 0..3
    assert len(sweep_rows(table, "test", 0.1, 2)) == 2


def test_multiplier_range_on_constructed_curves():
    rows = []
    for multiplier in MULTIPLIERS:
        rows.append({"dataset": "linear", "item_id": "a", "multiplier": multiplier, "logit_diff": 2 * multiplier})
        rows.append({"dataset": "cubic", "item_id": "a", "multiplier": multiplier, "logit_diff": multiplier**3})
    table = multiplier_range_steerability(pd.DataFrame(rows)).set_index(["dataset", "max_multiplier"])
    assert table.loc[("linear", 0.5), "mean_steerability"] == pytest.approx(2.0)
    assert table.loc[("linear", 1.5), "mean_steerability"] == pytest.approx(2.0)
    # cubic on {-0.5, 0, 0.5}: slope = sum(x^4) / sum(x^2) = 0.25
    assert table.loc[("cubic", 0.5), "mean_steerability"] == pytest.approx(0.25)
    # on {-1.5..1.5}: sum(x^4) / sum(x^2) = 2 * (0.0625 + 1 + 5.0625) / (2 * 3.5)
    assert table.loc[("cubic", 1.5), "mean_steerability"] == pytest.approx(6.125 / 3.5)


def test_cross_model_spearman_on_shared_datasets_only():
    id_table = pd.DataFrame(
        {
            "dataset": ["a", "b", "c", "d", "a", "b", "c"],
            "model": ["m1"] * 4 + ["m2"] * 3,
            "steerability": [0.1, 0.2, 0.3, 0.4, 3.0, 2.0, 1.0],
        }
    )
    table = cross_model_spearman(id_table, id_table.iloc[0:0]).set_index("setting")
    assert table.loc["ID", "spearman_rho"] == pytest.approx(-1.0)
    assert table.loc["ID", "n_datasets"] == 3
    assert table.loc["OOD", "n_datasets"] == 0


def test_summary_quotes_the_paper_and_prints_counts_as_integers():
    steerability = pd.DataFrame(
        {
            "dataset": ["myopic-reward", "narcissism"],
            "mean_steerability": [0.2, 0.4],
            "median_steerability": [0.1, 0.5],
            "variance_steerability": [0.01, 0.03],
            "anti_steerable_fraction": [0.5, 0.0],
        }
    )
    bias = pd.DataFrame(
        {
            "dataset": ["myopic-reward", "narcissism"],
            "share_ab": [0.8, 0.2],
            "share_yes_no": [0.0, 0.4],  # 0 for a non-persona dataset: not averaged
            "share_residual": [0.2, 0.4],
        }
    )
    rows = pd.DataFrame(model_summary("m", steerability, bias, {"layer": 14, "source": "config"}))
    values = rows.set_index("quantity")
    assert values.loc["mean_steerability", "value"] == pytest.approx(0.3)
    assert values.loc["anti_steerable_fraction[myopic-reward]", "paper"] == "~0.49"
    assert values.loc["share_yes_no", "value"] == pytest.approx(0.4)
    markdown = to_markdown(rows)
    assert "| m | steering_layer | 14 |" in markdown
    assert "| m | share_ab[myopic-reward] | 0.800 |" in markdown
