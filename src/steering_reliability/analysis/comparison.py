"""Cross-model comparison: Spearman rank correlation of per-dataset steerability between models.

ID steerability is each model's mean per-item slope on the baseline prompts (tables/
steerability.csv); OOD steerability is the paper's cross-model shift, the SYS_pos vector
on the PT_neg test prompts (tables/id_vs_ood.csv), as in repepo's figure.
"""

from __future__ import annotations

import itertools

import pandas as pd

from steering_reliability.analysis import statistics
from steering_reliability.analysis.ood import shift_name
from steering_reliability.data.variants import HEADLINE_SHIFT

OOD_SHIFT = shift_name(*HEADLINE_SHIFT)
# the note of a model pair in which a model steers no dataset (``format_effects``): no correlation is drawn
NOT_COMPARED = "steers no dataset"


def long_table(per_model: dict[str, pd.DataFrame], column: str) -> pd.DataFrame:
    """Stack (dataset, ``column``) of every model into (dataset, model, steerability)."""
    return pd.concat(
        [
            frame[["dataset", column]].rename(columns={column: "steerability"}).assign(model=model)
            for model, frame in per_model.items()
        ],
        ignore_index=True,
    )


def cross_model_spearman(
    id_table: pd.DataFrame, ood_table: pd.DataFrame, resamples: int, seed: int, silent: tuple[str, ...] = ()
) -> pd.DataFrame:
    """One row per (model pair, setting): Spearman rho over the datasets both models have, with a
    bootstrap interval over datasets and a permutation p-value. A pair with a model of ``silent`` (one that steers
    no dataset) gets no estimate, and a note that says so: its ranks would order noise."""
    rows = []
    models = list(dict.fromkeys(id_table["model"]))
    for model_a, model_b in itertools.combinations(models, 2):
        quiet = [model for model in (model_a, model_b) if model in silent]
        for setting, table in (("ID", id_table), ("OOD", ood_table)):
            wide = table.pivot(index="dataset", columns="model", values="steerability")
            wide = wide.dropna(subset=[m for m in (model_a, model_b) if m in wide])
            if model_a in wide and model_b in wide and not quiet:
                estimate = statistics.spearman(wide[model_a], wide[model_b], resamples, seed)
            else:
                estimate = statistics.Estimate(float("nan"), float("nan"), float("nan"), 0)
            note = f"not compared: {' and '.join(quiet)} {NOT_COMPARED} (mean steerability above 0 at 95%)"
            rows.append(
                {
                    "model_a": model_a,
                    "model_b": model_b,
                    "setting": setting,
                    **estimate.rho_columns(),
                    "note": note if quiet else "",
                }
            )
    return pd.DataFrame(rows)
