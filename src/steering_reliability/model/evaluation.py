"""Steering evaluation: propensity (logit difference) of every item at every multiplier."""

from __future__ import annotations

import pandas as pd
import torch

from steering_reliability.data.prompts import EncodedItem
from steering_reliability.model.engine import Steering, SteeringEngine


def propensity_table(
    engine: SteeringEngine,
    items: list[EncodedItem],
    layer: int,
    vectors: dict[str, torch.Tensor],
    multipliers: list[float],
) -> tuple[pd.DataFrame, torch.Tensor]:
    """One row per (item, vector, multiplier): the logit difference under ``multiplier * vector`` at ``layer``.

    All vectors and multipliers of a batch of items share one forward pass, and multiplier 0
    (unsteered, the same for every vector) is computed once. Also returns the items'
    unsteered answer-letter activations at ``layer``, (items, 2, d), read in the same pass.
    """
    settings = [(name, float(multiplier)) for name in vectors for multiplier in multipliers]
    steerings = [Steering(vectors[name], multiplier, layer) for name, multiplier in settings]
    engine.share_prefix(items)
    differences, activations = engine.logit_differences(items, steerings, read_layer=layer)
    rows = [
        {"item_id": item.item_id, "vector": name, "multiplier": multiplier, "logit_diff": difference}
        for item, values in zip(items, differences.tolist())
        for (name, multiplier), difference in zip(settings, values)
    ]
    return pd.DataFrame(rows), activations


def difference_cosines(item_ids: list[str], letter: torch.Tensor, vectors: dict[str, torch.Tensor]) -> pd.DataFrame:
    """Per (item, vector): cosine between the item's own (positive - negative) activation and the vector.

    ``letter`` holds the unsteered answer-letter activations at the steering layer, (items, 2, d).
    """
    differences = (letter[:, 0] - letter[:, 1]).double()
    rows = []
    for name, vector in vectors.items():
        cosines = torch.nn.functional.cosine_similarity(differences, vector.double()[None], dim=1)
        rows += [{"item_id": item, "vector": name, "difference_cosine": float(c)} for item, c in zip(item_ids, cosines)]
    return pd.DataFrame(rows)
