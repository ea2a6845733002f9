"""Steering evaluation: propensity (logit difference) of every item at every multiplier."""

from __future__ import annotations

import pandas as pd
import torch
from tqdm import tqdm

from steering_reliability.engine import Steering, SteeringEngine
from steering_reliability.prompts import EncodedItem


def propensity_table(
    engine: SteeringEngine,
    items: list[EncodedItem],
    layer: int,
    vector: torch.Tensor,
    multipliers: list[float],
    description: str = "steering",
) -> pd.DataFrame:
    """One row per (item, multiplier): the logit difference under ``multiplier * vector`` at ``layer``."""
    steerings = [Steering(vector, multiplier) for multiplier in multipliers]
    engine.share_prefix(items)
    rows = []
    for item in tqdm(items, desc=description, unit="item", mininterval=5):
        differences = engine.logit_differences(item, layer, steerings)
        for multiplier, difference in zip(multipliers, differences.tolist()):
            rows.append({"item_id": item.item_id, "multiplier": float(multiplier), "logit_diff": difference})
    return pd.DataFrame(rows)
