"""The out-of-distribution, layer-sweep, cross-model and summary computations on constructed inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from steering_reliability.analysis import ood
from steering_reliability.analysis.comparison import cross_model_spearman
from steering_reliability.analysis.layers import eligible_layers, layer_steerability, pick_layer, sweep_rows
from steering_reliability.analysis.steerability import multiplier_range_steerability
from steering_reliability.data.variants import SHIFTS, VARIANTS, variant_prompt
from steering_reliability.model.vectors import ood_vectors, rescale_to_norm

MULTIPLIERS = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


def test_ood_vectors_are_built_as_in_the_paper_code():
    """The mean of the five vectors as trained, then every vector rescaled to the baseline's norm."""
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
    for name in vectors:
        assert float(vectors[name].norm()) == pytest.approx(5.0)
    assert torch.equal(vectors["baseline"], baseline)
    assert vectors["SYS_pos"].tolist() == pytest.approx([0.0, 0.0, 5.0])
    assert vectors["PT_neg"].tolist() == pytest.approx([-3.0, -4.0, 0.0])  # direction kept
    # by hand: mean of the raw five = ((3,4,0) + (0,0,2) + (0,10,0) + (1,0,0) + (-6,-8,0)) / 5 = (-0.4, 1.2, 0.4),
    # norm sqrt(0.16 + 1.44 + 0.16) = sqrt(1.76); rescaled to norm 5
    scale = 5 / 1.76**0.5
    assert vectors["mean"].tolist() == pytest.approx([-0.4 * scale, 1.2 * scale, 0.4 * scale])
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
    from steering_reliability.data.variants import VariantPrompt

    return VariantPrompt(system, prefix)


def test_spearman_on_constructed_data():
    from steering_reliability.analysis.statistics import spearman

    x = [1, 2, 3, 4, 5]
    assert spearman(x, [10, 20, 30, 40, 1000], 100, 0).value == pytest.approx(1.0)  # monotone, not linear
    assert spearman(x, [5, 4, 3, 2, 1], 100, 0).value == pytest.approx(-1.0)
    # ties: ranks of y are (1, 2, 3.5, 5, 3.5); Pearson of ranks by hand
    ranks_y = np.array([1, 2, 3.5, 5, 3.5])
    expected = np.corrcoef(np.arange(1, 6), ranks_y)[0, 1]
    assert spearman(x, [5, 6, 7, 8, 7], 100, 0).value == pytest.approx(expected)
    assert np.isnan(spearman([1, 2], [2, 1], 100, 0).value)


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
    slopes[("SYS_pos", "SYS_pos")] = -0.2  # |denominator| <= 0.25: dropped under either rule
    slopes[("SYS_neg", "SYS_neg")] = -0.6  # strongly anti-steerable: dropped by the paper's signed rule only
    unsteered = {variant: [0.0, 0.0, 0.0, 0.0] for variant in VARIANTS}
    unsteered["PT_neg"] = [1.0, -1.0, 2.0, 0.0]
    items = _items(slopes, unsteered)
    settings = ood.steerability_by_setting(items)
    absolute = ood.relative_steerability(items, settings, "absolute").set_index(["train_variant", "test_variant"])
    assert absolute.loc[("PT_pos", "SYS_neg"), "kept"] and absolute["kept"].sum() == 20
    relative = ood.relative_steerability(items, settings).set_index(["train_variant", "test_variant"])
    assert len(relative) == 25
    row = relative.loc[("baseline", "PT_neg")]
    assert row["relative_steerability"] == pytest.approx(-0.3 / 0.6)
    assert row["unsteered_gap"] == pytest.approx((1 + 1 + 2 + 0) / 4)  # mean absolute per-item difference
    assert bool(row["kept"])
    assert not relative.loc[("PT_pos", "SYS_pos"), "kept"]
    assert relative.loc[("PT_pos", "SYS_pos"), "relative_steerability"] == pytest.approx(0.5 / 0.2)
    assert not relative.loc[("PT_pos", "SYS_neg"), "kept"]
    correlation = ood.relative_steerability_correlation(relative.reset_index(), 100, 0)
    assert correlation["n_points"] == 15 and correlation["n_dropped"] == 10


