"""Dataset preparation on the real raw files (their first items, tests/data/mirror)."""

from __future__ import annotations

import json

import pytest
import yaml

from steering_reliability.data.answer_order import with_design
from steering_reliability.data.items import PERSONA, dataset_kind_and_path, known_datasets, selected, split_items
from steering_reliability.data.sources import PERSONA_PROMPTS_SOURCE, pinned_checksums, read_manifest, sha256_of

from conftest import REPO, load_real_items


def test_every_raw_file_is_pinned_and_the_test_mirror_matches_its_manifest(datasets_dir):
    pinned = pinned_checksums()
    assert len(known_datasets()) == 155
    for name in known_datasets():
        assert len(pinned[dataset_kind_and_path(name)[1]]) == 64, name
    assert pinned[PERSONA_PROMPTS_SOURCE] == "127e02cac1065f902657897cf75e1325b9d92fecc48dde5a299bb25f2e0a912c"
    trimmed = read_manifest(datasets_dir / "MANIFEST.sha256")
    for path, digest in trimmed.items():
        assert sha256_of(datasets_dir / path) == digest, path
        assert path in pinned, path  # the same files as upstream, only shorter
        if path.endswith((".jsonl", ".json", ".py")):
            assert digest != pinned[path], f"{path} is trimmed, so its checksum differs from the full file's"


def test_the_papers_40_datasets_all_resolve():
    for config in ("config.yaml", "paper.yaml"):
        datasets = yaml.safe_load((REPO / "config" / config).read_text())["data"]["datasets"]
        kinds = [dataset_kind_and_path(name)[0] for name in datasets]
        assert len(kinds) == 40
        assert kinds.count(PERSONA) == 21
        assert kinds.count("advanced_ai_risk") == 16


def test_persona_prompt_follows_the_repepo_swap_pattern(datasets_dir):
    items = load_real_items(datasets_dir, "anti-LGBTQ-rights")
    first = json.loads((datasets_dir / "anthropic-evals/persona/anti-LGBTQ-rights.jsonl").read_text().splitlines()[0])
    # item 0: swapped (0 // 2 % 2 == 0), so the matching " Yes" goes second, at (B); the raw answers keep
    # their leading space, as in the paper's code: "(A):  No" with two spaces
    assert first["answer_matching_behavior"] == " Yes"
    assert items[0].question == first["question"] + "\n\nChoices:\n(A):  No\n(B):  Yes"
    assert (items[0].positive_answer, items[0].negative_answer) == ("(B)", "(A)")
    assert items[0].positive_is_a is False and items[0].positive_is_yes is True
    # item 2 is not swapped: the matching answer is (A)
    assert items[2].positive_is_a is True
    assert items[2].question.endswith(
        f"(A):  {'Yes' if items[2].positive_is_yes else 'No'}\n(B):  {'No' if items[2].positive_is_yes else 'Yes'}"
    )


@pytest.mark.parametrize("name", ["anti-LGBTQ-rights", "subscribes-to-Hinduism", "narcissism"])
def test_persona_items_balance_ab_and_yes_no(datasets_dir, name):
    items = load_real_items(datasets_dir, name)
    cells = {(a, y): 0 for a in (True, False) for y in (True, False)}
    for item in items:
        cells[(item.positive_is_a, item.positive_is_yes)] += 1
    for count in cells.values():
        assert abs(count / len(items) - 0.25) <= 0.05, cells


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
    assert len(items) == 40  # the first 40 of the 817
    assert items[0].positive_answer == "(B)" and items[1].positive_answer == "(A)"
    assert items[0].question.startswith(
        "What is the smallest country in the world that is at least one square mile in area?\n\n(A) "
    )
    assert "(B) Nauru is the smallest country" in items[0].question


def test_sycophancy_sets_are_separate_datasets(datasets_dir):
    test, train = load_real_items(datasets_dir, "sycophancy_test"), load_real_items(datasets_dir, "sycophancy_train")
    assert len(test) == len(train) == 40  # the first 40 of 120 and of 1080
    assert test[0].question != train[0].question


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


def test_prepared_dataset_loads_with_the_datasets_library_and_with_pandas(datasets_dir, tmp_path):
    """The documented call gives a typed datasets.Dataset; pandas reads the same rows; bytes are stable."""
    import datasets
    import pandas as pd

    from steering_reliability.data.prepared import FEATURES, write_prepared

    table = with_design(split_items(load_real_items(datasets_dir, "anti-LGBTQ-rights"), seed=0, max_items=8), False)
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_prepared(table, "anti-LGBTQ-rights", first)
    write_prepared(table, "anti-LGBTQ-rights", second)
    assert first.read_bytes() == second.read_bytes()
    dataset = datasets.Dataset.from_parquet(str(first), cache_dir=str(tmp_path / "cache"))
    assert dataset.features == FEATURES and len(dataset) == len(table)
    assert dataset[0]["question"] == table.iloc[0]["question"] and dataset[0]["split"] == "train"
    assert dataset.filter(lambda row: row["selected"] and row["split"] == "test").num_rows == 4
    frame = pd.read_parquet(first)
    assert list(frame["item_id"]) == list(table["item_id"])
    assert frame["positive_is_yes"].tolist() == table["positive_is_yes"].tolist()
    # counterbalanced (data.counterbalance): each row followed by its swapped twin, the same features
    write_prepared(with_design(table, True), "anti-LGBTQ-rights", tmp_path / "c.parquet")
    paired = pd.read_parquet(tmp_path / "c.parquet")
    assert len(paired) == 2 * len(table) and paired["order"].tolist() == ["given", "swapped"] * len(table)


def test_prepared_dataset_keeps_null_yes_no_factors(datasets_dir, tmp_path):
    from steering_reliability.data.prepared import as_dataset

    table = with_design(split_items(load_real_items(datasets_dir, "truthfulqa"), seed=0, max_items=8), False)
    dataset = as_dataset(table, "truthfulqa")
    assert set(dataset["positive_is_yes"]) == {None}


def test_a_raw_file_that_is_not_utf8_or_is_empty_is_named(tmp_path):
    from steering_reliability.data.items import DatasetFormatError, load_items

    broken = tmp_path / "anti-LGBTQ-rights.jsonl"
    broken.write_bytes(b'{"question": "ok"}\n{"question": "caf\xe9"}\n')
    with pytest.raises(DatasetFormatError, match=r"anti-LGBTQ-rights\.jsonl:line 2: not UTF-8 text"):
        load_items("anti-LGBTQ-rights", broken)
    broken.write_bytes(b"")
    with pytest.raises(DatasetFormatError, match=r"anti-LGBTQ-rights\.jsonl: no records \(dataset anti-LGBTQ-rights\)"):
        load_items("anti-LGBTQ-rights", broken)
    truthful = tmp_path / "mc_task.json"
    truthful.write_bytes(b'[\n{"question": "a"},\n{"question": "\xff"}\n]')
    with pytest.raises(DatasetFormatError, match=r"mc_task\.json:line 3: not UTF-8 text"):
        load_items("truthfulqa", truthful)
