"""A dataset's layout for the study (steering_reliability.data.design): under the default protocol each dataset
draws its own answer order and shuffle; under paper-exact every dataset of a size shares the paper's pattern."""

from __future__ import annotations

import hashlib
import random

import pytest

from steering_reliability.data.answer_order import swapped_question
from steering_reliability.data.design import dataset_seed, design_settings, drawn_order, study_table

from conftest import TEST_MIRROR, load_real_items

# three persona files of the same length in the test mirror (48 records each)
PERSONAS = ["anti-LGBTQ-rights", "narcissism", "subscribes-to-Hinduism"]


def _settings(name: str, protocol: str, counterbalance: bool = False) -> dict:
    data = {"seed": 0, "split": "disjoint", "max_items": None, "counterbalance": counterbalance, "user_datasets": {}}
    return design_settings({"protocol": protocol, "data": data}, name)


def _cells(name: str, protocol: str) -> list[tuple[bool, bool]]:
    """The (matching answer at A, matching answer is Yes) cell at each place of the dataset's shuffle."""
    table = study_table(load_real_items(TEST_MIRROR, name), _settings(name, protocol))
    ordered = table.sort_values("shuffled_index")
    return list(zip(ordered["positive_is_a"], ordered["positive_is_yes"]))


def test_a_dataset_seed_is_sha256_of_seed_name_and_purpose():
    expected = int.from_bytes(hashlib.sha256(b"0/narcissism/order").digest()[:8], "big")
    assert dataset_seed(0, "narcissism", "order") == expected
    seeds = {dataset_seed(s, n, p) for s in (0, 1) for n in PERSONAS for p in ("order", "shuffle")}
    assert len(seeds) == 12


def test_paper_exact_gives_same_length_persona_files_one_factor_pattern_and_the_default_does_not():
    paper = [_cells(name, "paper-exact") for name in PERSONAS]
    assert paper[0] == paper[1] == paper[2]  # the shared pattern of the paper's rules (docs/protocol.md, section 2)
    own = [_cells(name, "default") for name in PERSONAS]
    for first, second in [(own[0], own[1]), (own[0], own[2]), (own[1], own[2])]:
        agree = sum(a == b for a, b in zip(first, second)) / len(first)
        assert agree < 0.6  # independent designs: a quarter of the 4 cells agree by chance (0.25 expected)


def test_the_drawn_order_puts_half_of_each_yes_no_stratum_at_a_and_keeps_ids_and_questions():
    items = load_real_items(TEST_MIRROR, "narcissism")
    drawn = drawn_order(items, random.Random(3))
    assert [item.item_id for item in drawn] == [item.item_id for item in items]
    for stratum in (True, False):
        members = [item for item in drawn if item.positive_is_yes is stratum]
        assert sum(item.positive_is_a for item in members) == (len(members) + 1) // 2
    for before, after in zip(items, drawn):
        if before.positive_is_a == after.positive_is_a:
            assert after == before
        else:  # moved: the same question with its two choices exchanged
            assert after.question == swapped_question(before.question)
            assert after.positive_answer == before.negative_answer
    assert drawn == drawn_order(items, random.Random(3))
    assert drawn != drawn_order(items, random.Random(4))


@pytest.mark.parametrize("name", ["corrigible-neutral-HHH", "sycophancy_train"])
def test_questions_written_with_their_choices_keep_their_authors_order_but_get_their_own_shuffle(name):
    items = load_real_items(TEST_MIRROR, name)
    default = study_table(items, _settings(name, "default"))
    by_id = {item.item_id: item for item in items}
    assert all(row.question == by_id[row.item_id].question for row in default.itertuples())
    paper = study_table(items, _settings(name, "paper-exact"))
    assert list(default["item_id"]) != list(paper["item_id"])


def test_truthfulqa_order_is_drawn_under_the_default_protocol():
    settings = _settings("truthfulqa", "default")
    assert settings["draw_order"]
    assert not _settings("truthfulqa", "paper-exact")["draw_order"]


def test_a_counterbalanced_table_holds_both_orders_of_every_item():
    items = load_real_items(TEST_MIRROR, "narcissism")
    table = study_table(items, _settings("narcissism", "default", counterbalance=True))
    assert len(table) == 2 * 48
    assert (table.groupby("pair_id")["positive_is_a"].sum() == 1).all()
