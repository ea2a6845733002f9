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
    vectors: dict[str, torch.Tensor],
    multipliers: list[float],
    description: str = "steering",
) -> pd.DataFrame:
    """One row per (item, vector, multiplier): the logit difference under ``multiplier * vector`` at ``layer``.

    All vectors and multipliers of an item share one engine call (one pass over its prompt),
    and multiplier 0 (unsteered, the same for every vector) is computed once.
    """
    settings = [(name, float(multiplier)) for name in vectors for multiplier in multipliers]
    unique = list(dict.fromkeys(None if multiplier == 0 else (name, multiplier) for name, multiplier in settings))
    steerings = [Steering(None, 0.0) if key is None else Steering(vectors[key[0]], key[1]) for key in unique]
    column = [unique.index(None if multiplier == 0 else (name, multiplier)) for name, multiplier in settings]
    engine.share_prefix(items)
    rows = []
    for item in tqdm(items, desc=description, unit="item", mininterval=5):
        computed = engine.logit_differences(item, layer, steerings).tolist()
        differences = [computed[index] for index in column]
        for (name, multiplier), difference in zip(settings, differences):
            rows.append({"item_id": item.item_id, "vector": name, "multiplier": multiplier, "logit_diff": difference})
    return pd.DataFrame(rows)
