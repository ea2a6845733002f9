"""The steering layer: the layer sweep's items, per-layer steerability, the pick, and the layer file.

Pure table code (no model), shared by the sweep job, the layer choice and the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from steering_reliability.analysis.position_effect import by_pair
from steering_reliability.analysis.steerability import item_slopes


def sweep_rows(table: pd.DataFrame, percent: list[int], max_items: int | None) -> pd.DataFrame:
    """The layer sweep's items of one slice: [start, end) percent of the dataset's seeded shuffle.

    As the paper code reads "0%:10%": item k * N // 100 for a percentage k of N items
    (floored); capped at the first ``max_items`` of the slice. In a counterbalanced study (``data.counterbalance``)
    N and the cap count items, and each item comes with its swapped twin, so the sweep's mean slope is the
    behaviour's.
    """
    given = table[table["order"] == "given"] if "order" in table else table
    items = given.drop_duplicates("item_id").sort_values("shuffled_index")
    total = len(items)
    start, end = (value * total // 100 for value in percent)
    rows = items[(items["shuffled_index"] >= start) & (items["shuffled_index"] < end)]
    if max_items is not None:
        rows = rows.head(max_items)
    if rows.empty:
        raise ValueError(f"the sweep slice {percent[0]}%:{percent[1]}% of {total} items is empty")
    if len(given) < len(table):  # the twins, each after its item
        twins = table[(table["order"] != "given") & table["pair_id"].isin(rows["item_id"])].drop_duplicates("item_id")
        rows = pd.concat([rows, twins]).sort_values(["shuffled_index", "order"], kind="stable")
    return rows.reset_index(drop=True)


def layer_steerability(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, layer): mean per-item steerability from a sweep table (column ``dataset`` included).

    A counterbalanced sweep (columns ``pair_id``, ``order``, ``positive_is_a``) gives each pair's behaviour slope,
    so ``mean_steerability`` is the behaviour's, and adds ``mean_abs_position_effect``, the mean over pairs of the
    position effect's size |p| (``position_effect``): how much the layer's vector moves the letters.
    """
    design = [column for column in ("pair_id", "order", "positive_is_a") if column in sweep]
    pairs = by_pair(item_slopes(sweep, ["dataset", "layer", "item_id", *design]), keys=("dataset", "layer"))
    grouped = pairs.assign(size=pairs.get("position_effect", 0.0)).groupby(["dataset", "layer"], sort=True)
    table = grouped["slope"].mean().rename("mean_steerability").to_frame()
    if "position_effect" in pairs:
        table["mean_abs_position_effect"] = grouped["size"].apply(lambda sizes: sizes.abs().mean())
    return table.reset_index()


def eligible_layers(num_layers: int, depth: list[float]) -> list[int]:
    """Layers L with depth[0] <= L / num_layers <= depth[1] (sweep.auto_depth)."""
    layers = [layer for layer in range(num_layers) if depth[0] <= layer / num_layers <= depth[1]]
    if not layers:
        raise ValueError(
            f"sweep.auto_depth {depth} leaves no layer of {num_layers} (layer L is eligible when "
            f"{depth[0]} <= L / {num_layers} <= {depth[1]}): widen it"
        )
    return layers


def pick_layer(per_layer: pd.DataFrame, eligible: list[int] | None = None) -> int:
    """The eligible layer with the largest steerability averaged over datasets (ties: the lowest layer)."""
    by_layer = per_layer.groupby("layer")["mean_steerability"].mean()
    if eligible is not None:
        by_layer = by_layer[by_layer.index.isin(eligible)]
    return int(by_layer.idxmax())


def read_layer(path) -> int:
    """The steering layer recorded by the choose_layer rule (results/{model}/layer.json)."""
    return int(json.loads(Path(path).read_text())["layer"])
