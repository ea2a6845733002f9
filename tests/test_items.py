"""Dataset preparation on the real mirrored files."""

from __future__ import annotations

import json

import pytest

from steering_reliability.items import (
    PERSONA,
    dataset_kind_and_path,
    pinned_checksums,
    selected,
    split_items,
)
from steering_reliability.sources import read_manifest, sha256_of

from conftest import load_real_items


def test_pinned_checksums_match_the_mirror_manifest(datasets_dir):
    mirror = read_manifest(datasets_dir / "MANIFEST.sha256")
    pinned = pinned_checksums()
    assert pinned, "no pinned checksums shipped with the package"
    for path, digest in pinned.items():
        assert mirror[path] == digest, path
    # and the mirror's bytes really are those files
    assert sha256_of(datasets_dir / "caa/sycophancy/test_dataset.json") == pinned["caa/sycophancy/test_dataset.json"]


def test_the_papers_40_datasets_all_resolve(datasets_dir):
    paper = json.loads((datasets_dir / "repepo/persona_prompts.json").read_text())["paper_datasets"]
    kinds = [dataset_kind_and_path(entry["name"])[0] for entry in paper]
    assert len(kinds) == 40
    assert kinds.count(PERSONA) == 21
    assert kinds.count("advanced_ai_risk") == 16


def test_persona_prompt_follows_the_repepo_swap_pattern(datasets_dir):
    items = load_real_items(datasets_dir, "anti-LGBTQ-rights")
    first = json.loads((datasets_dir / "anthropic-evals/persona/anti-LGBTQ-rights.jsonl").read_text().splitlines()[0])
    # item 0: swapped (0 // 2 % 2 == 0), so the matching " Yes" goes second, at (B)
    assert first["answer_matching_behavior"] == " Yes"
    assert items[0].question == first["question"] + "\n\nChoices:\n(A): No\n(B): Yes"
    assert (items[0].positive_answer, items[0].negative_answer) == ("(B)", "(A)")
    assert items[0].positive_is_a is False and items[0].positive_is_yes is True
    # item 2 is not swapped: the matching answer is (A)
    assert items[2].positive_is_a is True
    assert items[2].question.endswith(
        f"(A): {'Yes' if items[2].positive_is_yes else 'No'}\n(B): {'No' if items[2].positive_is_yes else 'Yes'}"
    )


@pytest.mark.parametrize("name", ["anti-LGBTQ-rights", "subscribes-to-Hinduism", "narcissism"])
def test_persona_items_balance_ab_and_yes_no(datasets_dir, name):
    items = load_real_items(datasets_dir, name)
    cells = {(a, y): 0 for a in (True, False) for y in (True, False)}
    for item in items:
        cells[(item.positive_is_a, item.positive_is_yes)] += 1
    for count in cells.values():
        assert abs(count / len(items) - 0.25) < 0.03, cells


def test_advanced_ai_risk_keeps_letters_and_strips_meta_tags(datasets_dir):
    items = load_real_items(datasets_dir, "coordinate-other-ais")
    raw = [
        json.loads(line)
        for line in (datasets_dir / dataset_kind_and_path("coordinate-other-ais")[1]).read_text().splitlines()
    ]
    closed = [index for index, record in enumerate(raw) if "<META_END>" in record["question"]]
    assert closed, "expected tagged questions in this file"
    assert all("<META_END>" not in items[index].question for index in closed)
    assert (
        "ama_highlights_testing.py"
        not in items[next(i for i in closed if "ama_highlights" in raw[i]["question"])].question
    )
    for item, record in zip(items, raw):
        assert item.positive_answer == record["answer_matching_behavior"].strip()
        assert item.positive_is_yes is None


def test_truthfulqa_alternates_the_correct_answer(datasets_dir):
    items = load_real_items(datasets_dir, "truthfulqa")
    assert len(items) == 817
    assert items[0].positive_answer == "(B)" and items[1].positive_answer == "(A)"
    assert items[0].question.startswith(
        "What is the smallest country in the world that is at least one square mile in area?\n\n(A) "
    )
    assert "(B) Nauru is the smallest country" in items[0].question


def test_sycophancy_sets_are_separate_datasets(datasets_dir):
    assert len(load_real_items(datasets_dir, "sycophancy_test")) == 120
    assert len(load_real_items(datasets_dir, "sycophancy_train")) == 1080


def test_split_is_seeded_disjoint_and_capped(datasets_dir):
    items = load_real_items(datasets_dir, "myopic-reward")
    table = split_items(items, seed=0, max_items=40)
    again = split_items(items, seed=0, max_items=40)
    assert table.equals(again)
    train, test = selected(table, "train"), selected(table, "test")
    assert len(train) == len(test) == 20
    assert not set(train["item_id"]) & set(test["item_id"])
    assert len(table) == len(items)  # capped-out items stay, marked unselected
    assert set(table[table["split"] == "train"]["item_id"]).isdisjoint(table[table["split"] == "test"]["item_id"])


def test_repo_exact_split_overlaps_train_like_the_paper_code(datasets_dir):
    items = load_real_items(datasets_dir, "myopic-reward")
    table = split_items(items, seed=0, split="repo-exact")
    train = set(table[table["split"] == "train"]["item_id"])
    test = table[table["split"] == "test"]
    assert len(test) == len(items) - 50
    assert len(train & set(test["item_id"])) == len(items) // 2 - 50
