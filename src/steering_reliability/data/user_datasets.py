"""A user's own behaviour datasets (config key ``data.user_datasets``; README, "Your own behaviour").

Each entry names a dataset and its source: a local JSONL, CSV or Parquet ``file`` (a path from the
working directory), or a dataset on the Hugging Face ``hub`` (id, revision, config, split). Its rows
take one of two forms, read through a column mapping (``columns``) when the fields have other names:

- ``statement``: a question that is answered Yes or No (like the persona files); the matching and
  not-matching answers are "Yes"/"No". The A/B order is laid out as for the persona files.
- ``choices``: a question whose text offers lettered choices, one per line ("(A) ...", "(B) ...");
  the matching and not-matching answers are letters ("A" or "(A)") among those choices.

A malformed row is refused with its file and line (CSV, JSONL), its row index (Parquet, hub), and the
field. Duplicated questions are refused too: a dataset whose items repeat would count an item twice.
The user's file enters the provenance record of the prepared dataset as an input (its sha256); a hub
dataset is pinned by the commit its revision resolves to, recorded beside its downloaded rows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from steering_reliability.data.items import (
    PERSONA,
    Columns,
    DatasetFormatError,
    Item,
    _read_jsonl,
    _text,
    dataset_kind_and_path,
    letter_items,
    load_items,
    persona_items,
)

STATEMENT = "statement"
CHOICES = "choices"
FORMS = (STATEMENT, CHOICES)
FILE_SUFFIXES = (".jsonl", ".csv", ".parquet")
# A dataset's name becomes a path component and a Snakemake wildcard value (common.smk).
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# Where a hub dataset's rows and the record of what was downloaded go (resources/: inputs, not results).
HUB_FOLDER = "resources/user-datasets"


def user_entries(config: dict) -> dict[str, dict]:
    return config["data"].get("user_datasets") or {}


def columns_of(entry: dict) -> Columns:
    return Columns(**(entry.get("columns") or {}))


def raw_input(name: str, entry: dict) -> str:
    """The file the prepared dataset is built from: the user's file, or the hub dataset's downloaded rows."""
    return entry["file"] if entry.get("file") else f"{HUB_FOLDER}/{name}.parquet"


def hub_record(name: str) -> str:
    return f"{HUB_FOLDER}/{name}.json"


def has_yes_no(name: str, config: dict) -> bool:
    """Whether a dataset's items carry the Yes/No factor (persona files, user statements)."""
    entry = user_entries(config).get(name)
    if entry is not None:
        return entry["form"] == STATEMENT
    return dataset_kind_and_path(name)[0] == PERSONA


def _read_csv(path: Path) -> list[tuple[str, dict]]:
    text = _text(path, path.read_bytes())
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        for record in reader:
            if not any((value or "").strip() for value in record.values() if isinstance(value, str)):
                continue  # a blank line
            if None in record:
                raise DatasetFormatError(f"{path}:line {reader.line_num}: more fields than the header's columns")
            rows.append((f"line {reader.line_num}", record))
    except csv.Error as error:
        raise DatasetFormatError(f"{path}:line {reader.line_num}: malformed CSV: {error}") from None
    return rows


def _read_parquet(path: Path) -> list[tuple[str, dict]]:
    import pyarrow.parquet

    try:
        records = pyarrow.parquet.read_table(path).to_pylist()
    except Exception as error:  # pyarrow's ArrowInvalid and OSError: not a Parquet file
        raise DatasetFormatError(f"{path}: not a readable Parquet file ({error})") from None
    return [(f"row {index}", record) for index, record in enumerate(records)]


def read_rows(path: str | Path) -> list[tuple[str, dict]]:
    """The records of a JSONL, CSV or Parquet file, each with where it is ("line 3", "row 2")."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return _read_jsonl(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".parquet":
        return _read_parquet(path)
    raise DatasetFormatError(f"{path}: not a {', '.join(FILE_SUFFIXES)} file")


def user_items(name: str, entry: dict, path: str | Path, origin: str | None = None) -> list[Item]:
    """The A/B items of a user's dataset; ``origin`` names the rows in messages (default: the file)."""
    rows = read_rows(path)
    label = Path(origin or path)
    columns = columns_of(entry)
    if entry["form"] == STATEMENT:
        items = persona_items(name, label, rows, columns)
    else:
        items = letter_items(name, label, rows, columns, user=True)
    seen: dict[str, str] = {}
    for (where, record), item in zip(rows, items):
        question = record[columns.question].strip()
        if question in seen:
            raise DatasetFormatError(
                f"{label}:{where}: field {columns.question!r} repeats the question of {seen[question]}"
            )
        seen[question] = where
    if not items:
        raise DatasetFormatError(f"{label}: no rows (dataset {name})")
    return items


def hub_origin(record: dict) -> str:
    where = f"config {record['config']}, " if record.get("config") else ""
    return f"hub dataset {record['id']} at {record['commit']} ({where}split {record['split']})"


def dataset_items(
    name: str, raw_file: str | Path, config: dict, hub_record_file: str | Path | None = None
) -> list[Item]:
    """The items of any dataset of a study: a built-in one from its raw file, a user's from its file or hub rows."""
    entry = user_entries(config).get(name)
    if entry is None:
        return load_items(name, raw_file)
    origin = hub_origin(json.loads(Path(hub_record_file).read_text())) if hub_record_file else None
    return user_items(name, entry, raw_file, origin)
