"""Behaviour or answer format: per model, whether its vectors steer any dataset, and on how many datasets the
answer's format (its position, (A) or (B), or its Yes/No word) rather than the behaviour explains most of the
steerability variation (docs/statistics.md, "Behaviour or format").

* A dataset is *steered* when its mean steerability's 95% interval lies above 0. A model that steers no dataset
  is said so plainly: its numbers describe a vector that does nothing measurable at that layer, and the
  cross-model comparison leaves it out (``comparison``).
* A dataset is *format-dominated* when the position's share or the Yes/No share is at least one half. The
  position's share is, in a counterbalanced study, the share of the two orders' slope variation that the order
  explains (``position_effect.position_summary``); with one answer order it is the regression's A/B share
  (``bias``). The Yes/No share is the regression's, on the (behaviour) slopes.
"""

from __future__ import annotations

import math

import pandas as pd

from steering_reliability.analysis import statistics
from steering_reliability.analysis.summary import Run, _row, steered

DOMINANT = 0.5


def position_share(steerability: pd.DataFrame, bias: pd.DataFrame) -> tuple[pd.Series, str]:
    """Per dataset, the answer position's share of the slope variation, and what that share is."""
    if "position_share" in steerability:
        return steerability.set_index("dataset")["position_share"], "position share of the two orders' slopes"
    return bias.set_index("dataset")["share_ab"], "A/B share of the slope variance"


def format_rows(model: str, steerability: pd.DataFrame, bias: pd.DataFrame, run: Run, layer: int) -> list[dict]:
    """``steered_datasets`` and ``format_dominated_datasets`` of one model, with what they rest on."""
    datasets = len(steerability)
    working = steered(steerability)
    position, measure = position_share(steerability, bias)
    yes_no = bias.set_index("dataset")["share_yes_no"].reindex(position.index).fillna(0.0)
    by_position, by_yes_no = position >= DOMINANT, yes_no >= DOMINANT
    dominated = by_position | by_yes_no
    behaviour = statistics.bootstrap(
        steerability["mean_steerability"].to_numpy(dtype=float), statistics.mean_of_rows, run.resamples, run.seed
    )
    interval = "" if math.isnan(behaviour.low) else f" [{behaviour.low:.3f}, {behaviour.high:.3f}]"
    if working.any():
        steer_note = f"datasets whose mean steerability is above 0 (95% interval) at layer {layer}"
    else:
        steer_note = (
            f"THIS MODEL STEERS NO DATASET at layer {layer} (no mean steerability above 0 at 95%): its numbers "
            "describe a vector without a measurable effect, and the cross-model comparison leaves it out"
        )
    return [
        _row(model, "steered_datasets", int(working.sum()), n=datasets, note=steer_note),
        _row(
            model,
            "format_dominated_datasets",
            int(dominated.sum()),
            n=datasets,
            note=f"datasets whose slope variation is mostly the answer's format: {int(by_position.sum())} by its "
            f"position ({measure} >= {DOMINANT}), {int(by_yes_no.sum())} by its Yes/No word (Yes/No share >= "
            f"{DOMINANT}); beside a mean steerability over datasets of {behaviour.value:.3f}{interval}",
        ),
    ]


def format_lines(summary: pd.DataFrame) -> list[str]:
    """The summary's plain statement, per model, of how much it steers and how much of that is format."""
    rows = summary.set_index(["model", "quantity"])
    lines = []
    for model in dict.fromkeys(summary["model"]):
        if (model, "steered_datasets") not in rows.index:
            continue
        steers, formatted = rows.loc[(model, "steered_datasets")], rows.loc[(model, "format_dominated_datasets")]
        lines.append(
            f"- **{model}**: steers {int(steers['value'])} of {int(steers['n'])} datasets "
            f"({steers['note']}); the answer's format dominates on {int(formatted['value'])} of "
            f"{int(formatted['n'])} ({formatted['note']})."
        )
    return ["## Behaviour or answer format", "", *lines, ""] if lines else []
