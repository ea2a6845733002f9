"""Compare the results of two runs, file by file: byte-identical, equal within a tolerance, or different.

For a change that must not move the numbers ("the tables before and after agree to 1e-6"):
tables (parquet, csv) are compared column by column, numbers to an absolute tolerance and
everything else exactly; tensors (safetensors) tensor by tensor to the same tolerance, their
metadata exactly; JSON files value by value, numbers to the tolerance; any other file
(figures, markdown) by its bytes. Provenance records (``*.prov.json``) are skipped: they
record when, where and by which code an artifact was made, which differs between runs by design.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from steering_reliability.run.artifacts import ArtifactError, read_table
from steering_reliability.run.tensors import load_tensors

SKIPPED_SUFFIX = ".prov.json"
STATUSES = ("identical", "within", "different", "only in A", "only in B")


@dataclass(frozen=True)
class FileDiff:
    """One file of the two runs: ``status`` is one of STATUSES; ``max_diff`` the largest numeric difference."""

    path: str
    status: str
    max_diff: float = 0.0
    detail: str = ""

    def line(self) -> str:
        numbers = f" (max |difference| {self.max_diff:.3g})" if self.max_diff else ""
        return f"{self.status}: {self.path}{numbers}{': ' + self.detail if self.detail else ''}"


class _Mismatch(Exception):
    """Raised inside a comparison when two values cannot be equal within any tolerance."""


def _max_numeric_diff(a: np.ndarray, b: np.ndarray, where: str) -> float:
    """Largest |a - b| over two numeric arrays of one shape; NaN only matches NaN, inf only the same inf."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise _Mismatch(f"{where}: shape {a.shape} vs {b.shape}")
    special_a, special_b = ~np.isfinite(a), ~np.isfinite(b)
    if (special_a != special_b).any() or not np.array_equal(a[special_a], b[special_b], equal_nan=True):
        raise _Mismatch(f"{where}: NaN or inf at different places")
    finite = ~special_a
    return float(np.abs(a[finite] - b[finite]).max()) if finite.any() else 0.0


def _table_diff(a: Path, b: Path) -> float:
    left, right = read_table(a), read_table(b)
    if list(left.columns) != list(right.columns):
        raise _Mismatch(f"columns {list(left.columns)} vs {list(right.columns)}")
    if len(left) != len(right):
        raise _Mismatch(f"{len(left)} vs {len(right)} rows")
    largest = 0.0
    for column in left.columns:
        if pd.api.types.is_numeric_dtype(left[column]) and pd.api.types.is_numeric_dtype(right[column]):
            largest = max(largest, _max_numeric_diff(left[column], right[column], f"column {column!r}"))
        else:
            rows = np.flatnonzero(left[column].astype(str).to_numpy() != right[column].astype(str).to_numpy())
            if len(rows):
                raise _Mismatch(f"column {column!r} differs in {len(rows)} rows, first at row {rows[0]}")
    return largest


def _tensor_diff(a: Path, b: Path) -> float:
    (left, left_meta), (right, right_meta) = load_tensors(a), load_tensors(b)
    if sorted(left) != sorted(right):
        raise _Mismatch(f"tensors {sorted(left)} vs {sorted(right)}")
    changed = sorted(key for key in set(left_meta) | set(right_meta) if left_meta.get(key) != right_meta.get(key))
    if changed:
        raise _Mismatch(f"metadata {changed} differ")
    return max(
        (_max_numeric_diff(left[name].double().numpy(), right[name].double().numpy(), name) for name in left),
        default=0.0,
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_diff(a: object, b: object, where: str = "$") -> float:
    if _is_number(a) and _is_number(b):
        return _max_numeric_diff(np.array([a]), np.array([b]), where)
    if isinstance(a, dict) and isinstance(b, dict):
        if sorted(a) != sorted(b):
            raise _Mismatch(f"{where}: keys {sorted(a)} vs {sorted(b)}")
        return max((_json_diff(a[key], b[key], f"{where}.{key}") for key in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            raise _Mismatch(f"{where}: {len(a)} vs {len(b)} entries")
        return max((_json_diff(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b))), default=0.0)
    if a != b:
        raise _Mismatch(f"{where}: {a!r} vs {b!r}")
    return 0.0


def _value_diff(a: Path, b: Path) -> float | None:
    """Largest numeric difference of two files of one kind; None for files compared by bytes only."""
    if a.suffix in (".parquet", ".csv"):
        return _table_diff(a, b)
    if a.suffix == ".safetensors":
        return _tensor_diff(a, b)
    if a.suffix == ".json":
        return _json_diff(json.loads(a.read_text()), json.loads(b.read_text()))
    return None


def compare_files(a: Path, b: Path, path: str, atol: float) -> FileDiff:
    """Compare one artifact of run A with the same artifact of run B."""
    if a.read_bytes() == b.read_bytes():
        return FileDiff(path, "identical")
    try:
        largest = _value_diff(a, b)
    except (_Mismatch, ArtifactError) as mismatch:  # an unreadable file is a difference, named
        return FileDiff(path, "different", detail=str(mismatch))
    if largest is None:
        return FileDiff(path, "different", detail="bytes differ")
    return FileDiff(path, "within" if largest <= atol else "different", largest)


def _artifacts(root: Path) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not path.name.endswith(SKIPPED_SUFFIX)
    }


def compare_runs(a: str | Path, b: str | Path, atol: float = 1e-6) -> list[FileDiff]:
    """Every artifact under the two result folders, sorted by path."""
    a, b = Path(a), Path(b)
    for root in (a, b):
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: not a folder (give two runs' results/ folders)")
    in_a, in_b = _artifacts(a), _artifacts(b)
    diffs = [compare_files(a / path, b / path, path, atol) for path in sorted(in_a & in_b)]
    diffs += [FileDiff(path, "only in A") for path in sorted(in_a - in_b)]
    diffs += [FileDiff(path, "only in B") for path in sorted(in_b - in_a)]
    return sorted(diffs, key=lambda diff: diff.path)


def summary_lines(diffs: list[FileDiff], atol: float) -> list[str]:
    """One count line per status, then one line per file that is not identical."""
    counts = {status: sum(diff.status == status for diff in diffs) for status in STATUSES}
    largest = max((diff.max_diff for diff in diffs if diff.status == "within"), default=0.0)
    lines = [
        f"{len(diffs)} files: {counts['identical']} byte-identical, {counts['within']} equal within {atol:g} "
        f"(largest difference {largest:.3g}), {counts['different']} different, "
        f"{counts['only in A']} only in A, {counts['only in B']} only in B"
    ]
    return lines + [diff.line() for diff in diffs if diff.status != "identical"]