def test_the_ood_tables_of_each_method_are_those_of_its_own_vectors():
    """ood.methods [caa, pca] on constructed items of 5 datasets: CAA's vectors steer in the order of the datasets
    ID and out of distribution (rho 1); pca's OOD shifts reverse it (rho -1). The stacked tables keep each
    method's rows apart, CAA's equal to the CAA-only tables, and the in-distribution-only directions are left out."""
    frames = []
    for index in range(5):
        for train in [*VARIANTS, "mean"]:
            for test in VARIANTS:
                caa = float(index + 1)
                pca = caa if (train, test) == ("baseline", "baseline") else float(5 - index)
                for method, slope in (("caa", caa), ("pca", pca)):
                    vector = train if method == "caa" else f"pca:{train}"
                    frame = _items({(vector, test): slope}, {test: [0.0, 0.1, 0.2, 0.3]})
                    frames.append(frame.assign(dataset=f"d{index}"))
        frames.append(_items({("method.pca", "baseline"): 9.0}, {"baseline": [0.0] * 4}).assign(dataset=f"d{index}"))
    by_method = ood.method_items(pd.concat(frames, ignore_index=True))
    assert list(by_method) == ["caa", "pca"] and not by_method["caa"]["vector"].str.contains(r"[.:]").any()
    tables = {method: ood.study_tables(items, "signed", 200, 0) for method, items in by_method.items()}
    stacked = ood.with_method_column(tables, "correlations")
    headline = stacked[stacked["setting"] == "SYS_pos -> PT_neg"].set_index("method")["spearman_rho"]
    assert headline["caa"] == pytest.approx(1.0) and headline["pca"] == pytest.approx(-1.0)
    pd.testing.assert_frame_equal(
        stacked[stacked["method"] == "caa"].drop(columns="method").reset_index(drop=True), tables["caa"]["correlations"]
    )
    assert list(ood.with_method_column(tables, "id_vs_ood").columns[:2]) == ["method", "dataset"]


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
    assert SHIFTS[0] == ("SYS_pos", "PT_neg")  # the paper's headline shift comes first
    correlations = pd.DataFrame(ood.id_ood_correlations(table, 200, 0)).set_index("setting")["spearman_rho"]
    assert correlations["SYS_pos -> PT_neg"] == pytest.approx(1.0)
    assert correlations["baseline -> PT_neg"] == pytest.approx(-1.0)
    assert "all shifts (pooled)" in correlations


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
    assert pick_layer(per_layer, eligible=[0, 2]) == 2  # layer 1 left out of the range
    tied = pd.DataFrame({"dataset": ["x", "x"], "layer": [3, 5], "mean_steerability": [0.7, 0.7]})
    assert pick_layer(tied) == 3
    # the default range leaves out the last quarter: of 30 layers, 0..22
    assert eligible_layers(30, [0.0, 0.75]) == list(range(23))
    with pytest.raises(ValueError, match="leaves no layer"):
        eligible_layers(4, [0.9, 1.0])


def test_a_counterbalanced_sweep_gives_the_behaviour_curve_and_the_position_curve():
    # pair slopes: the order with the matching answer at (A) has slope b + p, the other b - p
    known = {("x", 0): (0.0, 0.6), ("x", 1): (0.3, -0.2), ("y", 0): (0.1, 0.4), ("y", 1): (0.5, 0.0)}
    rows = []
    for (dataset, layer), (behaviour, position) in known.items():
        for pair in ("i0", "i1"):
            for order, at_a, slope in (("given", True, behaviour + position), ("swapped", False, behaviour - position)):
                item = pair if order == "given" else pair + "~swapped"
                for multiplier in (-1.0, 1.0):
                    rows.append(
                        {
                            "dataset": dataset,
                            "layer": layer,
                            "item_id": item,
                            "pair_id": pair,
                            "order": order,
                            "positive_is_a": at_a,
                            "multiplier": multiplier,
                            "logit_diff": 1.0 + slope * multiplier,
                        }
                    )
    per_layer = layer_steerability(pd.DataFrame(rows)).set_index(["dataset", "layer"])
    assert per_layer["mean_steerability"].to_dict() == pytest.approx({key: b for key, (b, _) in known.items()})
    assert per_layer["mean_abs_position_effect"].to_dict() == pytest.approx({k: abs(p) for k, (_, p) in known.items()})
    # the letter-moving layer 0 of "x" (slopes +0.6 and -0.6) no longer looks like steering: layer 1 is picked
    assert pick_layer(per_layer.reset_index()) == 1


