"""A prepared dataset as a Hugging Face ``datasets.Dataset``: typed columns, one parquet file.

The raw files are parsed by ``items`` (its readers name the file and line of a malformed record,
which the ``datasets`` JSON loader cannot); the prepared table is then given explicit Arrow
features and written with ``Dataset.to_parquet``, so that a user loads it with the call they know::

    datasets.Dataset.from_parquet("results/datasets/myopic-reward.parquet")

(``pandas.read_parquet`` reads the same file; the workflow's own rules read it that way.)
"""

from __future__ import annotations

from pathlib import Path

import datasets
import pandas as pd

from steering_reliability.run.artifacts import atomic_path

FEATURES = datasets.Features(
    {
        "item_id": datasets.Value("string"),
        "raw_index": datasets.Value("int64"),
        "question": datasets.Value("string"),
        "positive_answer": datasets.Value("string"),
        "negative_answer": datasets.Value("string"),
        "positive_is_a": datasets.Value("bool"),
        "positive_is_yes": datasets.Value("bool"),  # null for datasets whose answers are not Yes/No
        "split": datasets.Value("string"),  # "train" or "test" (a string, so pandas filters read it as is)
        "position": datasets.Value("int64"),
        "shuffled_index": datasets.Value("int64"),
        "selected": datasets.Value("bool"),
        "pair_id": datasets.Value("string"),  # the item both answer orders of an item share (data.counterbalance)
        "order": datasets.Value("string"),  # "given" (the raw file's order) or "swapped"
    }
)


def as_dataset(table: pd.DataFrame, name: str) -> datasets.Dataset:
    """The item table of ``split_items`` with the prepared dataset's features."""
    missing = set(FEATURES) - set(table.columns)
    if missing:
        raise ValueError(f"prepared dataset {name}: missing columns {sorted(missing)}")
    frame = table[list(FEATURES)].astype({"positive_is_yes": "object"})
    frame = frame.assign(positive_is_yes=frame["positive_is_yes"].where(frame["positive_is_yes"].notna(), None))
    info = datasets.DatasetInfo(description=f"A/B items of {name} (steering-reliability)", features=FEATURES)
    return datasets.Dataset.from_pandas(frame, features=FEATURES, info=info, preserve_index=False)


def write_prepared(table: pd.DataFrame, name: str, path: str | Path) -> None:
    """Write the prepared dataset atomically as parquet with its features in the schema metadata."""
    dataset = as_dataset(table, name)
    datasets.disable_progress_bars()
    with atomic_path(path) as partial:
        dataset.to_parquet(str(partial))
