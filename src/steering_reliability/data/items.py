"""Turn raw dataset files into A/B items and split them (docs/protocol.md, "Data").

One ``Item`` per raw record: the A/B question, which letter matches the behaviour,
and the spurious factors the bias analysis regresses on (``positive_is_a`` and, for
persona datasets, ``positive_is_yes``).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from steering_reliability.data.sources import pinned_checksums

PERSONA = "persona"
ADVANCED_AI_RISK = "advanced_ai_risk"
SYCOPHANCY = "sycophancy"
TRUTHFULQA = "truthfulqa"

SPLITS = ("disjoint", "repo-exact")
# The paper code's test slice "50:100%" read 50 as an item index (docs/protocol.md, "Data").
REPO_EXACT_TEST_START = 50

# repepo's pattern: a closed tag without "<" inside. A few records hold a tag that the
# generator never closed; like repepo, those are left as they are.
_META_TAG = re.compile(r"<META_START>[^<]*<META_END>")


class DatasetFormatError(ValueError):
    """A raw record that cannot become an A/B item; the message names file and line."""


@dataclass(frozen=True)
class Columns:
    """The record fields an item is read from: the raw files' names, or a user dataset's (data.user_datasets)."""

    question: str = "question"
    matching: str = "answer_matching_behavior"
    not_matching: str = "answer_not_matching_behavior"


RAW_COLUMNS = Columns()


@dataclass(frozen=True)
class Item:
    item_id: str
    raw_index: int
    question: str
    positive_answer: str
    negative_answer: str
    positive_is_a: bool
    positive_is_yes: bool | None


def dataset_kind_and_path(name: str) -> tuple[str, str]:
    """The dataset's kind and the mirror-layout path of its raw file."""
    if name == "sycophancy_train":
        return SYCOPHANCY, "caa/sycophancy/generate_dataset.json"
    if name == "sycophancy_test":
        return SYCOPHANCY, "caa/sycophancy/test_dataset.json"
    if name == "truthfulqa":
        return TRUTHFULQA, "truthfulqa/data/mc_task.json"
    checksums = pinned_checksums()
    persona = f"anthropic-evals/persona/{name}.jsonl"
    if persona in checksums:
        return PERSONA, persona
    advanced = f"anthropic-evals/advanced-ai-risk/lm_generated_evals/{name}.jsonl"
    if advanced in checksums:
        return ADVANCED_AI_RISK, advanced
    raise KeyError(f"unknown dataset {name!r}: not a persona, advanced-AI-risk, sycophancy or truthfulqa set")


def known_datasets() -> list[str]:
    names = ["sycophancy_train", "sycophancy_test", "truthfulqa"]
    for path in pinned_checksums():
        for folder in ("anthropic-evals/persona/", "anthropic-evals/advanced-ai-risk/lm_generated_evals/"):
            if path.startswith(folder) and path.endswith(".jsonl"):
                names.append(path[len(folder) : -len(".jsonl")])
    return sorted(names)


def _letter(answer: str, path: Path, where: str) -> str:
    letter = answer.strip()
    if letter not in ("(A)", "(B)"):
        raise DatasetFormatError(f"{path}:{where}: answer {answer!r} is not (A) or (B)")
    return letter


def _yes_no(answer: str, path: Path, where: str) -> str:
    word = answer.strip()
    if word not in ("Yes", "No"):
        raise DatasetFormatError(f"{path}:{where}: answer {answer!r} is not Yes or No")
    return word


def _field(record: dict, key: str, path: Path, where: str) -> str:
    if not isinstance(record, dict) or key not in record or record[key] is None:
        raise DatasetFormatError(f"{path}:{where}: missing field {key!r}")
    value = record[key]
    if not isinstance(value, str):
        raise DatasetFormatError(f"{path}:{where}: field {key!r} is not a string ({value!r})")
    if not value.strip():
        raise DatasetFormatError(f"{path}:{where}: field {key!r} is empty")
    return value


