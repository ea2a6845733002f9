"""Writing artifacts so that a partial output never looks complete.

Every file is written to a temporary sibling and renamed into place only when it is
whole. Tensors are in ``steering_reliability.run.tensors``, so the data and analysis
rules run in environments without torch.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

# Files are created private by mkstemp: they get the permissions the user's umask gives instead,
# so that a group can read the results on a shared cluster file system.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def apply_umask(folder: str | Path) -> None:
    """Give a folder written through temporary (private) paths the permissions the user's umask gives."""
    folder = Path(folder)
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, (0o777 & ~_UMASK) if path.is_dir() else FILE_MODE)


class ArtifactError(RuntimeError):
    """An artifact that cannot be read (truncated or corrupted); the message names it and the remedy."""


@contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it there on success.

    Temporary files of the same destination left by a killed job (SIGKILL skips the clean-up) are
    removed first: only the job making ``destination`` writes them.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    for stale in destination.parent.glob(f".{glob.escape(destination.name)}.*.partial"):
        stale.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".partial")
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)


def config_hash(config: dict, model: str | None = None) -> str:
    """A short, stable hash of the config that an artifact depends on (recorded in its metadata).

    With ``model``, the other models' entries are left out: adding a model to a study does not
    change the hash (nor the bytes) of another model's artifacts. How datasets are grouped into
    jobs (``compute.datasets_per_job``) is left out too: it changes no artifact.
    """
    if model is not None and model in config.get("models", {}):
        config = {**config, "models": {model: config["models"][model]}}
    if "datasets_per_job" in config.get("compute", {}):
        config = {**config, "compute": {k: v for k, v in config["compute"].items() if k != "datasets_per_job"}}
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


def read_table(path: str | Path) -> pd.DataFrame:
    """A parquet or CSV table; an unreadable one raises ``ArtifactError`` naming the file."""
    path = Path(path)
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise ArtifactError(
            f"{path}: not a readable table ({type(error).__name__}: {error}); delete it and run snakemake again"
        ) from None
