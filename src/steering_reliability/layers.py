"""The steering layer: the layer sweep's items, per-layer steerability, the pick, and the layer file.

Pure table code (no model), shared by the sweep job, the layer choice and the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from steering_reliability.steerability import item_slopes


def sweep_rows(table: pd.DataFrame, split: str, fraction: float, max_items: int | None) -> pd.DataFrame:
    """The layer sweep's items of one split: ``fraction`` of the whole dataset, capped at ``max_items``.

    Taken in the split's seeded order, so sweep items of the two splits never overlap
    under the ``disjoint`` split.
    """
    count = max(1, int(round(fraction * len(table))))
    if max_items is not None:
        count = min(count, max_items)
    rows = table[table["split"] == split].sort_values("position")
    return rows.head(count).reset_index(drop=True)


def layer_steerability(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, layer): mean per-item steerability from a sweep table (column ``dataset`` included)."""
    slopes = item_slopes(sweep, ["dataset", "layer", "item_id"])
    return slopes.groupby(["dataset", "layer"], sort=True)["slope"].mean().rename("mean_steerability").reset_index()


def pick_layer(per_layer: pd.DataFrame) -> int:
    """The layer with the largest steerability averaged over datasets (ties: the lowest layer)."""
    by_layer = per_layer.groupby("layer")["mean_steerability"].mean()
    return int(by_layer.idxmax())


def read_layer(path) -> int:
    """The steering layer recorded by the choose_layer rule (results/{model}/layer.json)."""
    return int(json.loads(Path(path).read_text())["layer"])
