"""Layer sweep: steerability of the CAA vector of every layer, from one activation cache."""

from __future__ import annotations

import pandas as pd
import torch
from tqdm import tqdm

from steering_reliability.engine import Steering, SteeringEngine

# The workflow scripts of the model rules import the layer helpers from here.
from steering_reliability.layers import read_layer, sweep_rows  # noqa: F401
from steering_reliability.prompts import EncodedItem
from steering_reliability.vectors import caa_vector


def layer_sweep(
    engine: SteeringEngine,
    activations: dict[str, torch.Tensor],
    test_items: list[EncodedItem],
    layers: list[int],
    multipliers: list[float],
    description: str = "layer sweep",
) -> pd.DataFrame:
    """One row per (layer, item, multiplier); each test item's prefix is computed once for all layers."""
    vectors = caa_vector(activations["positive"], activations["negative"])  # (layers, d)
    engine.share_prefix(test_items)
    rows = []
    for item in tqdm(test_items, desc=description, unit="item", mininterval=5):
        prefix = engine.prefix(item)
        for layer in layers:
            steerings = [Steering(vectors[layer], multiplier) for multiplier in multipliers]
            differences = engine.logit_differences(item, layer, steerings, prefix=prefix)
            for multiplier, difference in zip(multipliers, differences.tolist()):
                rows.append(
                    {"layer": layer, "item_id": item.item_id, "multiplier": float(multiplier), "logit_diff": difference}
                )
    return pd.DataFrame(rows)
