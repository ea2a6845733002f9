"""A user's own datasets (data.user_datasets): the two item forms read from JSONL, CSV and Parquet through a column
mapping give exactly the items the built-in readers give for the same records; every bad row is named by file, line
(or row) and field before any compute; a hub dataset is pinned by its commit, and a missing revision, a gated or a
missing dataset each get their own line (against tests/fake_hub.py, through the workflow's own rules)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from steering_reliability.data.items import DatasetFormatError, dataset_kind_and_path, load_items
from steering_reliability.data.study_datasets import id_only_datasets, ood_datasets
from steering_reliability.data.user_datasets import user_items
from steering_reliability.run.config import ConfigError, check_config

from conftest import REPO, TEST_CHECKSUMS, TEST_MIRROR, with_defaults, workflow_command
from fake_hub import FakeHub, Repo

EXAMPLE = REPO / "examples" / "admits-uncertainty" / "admits-uncertainty.jsonl"
PERSONA = "anti-LGBTQ-rights"
LETTERS = "coordinate-other-ais"  # trimmed myopic-reward repeats 10 of its 120 questions: a user's may not


def _records(name: str) -> list[dict]:
    path = TEST_MIRROR / dataset_kind_and_path(name)[1]
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _same_items(ours, built_in) -> None:
    """The items agree in everything but the dataset name in their ids."""
    assert len(ours) == len(built_in)
    for mine, theirs in zip(ours, built_in):
        assert replace(mine, item_id=theirs.item_id) == theirs


def _write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_statement_rows_from_jsonl_give_the_persona_readers_items(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text((TEST_MIRROR / dataset_kind_and_path(PERSONA)[1]).read_text())
    built_in = load_items(PERSONA, TEST_MIRROR / dataset_kind_and_path(PERSONA)[1])
    _same_items(user_items("mine", {"form": "statement"}, path), built_in)
    assert built_in[0].positive_is_yes is not None


def test_choices_rows_from_csv_with_other_column_names_give_the_letter_readers_items(tmp_path):
    rows = [
        {
            "prompt": r["question"],
            "good": r["answer_matching_behavior"].strip("() "),
            "bad": r["answer_not_matching_behavior"],
        }
        for r in _records(LETTERS)
    ]
    path = _write_csv(tmp_path / "mine.csv", rows)
    entry = {"form": "choices", "columns": {"question": "prompt", "matching": "good", "not_matching": "bad"}}
    ours = user_items("mine", entry, path)
    _same_items(ours, load_items(LETTERS, TEST_MIRROR / dataset_kind_and_path(LETTERS)[1]))
    assert {item.positive_is_a for item in ours} == {True, False}  # "A" and "(B)" both read as letters


def test_parquet_rows_and_the_example_dataset(tmp_path):
    path = tmp_path / "mine.parquet"
    pd.DataFrame(_records(PERSONA)).to_parquet(path)
    _same_items(
        user_items("mine", {"form": "statement"}, path),
        load_items(PERSONA, TEST_MIRROR / dataset_kind_and_path(PERSONA)[1]),
    )
    example = user_items("admits-uncertainty", {"form": "statement"}, EXAMPLE)
    assert len(example) == 60
    # the example alternates Yes- and No-matching rows, so the layout covers A/B x Yes/No evenly
    cells = pd.Series([(item.positive_is_a, item.positive_is_yes) for item in example]).value_counts()
    assert len(cells) == 4 and set(cells) == {15}


# One small broken file per class of bad row: (file name, content, the message's pattern)
GOOD = '{"question": "Q%d", "answer_matching_behavior": " Yes", "answer_not_matching_behavior": " No"}'
CHOICE = "Which?\\n(A) one\\n(B) two"
BAD_ROWS = {
    "missing field": (
        "m.jsonl",
        GOOD % 1 + '\n{"question": "Q2", "answer_not_matching_behavior": " No"}\n',
        r"m\.jsonl:line 2: missing field 'answer_matching_behavior'",
    ),
    "empty field": (
        "e.csv",
        "question,answer_matching_behavior,answer_not_matching_behavior\nQ1,Yes,No\n ,Yes,No\n",
        r"e\.csv:line 3: field 'question' is empty",
    ),
    "not Yes/No": (
        "y.jsonl",
        (GOOD % 1).replace(" Yes", "Maybe") + "\n",
        r"y\.jsonl:line 1: answer 'Maybe' is not Yes or No",
    ),
    "same answers": ("s.jsonl", (GOOD % 1).replace(" No", " Yes") + "\n", r"s\.jsonl:line 1: fields .* are both 'Yes'"),
    "duplicated item": (
        "d.jsonl",
        "\n".join([GOOD % 1, GOOD % 2, GOOD % 1]) + "\n",
        r"d\.jsonl:line 3: field 'question' repeats the question of line 1",
    ),
    "not UTF-8": ("u.jsonl", None, r"u\.jsonl:line 2: not UTF-8 text"),
    "malformed JSON": ("j.jsonl", GOOD % 1 + "\n{not json\n", r"j\.jsonl:line 2: malformed JSON"),
    "letter not a choice": (
        "c.jsonl",
        json.dumps(
            {
                "question": CHOICE.replace("\\n", "\n"),
                "answer_matching_behavior": "(C)",
                "answer_not_matching_behavior": "(A)",
            }
        )
        + "\n",
        r"c\.jsonl:line 1: field 'answer_matching_behavior' is \(C\), not among the question's choices: \(A\), \(B\)",
    ),
    "not a letter": (
        "l.csv",
        'question,answer_matching_behavior,answer_not_matching_behavior\n"Which?\n(A) one\n(B) two",yes,A\n',
        r"l\.csv:line 4: field 'answer_matching_behavior' is 'yes', not a choice letter",
    ),
    "a row too many fields": (
        "f.csv",
        "question,answer_matching_behavior,answer_not_matching_behavior\nQ,Yes,No,extra\n",
        r"f\.csv:line 2: more fields than the header's columns",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_every_bad_row_is_named_by_file_line_and_field_before_compute(case, tmp_path):
    name, content, pattern = BAD_ROWS[case]
    path = tmp_path / name
    if content is None:
        path.write_bytes((GOOD % 1 + "\n").encode() + b'{"question": "caf\xe9"}\n')
    else:
        path.write_text(content, encoding="utf-8")
    form = "choices" if case in ("letter not a choice", "not a letter") else "statement"
    with pytest.raises(ConfigError, match=r"data\.user_datasets\.mine: .*" + pattern):
        check_config(with_defaults(_config(tmp_path, {"file": str(path), "form": form})))


def test_a_parquet_row_that_is_not_text_is_named_by_its_row(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame(
        {
            "question": ["Q1", "Q2"],
            "answer_matching_behavior": ["Yes", "No"],
            "answer_not_matching_behavior": ["No", None],
        }
    ).to_parquet(path)
    with pytest.raises(DatasetFormatError, match=r"p\.parquet:row 1: missing field 'answer_not_matching_behavior'"):
        user_items("mine", {"form": "statement"}, path)


def _config(tmp_path: Path, entry: dict | None = None, name: str = "mine", **data) -> dict:
    config = {
        "data": {"datasets": [name, PERSONA], "mirror": str(TEST_MIRROR), "checksums": str(TEST_CHECKSUMS), **data},
        "models": {"m": {"source": "embedded", "id": "smollm2-135m-instruct", "layer": 3}},
        "steering": {"multipliers": [-1.0, 0.0, 1.0]},
    }
    config["data"]["user_datasets"] = {name: entry or {"file": str(EXAMPLE), "form": "statement"}}
    return config


@pytest.mark.parametrize(
    ("name", "entry", "pattern"),
    [
        (
            "myopic-reward",
            None,
            r"data\.user_datasets\.myopic-reward: 'myopic-reward' is the name of a built-in dataset",
        ),
        ("../up", None, r"data\.user_datasets\.\.\./up: '\.\./up' is not a safe dataset name"),
        (
            "mine",
            {"file": "nowhere.jsonl", "form": "statement"},
            r"data\.user_datasets\.mine\.file: nowhere\.jsonl is not a file",
        ),
        (
            "mine",
            {"file": "rows.txt", "form": "statement"},
            r"data\.user_datasets\.mine\.file: rows\.txt is not a \.jsonl, \.csv",
        ),
    ],
)
def test_a_name_or_file_that_cannot_be_a_dataset_is_refused(name, entry, pattern, tmp_path):
    with pytest.raises(ConfigError, match=pattern):
        check_config(with_defaults(_config(tmp_path, entry, name=name)))


def test_too_few_items_for_the_split_are_refused_before_compute(tmp_path):
    path = tmp_path / "few.jsonl"
    path.write_text("\n".join(GOOD % index for index in range(6)) + "\n")
    with pytest.raises(ConfigError, match=r"data\.user_datasets\.mine: .*few\.jsonl has 6 items, which give 3 test"):
        check_config(with_defaults(_config(tmp_path, {"file": str(path), "form": "statement"})))
    path.write_text("\n".join(GOOD % index for index in range(8)) + "\n")
    check_config(with_defaults(_config(tmp_path, {"file": str(path), "form": "statement"})))


def test_the_ood_study_takes_a_user_dataset_only_with_persona_sentences(tmp_path):
    config = _config(tmp_path)
    config["ood"] = {"datasets": "all"}
    checked = with_defaults(config)
    check_config(checked)
    assert ood_datasets(checked) == [PERSONA] and id_only_datasets(checked) == ["mine"]
    config["ood"] = {"datasets": ["mine"]}
    with pytest.raises(
        ConfigError, match=r"ood\.datasets: 'mine' has no persona sentences: give data\.user_datasets\.mine\.persona"
    ):
        check_config(with_defaults(config))
    config["data"]["user_datasets"]["mine"]["persona"] = {
        "positive": "You say when you are unsure.",
        "negative": "You never do.",
    }
    checked = with_defaults(config)
    check_config(checked)
    assert ood_datasets(checked) == ["mine"]


# --- a dataset on the hub, through the workflow's fetch_hub_dataset and build_dataset rules
HUB_ID = "org/admits-uncertainty"
HUB_COMMIT = hashlib.sha1(b"org/admits-uncertainty: the served commit").hexdigest()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A dataset repo in the hub's usual layout (one Parquet file per split), a copy with a bad row, a gated one."""
    root = tmp_path_factory.mktemp("hub_datasets")
    rows = [json.loads(line) for line in EXAMPLE.read_text().splitlines()]
    good, broken = root / "good", root / "broken"
    for folder, test_rows in ((good, rows), (broken, rows[:5] + [{**rows[5], "question": ""}] + rows[6:])):
        (folder / "data").mkdir(parents=True)
        pd.DataFrame(rows[:10]).to_parquet(folder / "data" / "train-00000-of-00001.parquet")
        pd.DataFrame(test_rows).to_parquet(folder / "data" / "test-00000-of-00001.parquet")
        (folder / "README.md").write_text("# a dataset for the tests\n")
    repos = [
        Repo(HUB_ID, good, HUB_COMMIT, repo_type="dataset"),
        Repo("org/broken", broken, HUB_COMMIT, repo_type="dataset"),
        Repo("org/gated", good, HUB_COMMIT, repo_type="dataset", gated=True),
    ]
    with FakeHub(repos) as server:
        yield server


