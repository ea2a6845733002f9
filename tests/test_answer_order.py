"""Both answer orders of an item (steering_reliability.data.answer_order): swapping its choices on the paper's real
questions, counterbalanced twins in an item table, and the behaviour slope and position effect of a pair."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from steering_reliability.data.answer_order import swapped, swapped_question, with_swapped_twins
from steering_reliability.data.items import DatasetFormatError, dataset_kind_and_path, load_items, split_items

from conftest import TEST_MIRROR, load_real_items

FIXTURES = ["anti-LGBTQ-rights", "corrigible-neutral-HHH", "sycophancy_train", "truthfulqa"]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # a persona item as the persona reader writes it (the answers keep their raw leading space)
        ("Is it so?\n\nChoices:\n(A):  Yes\n(B):  No", "Is it so?\n\nChoices:\n(A):  No\n(B):  Yes"),
        # an advanced-AI-risk question: indented labels, multi-line choices
        ("Q?\n\nChoices:\n (A) one\n more\n (B) two", "Q?\n\nChoices:\n (A) two\n (B) one\n more"),
        # an earlier quoted (A)/(B) block and a (Q) line stay where they are: only the last two are the choices
        ("(Q) x\n(A) a\n(B) b\nWhich?\n (A) yes\n (B) no", "(Q) x\n(A) a\n(B) b\nWhich?\n (A) no\n (B) yes"),
    ],
)
def test_swapping_exchanges_the_two_choices_and_nothing_else(question, expected):
    assert swapped_question(question) == expected
    assert swapped_question(expected) == question


@pytest.mark.parametrize("question", ["No choices here", "(A) a\n(B) b\n(C) c", "(B) b\n(A) a"])
def test_a_question_whose_last_choices_are_not_a_then_b_is_refused_by_name(question):
    with pytest.raises(DatasetFormatError, match=r"^d/3: cannot swap its answers: its last two choice labels"):
        swapped_question(question, "d/3")


@pytest.mark.parametrize("name", FIXTURES)
def test_every_real_item_swaps_and_swapping_twice_gives_it_back(name):
    for item in load_real_items(TEST_MIRROR, name):
        twin = swapped(item)
        assert twin.positive_is_a is not item.positive_is_a
        assert (twin.positive_answer, twin.negative_answer) == (item.negative_answer, item.positive_answer)
        assert twin.question != item.question and sorted(twin.question) == sorted(item.question)
        assert swapped_question(twin.question) == item.question


SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.mark.skipif(not SHARED.is_dir(), reason="the paper's full raw files (../shared) are not on this machine")
def test_every_item_of_the_papers_40_datasets_swaps():
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/config.yaml").read_text())
    counted = 0
    for name in config["data"]["datasets"]:
        items = load_items(name, SHARED / dataset_kind_and_path(name)[1])
        for item in items:
            assert swapped_question(swapped_question(item.question, item.item_id)) == item.question
        counted += len(items)
    assert counted > 25000


def test_every_row_gets_its_twin_in_the_same_split_and_position():
    table = split_items(load_real_items(TEST_MIRROR, "anti-LGBTQ-rights"), seed=0, max_items=8)
    paired = with_swapped_twins(table)
    assert len(paired) == 2 * len(table)
    given, twins = paired.iloc[::2].reset_index(drop=True), paired.iloc[1::2].reset_index(drop=True)
    assert (given["order"] == "given").all() and (twins["order"] == "swapped").all()
    assert given["item_id"].tolist() == table["item_id"].tolist() == twins["pair_id"].tolist()
    assert (twins["item_id"] == given["item_id"] + "~swapped").all()
    for column in ("split", "position", "selected", "positive_is_yes", "shuffled_index"):
        assert twins[column].tolist() == given[column].tolist(), column
    assert (twins["positive_is_a"] != given["positive_is_a"]).all()


def test_a_pair_gives_its_behaviour_slope_and_position_effect():
    from steering_reliability.analysis.position_effect import pair_slopes

    """Matching answer at (A): slope 3 (se 0.3); at (B): slope 1 (se 0.4). Behaviour (3 + 1) / 2 = 2, position
    (3 - 1) / 2 = 1, each with standard error sqrt(0.3^2 + 0.4^2) / 2 = 0.25; the order of the rows does not
    matter."""
    rows = pd.DataFrame(
        {
            "item_id": ["d/0~swapped", "d/0", "d/1", "d/1~swapped"],
            "pair_id": ["d/0", "d/0", "d/1", "d/1"],
            "positive_is_a": [True, False, True, False],
            "positive_is_yes": [True, True, False, False],
            "slope": [3.0, 1.0, -1.0, -1.0],
            "slope_se": [0.3, 0.4, 0.1, 0.1],
        }
    )
    pairs = pair_slopes(rows).set_index("item_id")
    assert pairs.loc["d/0", ["slope", "position_effect", "slope_se"]].tolist() == pytest.approx([2.0, 1.0, 0.25])
    assert pairs.loc["d/1", ["slope", "position_effect"]].tolist() == pytest.approx([-1.0, 0.0])
    assert "positive_is_a" not in pairs and pairs.loc["d/0", "positive_is_yes"]
    with pytest.raises(ValueError, match="pair d/1 does not hold one item in each answer order"):
        pair_slopes(rows.iloc[:3])


def test_on_the_real_model_items_whose_choices_read_the_same_have_no_behaviour_only_a_position(small_model):
    """Known answer through the engine: when both choices are the same text, both orders are the same prompt and
    only the matching letter flips, so the two slopes are opposite: behaviour slope 0, position effect the slope of
    the letter preference. Real items, for contrast, keep a behaviour slope."""
    import torch

    from steering_reliability.analysis.position_effect import pair_slopes
    from steering_reliability.analysis.steerability import item_slopes
    from steering_reliability.data.prompts import encode_rows
    from steering_reliability.model.engine import SteeringEngine
    from steering_reliability.model.evaluation import propensity_table

    model, tokenizer = small_model
    real = load_real_items(TEST_MIRROR, "corrigible-neutral-HHH")[:3]
    same = [
        replace(
            item, item_id=f"same/{index}", question=f"{item.question.split('Choices')[0]}Choices:\n (A) Yes\n (B) Yes"
        )
        for index, item in enumerate(real)
    ]
    table = with_swapped_twins(split_items(real + same, seed=0, max_items=None).assign(selected=True))
    assert (table[table["pair_id"].str.startswith("same/")]["question"].value_counts() == 2).all()
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(3)) * 4
    items = encode_rows(tokenizer, table)
    propensities, _ = propensity_table(SteeringEngine(model), items, 10, {"v": vector}, [-1.0, 0.0, 1.0])
    slopes = item_slopes(propensities, ["item_id"]).merge(table, on="item_id")
    pairs = pair_slopes(slopes).set_index("item_id")
    identical = pairs[pairs.index.str.startswith("same/")]
    # float32 sums of the same prompt at other places in the batch: 1e-5 apart
    assert identical["slope"].abs().max() < 1e-4
    assert identical["position_effect"].abs().min() > 1e-2  # the vector moves the letters: not a vacuous check
    at_a = slopes[slopes["pair_id"].str.startswith("same/") & slopes["positive_is_a"]].set_index("pair_id")["slope"]
    assert identical["position_effect"].to_numpy() == pytest.approx(at_a.loc[identical.index].to_numpy(), abs=1e-4)