def test_sweep_slices_read_percentages_of_the_shuffle_as_the_paper_code_does():
    table = pd.DataFrame({"item_id": [f"i{k}" for k in range(45)], "shuffled_index": list(range(44, -1, -1))})
    train = sweep_rows(table, [0, 10], None)
    # 10% of 45 items is item 10 * 45 // 100 = 4: shuffle positions 0..3
    assert list(train["item_id"]) == ["i44", "i43", "i42", "i41"]
    test = sweep_rows(table, [20, 30], None)  # positions 9..12
    assert list(test["shuffled_index"]) == [9, 10, 11, 12]
    assert len(sweep_rows(table, [20, 30], 2)) == 2
    with pytest.raises(ValueError, match="is empty"):
        sweep_rows(table, [0, 1], None)
    # counterbalanced: the same items' slices, each item followed by its swapped twin; the cap counts items
    from steering_reliability.data.answer_order import ORDERS

    paired = pd.concat(
        [
            table.assign(pair_id=table["item_id"], order=ORDERS[0]),
            table.assign(pair_id=table["item_id"], item_id=table["item_id"] + "~swapped", order=ORDERS[1]),
        ]
    )
    rows = sweep_rows(paired, [0, 10], 2)
    assert list(rows["item_id"]) == ["i44", "i44~swapped", "i43", "i43~swapped"]


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
    table = cross_model_spearman(id_table, id_table.iloc[0:0], 100, 0).set_index("setting")
    assert table.loc["ID", "spearman_rho"] == pytest.approx(-1.0)
    assert table.loc["ID", "n_datasets"] == 3
    assert table.loc["OOD", "n_datasets"] == 0


def test_verdicts_compare_only_the_same_model_under_the_papers_protocol():
    from steering_reliability.analysis.summary import Run, verdict, with_verdicts

    row = {"model": "llama", "quantity": "spearman_id_vs_ood", "ci_low": 0.80, "ci_high": 0.95, "note": ""}
    paper_run = Run({"llama": "meta-llama/Llama-2-7b-chat-hf"}, "paper-exact", 100, 0)
    assert verdict(row, paper_run) == (
        "Llama-2-7b-chat 0.891; Qwen1.5-14B-Chat 0.694",
        "consistent",
    )
    assert verdict({**row, "ci_high": 0.85}, paper_run)[1] == "inconsistent"
    assert verdict({**row, "note": "n too small: only 3 datasets"}, paper_run)[1] == "not testable (n too small)"
    default_run = Run({"llama": "meta-llama/Llama-2-7b-chat-hf"}, "default", 100, 0)
    assert verdict(row, default_run)[1] == "not comparable: this run's protocol is not paper-exact"
    small_run = Run({"llama": "embedded:qwen2.5-coder-0.5b-instruct"}, "paper-exact", 100, 0)
    assert verdict(row, small_run)[1].startswith("not comparable: the paper's value is for")
    # a value read off a bar chart (+-0.02) and a "more than" claim
    fraction = {"model": "llama", "quantity": "anti_steerable_fraction[myopic-reward]", "note": ""}
    assert verdict({**fraction, "ci_low": 0.20, "ci_high": 0.48}, paper_run)[1] == "consistent"  # 0.49 - 0.02
    assert verdict({**fraction, "ci_low": 0.20, "ci_high": 0.46}, paper_run)[1] == "inconsistent"
    share = {"model": "llama", "quantity": "share_ab[myopic-reward]", "note": "", "ci_low": 0.3, "ci_high": 0.6}
    assert verdict(share, paper_run)[1] == "consistent"
    pair = {"model": "a vs b", "quantity": "cross_model_rho_ID", "ci_low": 0.6, "ci_high": 0.9, "note": ""}
    both = Run({"a": "Qwen/Qwen1.5-14B-Chat", "b": "meta-llama/Llama-2-7b-chat-hf"}, "paper-exact", 100, 0)
    assert verdict(pair, both)[1] == "consistent"  # 0.77, the pair in either order
    table = with_verdicts([row, {**row, "quantity": "n_datasets"}], paper_run)
    assert list(table["verdict"]) == ["consistent", ""]