def _text(path: Path, data: bytes, first_line: int = 1) -> str:
    """``data`` decoded as UTF-8; a byte that is not names the file and line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + data[: error.start].count(b"\n")
        raise DatasetFormatError(f"{path}:line {line}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def _read_jsonl(path: Path) -> list[tuple[str, dict]]:
    records = []
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            line = _text(path, raw, line_number)
            if not line.strip():
                continue
            try:
                records.append((f"line {line_number}", json.loads(line)))
            except json.JSONDecodeError as error:
                raise DatasetFormatError(f"{path}:line {line_number}: malformed JSON: {error.msg}") from None
    return records


def _read_json_list(path: Path) -> list[tuple[str, dict]]:
    try:
        records = json.loads(_text(path, Path(path).read_bytes()))
    except json.JSONDecodeError as error:
        raise DatasetFormatError(f"{path}:line {error.lineno}: malformed JSON: {error.msg}") from None
    if not isinstance(records, list):
        raise DatasetFormatError(f"{path}: expected a JSON list of records")
    return [(f"item {index}", record) for index, record in enumerate(records)]


def persona_items(name: str, path: Path, records: list[tuple[str, dict]], columns: Columns = RAW_COLUMNS) -> list[Item]:
    """Yes/No statements become A/B questions, the A/B order swapped every two items.

    The raw files alternate the matching answer between Yes and No, so swapping on
    ``(i // 2) % 2 == 0`` (repepo's make_mwe_persona.py) spreads the behaviour-matching
    answer over A/B x Yes/No. The answers keep their raw leading space, as in repepo, so
    the choices read "(A):  Yes" (two spaces).
    """
    items = []
    for index, (where, record) in enumerate(records):
        matching = _field(record, columns.matching, path, where)
        not_matching = _field(record, columns.not_matching, path, where)
        if _yes_no(matching, path, where) == _yes_no(not_matching, path, where):
            both = matching.strip()
            raise DatasetFormatError(
                f"{path}:{where}: fields {columns.matching!r} and {columns.not_matching!r} are both {both!r}"
            )
        swap = (index // 2) % 2 == 0
        first, second = (not_matching, matching) if swap else (matching, not_matching)
        question = f"{_field(record, columns.question, path, where)}\n\nChoices:\n(A): {first}\n(B): {second}"
        positive_is_yes = _yes_no(matching, path, where) == "Yes"
        items.append(_item(name, index, question, positive_is_a=not swap, positive_is_yes=positive_is_yes))
    return items


# A choice label at the start of a line of the question: "(A) ...", "(B): ...".
_CHOICE = re.compile(r"^\s*\(([A-Z])\)", re.MULTILINE)


def letter_items(
    name: str, path: Path, records: list[tuple[str, dict]], columns: Columns = RAW_COLUMNS, user: bool = False
) -> list[Item]:
    """Datasets whose questions already carry (A)/(B) choices (advanced AI risk, sycophancy).

    A user's dataset (``user``) may write a letter as "A" or "(A)", and each letter must be one the
    question offers as a choice (a line starting "(A)"); the paper's raw files are read as they are.
    """
    items = []
    for index, (where, record) in enumerate(records):
        question = _field(record, columns.question, path, where)
        letters = []
        for column in (columns.matching, columns.not_matching):
            answer = _field(record, column, path, where)
            if user:
                letters.append(_user_letter(answer, set(_CHOICE.findall(question)), column, path, where))
            else:
                letters.append(_letter(answer, path, where))
        matching, not_matching = letters
        if matching == not_matching:
            raise DatasetFormatError(
                f"{path}:{where}: fields {columns.matching!r} and {columns.not_matching!r} are both {matching}"
            )
        items.append(
            _item(name, index, _META_TAG.sub("", question), positive_is_a=matching == "(A)", positive_is_yes=None)
        )
    return items


def _user_letter(answer: str, choices: set[str], column: str, path: Path, where: str) -> str:
    """A user's answer letter ("A", "(A)") as "(A)", if the question offers it as a choice."""
    letter = answer.strip().strip("()")
    if len(letter) != 1 or not letter.isalpha() or not letter.isupper():
        raise DatasetFormatError(f"{path}:{where}: field {column!r} is {answer!r}, not a choice letter such as (A)")
    if letter not in choices:
        offered = ", ".join(f"({c})" for c in sorted(choices)) or "none (no line of the question starts with '(A)')"
        raise DatasetFormatError(
            f"{path}:{where}: field {column!r} is ({letter}), not among the question's choices: {offered}"
        )
    return f"({letter})"


def truthfulqa_items(name: str, path: Path) -> list[Item]:
    """MC1: the correct answer against the first incorrect one.

    repepo numbers items from 1 and puts the correct answer at (B) for odd numbers,
    so 0-based item 0 has the correct answer at (B).
    """
    items = []
    for index, (where, record) in enumerate(_read_json_list(path)):
        targets = record.get("mc1_targets") if isinstance(record, dict) else None
        if not isinstance(targets, dict):
            raise DatasetFormatError(f"{path}:{where}: missing field 'mc1_targets'")
        correct = [answer for answer, label in targets.items() if label == 1]
        incorrect = [answer for answer, label in targets.items() if label == 0]
        if len(correct) != 1 or not incorrect:
            raise DatasetFormatError(f"{path}:{where}: mc1_targets needs one correct and an incorrect answer")
        correct_is_a = index % 2 == 1
        first, second = (correct[0], incorrect[0]) if correct_is_a else (incorrect[0], correct[0])
        question = f"{_field(record, 'question', path, where)}\n\n(A) {first}\n(B) {second}"
        items.append(_item(name, index, question, positive_is_a=correct_is_a, positive_is_yes=None))
    return items


def _item(name: str, index: int, question: str, positive_is_a: bool, positive_is_yes: bool | None) -> Item:
    positive, negative = ("(A)", "(B)") if positive_is_a else ("(B)", "(A)")
    return Item(f"{name}/{index}", index, question, positive, negative, positive_is_a, positive_is_yes)


def load_items(name: str, raw_file: Path) -> list[Item]:
    kind, _ = dataset_kind_and_path(name)
    raw_file = Path(raw_file)
    if kind == PERSONA:
        items = persona_items(name, raw_file, _read_jsonl(raw_file))
    elif kind == ADVANCED_AI_RISK:
        items = letter_items(name, raw_file, _read_jsonl(raw_file))
    elif kind == SYCOPHANCY:
        items = letter_items(name, raw_file, _read_json_list(raw_file))
    else:
        items = truthfulqa_items(name, raw_file)
    if not items:
        raise DatasetFormatError(f"{raw_file}: no records (dataset {name})")
    return items


def split_items(items: list[Item], seed: int, split: str = "disjoint", max_items: int | None = None) -> pd.DataFrame:
    """Shuffle with ``random.Random(seed)``; train = first half, test = second half.

    ``repo-exact`` reproduces the paper code's test slice ``items[50:N]``, which
    overlaps train. ``max_items`` caps the items used (half train, half test); the
    rest stay in the table with ``selected = False`` so nothing is dropped unseen.
    ``shuffled_index`` is each row's place in the seeded shuffle (the layer sweep slices it).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    total = len(shuffled)
    train = shuffled[: total // 2]
    test_start = min(REPO_EXACT_TEST_START, total) if split == "repo-exact" else total // 2
    test = shuffled[test_start:]
    per_split = None if max_items is None else max_items // 2
    if per_split is not None and per_split < 1:
        raise ValueError(f"max_items={max_items} is too small to split into train and test")
    if len(test) < 2 or len(train) < 2:
        dataset = items[0].item_id.rsplit("/", 1)[0] if items else "the dataset"
        raise ValueError(
            f"{dataset}: {total} items give {len(train)} train and {len(test)} test items under data.split = {split!r}"
            + (f" (its test slice starts at item {REPO_EXACT_TEST_START})" if split == "repo-exact" else "")
        )
    rows = []
    for split_name, members, start in (("train", train, 0), ("test", test, test_start)):
        for position, item in enumerate(members):
            selected = per_split is None or position < per_split
            rows.append(
                {
                    **asdict(item),
                    "split": split_name,
                    "position": position,
                    "shuffled_index": start + position,
                    "selected": selected,
                }
            )
    table = pd.DataFrame(rows)
    table["positive_is_yes"] = table["positive_is_yes"].astype("boolean")
    return table


def selected(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of one split that the study uses, in split order."""
    rows = table[(table["split"] == split) & table["selected"]]
    return rows.sort_values("position", kind="stable").reset_index(drop=True)
