"""Writing artifacts so that a partial output never looks complete.

Every file is written to a temporary sibling and renamed into place only when it is
whole. Tensors are in ``steering_reliability.tensors``, so the data and analysis
rules run in environments without torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


@contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it there on success."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial")
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def config_hash(config: dict) -> str:
    """A short, stable hash of a JSON-serialisable config (recorded in artifact metadata)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def write_table(table: pd.DataFrame, path: str | Path) -> None:
    """Parquet or CSV by extension, written atomically."""
    path = Path(path)
    with atomic_path(path) as partial:
        if path.suffix == ".parquet":
            table.to_parquet(partial, index=False)
        elif path.suffix == ".csv":
            table.to_csv(partial, index=False)
        else:
            raise ValueError(f"{path}: tables are written as .parquet or .csv")


def write_json(payload: dict, path: str | Path) -> None:
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
