"""Layer sweep: steerability of the CAA vector of every layer, from one activation cache."""

from __future__ import annotations

import pandas as pd
import torch

# The workflow scripts of the model rules import the layer helpers from here.
from steering_reliability.analysis.layers import read_layer, sweep_rows  # noqa: F401
from steering_reliability.data.prompts import EncodedItem
from steering_reliability.model.engine import Steering, SteeringEngine
from steering_reliability.model.vectors import caa_vector


def layer_sweep(
    engine: SteeringEngine,
    activations: dict[str, torch.Tensor],
    test_items: list[EncodedItem],
    layers: list[int],
    multipliers: list[float],
) -> pd.DataFrame:
    """One row per (layer, item, multiplier).

    ``activations`` hold every layer in ``layers`` (in that order). The settings of all
    layers share one forward pass per batch of items: the engine fans each layer's copies
    out at that layer's output.
    """
    vectors = caa_vector(activations["positive"], activations["negative"])  # (layers, d)
    settings = [(layer, float(multiplier)) for layer in layers for multiplier in multipliers]
    steerings = [
        Steering(vectors[index], multiplier, layer) for index, layer in enumerate(layers) for multiplier in multipliers
    ]
    engine.share_prefix(test_items)
    differences = engine.logit_differences(test_items, steerings)
    rows = [
        {"layer": layer, "item_id": item.item_id, "multiplier": multiplier, "logit_diff": difference}
        for item, values in zip(test_items, differences.tolist())
        for (layer, multiplier), difference in zip(settings, values)
    ]
    order = {layer: index for index, layer in enumerate(layers)}
    return (
        pd.DataFrame(rows)
        .sort_values("layer", key=lambda column: column.map(order), kind="stable")
        .reset_index(drop=True)
    )