def test_hub_datasets_are_pinned_by_commit_and_each_failure_names_its_entry(hub, tmp_path):
    entries = {
        "from-hub": {"id": HUB_ID, "revision": "main", "split": "test"},
        "no-such-revision": {"id": HUB_ID, "revision": "v9"},
        "gated": {"id": "org/gated"},
        "missing": {"id": "org/missing"},
        "bad-row": {"id": "org/broken", "split": "test"},
    }
    config = {
        "data": {
            "datasets": list(entries),
            "user_datasets": {name: {"hub": hub_entry, "form": "statement"} for name, hub_entry in entries.items()},
        },
        "models": {"m": {"source": "embedded", "id": "smollm2-135m-instruct", "layer": 3}},
        "compute": {"hub_cache": str(tmp_path / "hub")},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf_home"), NO_PROXY="127.0.0.1")
    command = workflow_command(tmp_path, "--keep-going", "--until", "build_dataset")
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode != 0
    logs = tmp_path / "logs" / "raw" / "user-datasets"
    record = json.loads((tmp_path / "resources/user-datasets/from-hub.json").read_text())
    assert record == {
        "id": HUB_ID,
        "revision": "main",
        "commit": HUB_COMMIT,
        "config": None,
        "split": "test",
        "rows": 60,
    }
    prepared = pd.read_parquet(tmp_path / "results/datasets/from-hub.parquet")
    # 60 rows, each in both answer orders (the default protocol counterbalances)
    assert len(prepared) == 2 * 60 and prepared["item_id"].iloc[0].startswith("from-hub/")
    provenance = json.loads((tmp_path / "results/datasets/from-hub.parquet.prov.json").read_text())
    assert "resources/user-datasets/from-hub.json" in provenance["inputs"]  # the commit is in the chain
    expected = {
        "no-such-revision": f"data.user_datasets.no-such-revision.hub: {HUB_ID} exists but has no revision 'v9'",
        "gated": "data.user_datasets.gated.hub: org/gated is gated: accept its licence",
        "missing": "data.user_datasets.missing.hub: no dataset org/missing on the hub",
    }
    for name, message in expected.items():
        assert message in (logs / f"{name}.log").read_text(), name
    bad = (tmp_path / "logs/datasets/bad-row.log").read_text()
    assert f"hub dataset org/broken at {HUB_COMMIT} (split test):row 5: field 'question' is empty" in bad
    assert not (tmp_path / "results/datasets/bad-row.parquet").exists()


def test_the_summary_reports_each_own_dataset_and_names_the_in_distribution_only_ones(tmp_path):
    import pandas as pd

    from steering_reliability.analysis.summary import Run, to_markdown, user_dataset_rows, with_verdicts

    config = with_defaults(_config(tmp_path))
    config["ood"]["datasets"] = "all"
    run = Run.from_config(config)
    assert run.user_datasets == ("mine",) and run.id_only_datasets == ("mine",) and "mine" in run.yes_no_datasets
    steerability = pd.DataFrame(
        [
            {
                "dataset": "mine",
                "n_items": 20,
                "mean_steerability": 0.25,
                "mean_steerability_ci_low": 0.1,
                "mean_steerability_ci_high": 0.4,
                "anti_steerable_fraction": 0.1,
                "anti_steerable_fraction_ci_low": 0.0,
                "anti_steerable_fraction_ci_high": 0.25,
            }
        ]
    )
    bias = pd.DataFrame(
        [
            {
                "dataset": "mine",
                "n_items": 20,
                "shares_small_n": False,
                "share_ab": 0.2,
                "share_ab_ci_low": 0.05,
                "share_ab_ci_high": 0.5,
                "share_yes_no": 0.6,
                "share_yes_no_ci_low": 0.3,
                "share_yes_no_ci_high": 0.8,
            }
        ]
    )
    summary = with_verdicts(user_dataset_rows("m", steerability, bias, run), run)
    found = pd.DataFrame(columns=["finding", "model", "evidence", "verdict"])
    markdown = to_markdown(summary, found, run)
    assert "In-distribution only (no persona sentences, so no OOD study): mine." in markdown
    assert (
        "| m | mean_steerability[mine] | 0.250 | [0.100, 0.400] | 20 | your dataset (in-distribution only) |"
        in markdown
    )
    assert "share_yes_no[mine]" in markdown
