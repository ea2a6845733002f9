"""Vector methods against each other and against chance, per dataset (``results/{model}/tables/methods.csv``).

Every method's direction (``vector_methods``) is evaluated on the baseline test prompts in the same forward pass as
the study's CAA vector. Per dataset and method this gives the steerability summary of the CAA analysis (mean with
its bootstrap interval over items, anti-steerable fraction with its interval) and its spurious-bias variance shares
(A/B, Yes/No; with intervals for the real methods, the null draws' spread being the nulls'). Against the nulls, per
dataset:
the random directions' (and shuffled-label directions') mean steerability and anti-steerable fraction over the
draws, the 2.5-97.5 percentile range of the draws, and a one-sided Monte Carlo p-value for each real method,
(1 + #draws at least as good) / (1 + draws): "at least as good" is a mean steerability >= the method's, or an
anti-steerable fraction <= the method's (docs/statistics.md). The spurious-bias shares are shown beside the
nulls' spread, without a p-value (neither direction is "better").

``method_geometry`` adds, per dataset and direction, how far the training activations separate along it and its
cosine with CAA's (``geometry.direction_rows``); ``method_cosines`` the cosines between the real methods.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from steering_reliability.analysis.bias import share_intervals, variance_shares
from steering_reliability.analysis.geometry import cosine_rows, direction_rows
from steering_reliability.analysis.position_effect import position_summary
from steering_reliability.analysis.steerability import dataset_steerability
from steering_reliability.data.variants import BASELINE
from steering_reliability.model.vector_names import NULLS, PREFIX, method_of

# (quantity, the direction in which a null draw is "at least as good" as the method: +1 larger, -1 smaller; None:
# no better direction, so the nulls' spread without a p-value). The last two are a counterbalanced study's only.
COMPARED = (
    ("mean_steerability", 1),
    ("anti_steerable_fraction", -1),
    ("share_ab", None),
    ("share_yes_no", None),
    ("anti_steerable_both_orders_fraction", -1),
    ("position_share", None),
)


def method_table(items: pd.DataFrame, resamples: int, seed: int) -> pd.DataFrame:
    """Per (dataset, vector) of the baseline prompts' items (the CAA vector and every method's): the steerability
    summary and the spurious-bias shares with their intervals (counterbalanced: the position effect's summary too),
    and which method and null draw the vector is."""
    evaluated = (items["vector"] == BASELINE) | items["vector"].str.startswith(PREFIX)
    rows = items[(items["variant"] == BASELINE) & evaluated]
    table = []
    for (dataset, vector), frame in rows.groupby(["dataset", "vector"], sort=False):
        method, draw = method_of(vector)
        summary = {**dataset_steerability(frame, resamples, seed), **position_summary(frame, resamples, seed)}
        shares = variance_shares(frame, "slope")
        if draw is None:
            shares.update(share_intervals(frame, resamples, seed))
        shares.pop("n_items")
        table.append({"dataset": dataset, "method": method, "draw": draw, "vector": vector, **summary, **shares})
    frame = pd.DataFrame(table)
    frame["draw"] = frame["draw"].astype("Int64")
    return frame


def null_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, real method): each compared quantity beside every null's draws (mean, 2.5/97.5 percentiles,
    p-value). A dataset without draws of a null gets no columns for it."""
    rows = []
    for dataset, frame in table.groupby("dataset", sort=False):
        nulls = {null: frame[frame["method"] == null] for null in NULLS}
        for _, method in frame[frame["draw"].isna()].iterrows():
            row = {"dataset": dataset, "method": method["method"]}
            for quantity, better in COMPARED:
                if quantity not in method:
                    continue
                value = float(method[quantity])
                row[quantity] = value
                for null, draws in nulls.items():
                    if draws.empty:
                        continue
                    values = draws[quantity].to_numpy(dtype=float)
                    row[f"{quantity}_{null}_mean"] = float(values.mean())
                    row[f"{quantity}_{null}_low"] = float(np.percentile(values, 2.5))
                    row[f"{quantity}_{null}_high"] = float(np.percentile(values, 97.5))
                    if better is not None:
                        as_good = (values >= value) if better > 0 else (values <= value)
                        row[f"{quantity}_{null}_p"] = float((1 + as_good.sum()) / (1 + len(values)))
                    row[f"{null}_draws"] = len(values)
            rows.append(row)
    return pd.DataFrame(rows)


def method_geometry(
    positive: np.ndarray, negative: np.ndarray, vectors: dict[str, np.ndarray], resamples: int, seed: int
) -> pd.DataFrame:
    """Per direction of one dataset's vectors file (CAA's, stored as the baseline vector, and every method's):
    d' (with its interval over training pairs), projection AUROC and cosine with CAA, at the steering layer."""
    directions = {BASELINE: vectors[BASELINE], **{name: v for name, v in vectors.items() if name.startswith(PREFIX)}}
    rows = direction_rows(positive, negative, directions, resamples, seed)
    for row in rows:
        row["method"], row["draw"] = method_of(row["vector"])
    frame = pd.DataFrame(rows)
    frame["draw"] = frame["draw"].astype("Int64")
    return frame[["method", "draw", *[column for column in frame if column not in ("method", "draw")]]]


def method_cosines(vectors: dict[str, np.ndarray]) -> pd.DataFrame:
    """Cosines between the real methods' directions of one dataset (nulls left out: their cosine with CAA is in
    ``method_geometry``)."""
    directions = [name for name in vectors if name == BASELINE or name.startswith(PREFIX)]
    rows = cosine_rows({method_of(name)[0]: vectors[name] for name in directions if method_of(name)[1] is None})
    return pd.DataFrame(rows, columns=["vector_a", "vector_b", "cosine"]).rename(
        columns={"vector_a": "method_a", "vector_b": "method_b"}
    )
