"""A user's dataset on the Hugging Face hub (``data.user_datasets.<name>.hub``): pinned by commit, read by ``datasets``.

The revision (a branch, tag or commit; None = the default branch) is resolved once to a commit through the hub's API
(``hub.repo_info``, which tells a missing dataset, a missing revision, a gated one and an unreachable hub apart). That
commit's snapshot is downloaded into ``compute.hub_cache`` and loaded with ``datasets.load_dataset`` (its config and
split, with the library's own data-file and README-config resolution); the split's rows are written as Parquet
beside a record of what they are. ``user_datasets`` then reads those rows like a local Parquet file, naming a bad
row by its index in the split.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from steering_reliability.data.items import DatasetFormatError
from steering_reliability.model.hub import repo_info
from steering_reliability.run.artifacts import atomic_path, write_json


def download_hub_dataset(name: str, hub: dict, rows_path: str | Path, record_path: str | Path, cache_dir=None) -> dict:
    """Resolve the hub dataset's revision to a commit, download that snapshot into ``cache_dir`` and write the
    requested split's rows (Parquet) and a record of what they are (JSON). Returns the record."""
    import datasets
    from huggingface_hub import snapshot_download

    what = f"data.user_datasets.{name}.hub"
    info = repo_info(hub["id"], hub.get("revision"), what, repo_type="dataset")
    snapshot = snapshot_download(hub["id"], repo_type="dataset", revision=info.sha, cache_dir=cache_dir)
    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as scratch:  # datasets' own Arrow cache: nothing of it is kept
        try:
            loaded = datasets.load_dataset(
                snapshot, name=hub.get("config"), split=hub["split"], cache_dir=scratch, keep_in_memory=True
            )
        except (ValueError, FileNotFoundError) as error:  # an unknown config or split, or no data files
            raise DatasetFormatError(f"{what}: {hub['id']} at {info.sha}: {error}") from None
        with atomic_path(rows_path) as partial:
            loaded.to_parquet(str(partial))
    record = {
        "id": hub["id"],
        "revision": hub.get("revision"),
        "commit": info.sha,
        "config": hub.get("config"),
        "split": hub["split"],
        "rows": loaded.num_rows,
    }
    write_json(record, record_path)
    return record