def test_findings_follow_the_sign_of_the_interval():
    from steering_reliability.analysis.summary import findings

    summary = pd.DataFrame(
        [
            {
                "model": "m",
                "quantity": "spearman_id_vs_ood",
                "value": 0.6,
                "ci_low": 0.2,
                "ci_high": 0.9,
                "n": 12,
                "note": "",
            },
            {
                "model": "m",
                "quantity": "relative_steerability_vs_gap_rho",
                "value": -0.1,
                "ci_low": -0.4,
                "ci_high": 0.2,
                "n": 12,
                "note": "",
            },
            {
                "model": "a vs b",
                "quantity": "cross_model_rho_ID",
                "value": 0.5,
                "ci_low": 0.1,
                "ci_high": 0.8,
                "n": 3,
                "note": "n too small: only 3 datasets",
            },
        ]
    )
    steerability = pd.DataFrame(
        {
            "dataset": ["d1", "d2"],
            "mean_steerability_ci_low": [0.1, -0.2],
            "anti_steerable_fraction_ci_low": [0.05, 0.3],
        }
    )
    bias = pd.DataFrame({"shares_small_n": [False], "share_ab_ci_low": [0.55], "share_yes_no_ci_low": [0.0]})
    found = findings(summary, {"m": steerability}, {"m": bias}).set_index("finding")["verdict"]
    verdicts = list(found)
    assert verdicts[0] == "reproduced"  # F1: the steered dataset's anti-steerable share is above 0 (interval)
    assert verdicts[1] == "reproduced"  # F2: A/B share >= 0.5 at the lower end of its interval
    assert verdicts[2] == "reproduced"  # F3: interval above 0
    assert found.index[2].startswith("F3") and "12 datasets" in findings(summary.assign(n=12.0), {}, {})["evidence"][0]
    assert verdicts[3].startswith("inconclusive")  # F4: interval contains 0
    assert verdicts[4] == "not testable (n too small)"
    # no rho is printed for 3 datasets (nor a 'nan' interval): the count and what a correlation needs
    f5 = findings(summary, {"m": steerability}, {"m": bias}).iloc[4]
    assert f5["finding"].startswith("F5"), f5
    assert f5["evidence"] == "3 dataset(s); a rank correlation with an interval needs at least 5", f5
    # counterbalanced: F1 reads the share anti-steerable in both orders, F2 the position share
    counterbalanced = steerability.assign(
        anti_steerable_both_orders_fraction=[0.0, 0.3],
        anti_steerable_both_orders_fraction_ci_low=[0.0, 0.2],
        position_share=[0.3, 0.9],
    )
    found = findings(summary, {"m": counterbalanced}, {"m": bias.assign(dataset=["d1"])})
    assert list(found["verdict"])[:2] == ["not reproduced", "not reproduced"]
    assert "in both answer orders" in found["evidence"].iloc[0] and "position share" in found["evidence"].iloc[1]
    assert (
        list(
            findings(
                summary, {"m": counterbalanced.assign(position_share=[0.6, 0.9])}, {"m": bias.assign(dataset=["d1"])}
            )["verdict"]
        )[1]
        == "reproduced"
    )


def test_the_summary_says_when_a_model_steers_nothing_or_format_dominates_and_leaves_it_out_of_the_comparison():
    from steering_reliability.analysis.comparison import cross_model_spearman, long_table
    from steering_reliability.analysis.format_effects import format_lines, format_rows
    from steering_reliability.analysis.summary import Run, comparison_rows, findings, with_verdicts

    run = Run({"a": "x", "b": "y"}, "default", 500, 0)
    # model a: steers d1 and d2; d1 mostly position, d2 mostly Yes/No, d3 neither
    a = pd.DataFrame(
        {
            "dataset": ["d1", "d2", "d3", "d4", "d5"],
            "mean_steerability": [0.3, 0.2, 0.0, 0.01, 0.02],
            "mean_steerability_ci_low": [0.1, 0.05, -0.1, -0.1, -0.1],
            "position_share": [0.8, 0.1, 0.2, 0.4, 0.3],
        }
    )
    bias = pd.DataFrame({"dataset": ["d1", "d2", "d3", "d4", "d5"], "share_yes_no": [0.0, 0.7, 0.1, float("nan"), 0.2]})
    rows = {row["quantity"]: row for row in format_rows("a", a, bias, run, layer=7)}
    assert (rows["steered_datasets"]["value"], rows["steered_datasets"]["n"]) == (2, 5)
    assert rows["format_dominated_datasets"]["value"] == 2
    assert "1 by its position (position share" in rows["format_dominated_datasets"]["note"]
    assert "1 by its Yes/No word" in rows["format_dominated_datasets"]["note"]
    # model b steers nothing: said plainly, and its pair with a gets no correlation
    b = a.assign(mean_steerability_ci_low=-0.1, mean_steerability=[0.0, 0.01, 0.02, 0.0, 0.01])
    silent = {row["quantity"]: row for row in format_rows("b", b, bias, run, layer=0)}
    assert silent["steered_datasets"]["value"] == 0
    assert silent["steered_datasets"]["note"].startswith("THIS MODEL STEERS NO DATASET at layer 0")
    id_table = long_table({"a": a, "b": b}, "mean_steerability")
    spearman = cross_model_spearman(id_table, id_table.iloc[0:0], 200, 0, silent=("b",))
    assert spearman["spearman_rho"].isna().all() and spearman["note"].str.contains("b steers no dataset").all()
    summary = with_verdicts(comparison_rows(spearman) + list(rows.values()) + list(silent.values()), run)
    verdicts = findings(summary, {}, {}).set_index("finding")["verdict"]
    assert set(verdicts) == {"not tested (a model steers no dataset)"}
    lines = "\n".join(format_lines(summary))
    assert "**a**: steers 2 of 5 datasets" in lines and "**b**: steers 0 of 5 datasets (THIS MODEL STEERS NO" in lines
