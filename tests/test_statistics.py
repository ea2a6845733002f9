"""The study's arithmetic on values known in advance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from steering_reliability.analysis.bias import variance_shares
from steering_reliability.analysis.steerability import item_slopes, least_squares_slope, summarise
from steering_reliability.model.vectors import caa_vector


def test_caa_vector_is_the_hand_computed_mean_difference():
    positive = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    negative = torch.tensor([[0.0, 0.0, 0.0], [1.0, 4.0, -1.0]])
    # differences (1, 2, 3) and (2, -2, 2): mean (1.5, 0, 2.5)
    assert torch.equal(caa_vector(positive, negative), torch.tensor([1.5, 0.0, 2.5]))


def test_caa_vector_per_layer_matches_single_layer():
    generator = torch.Generator().manual_seed(0)
    positive, negative = torch.randn(5, 4, 3, generator=generator), torch.randn(5, 4, 3, generator=generator)
    all_layers = caa_vector(positive, negative)
    assert torch.allclose(all_layers[2], caa_vector(positive[:, 2], negative[:, 2]))


def test_slope_of_a_known_line():
    multipliers = np.array([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5])
    assert least_squares_slope(multipliers, 2.5 * multipliers - 4.0) == pytest.approx(2.5)
    noisy = 2.5 * multipliers - 4.0 + np.array([0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1])
    assert least_squares_slope(multipliers, noisy) == pytest.approx(np.polyfit(multipliers, noisy, 1)[0])


def test_item_slopes_and_summary():
    multipliers = [-1.0, 0.0, 1.0]
    table = pd.DataFrame(
        [{"item_id": "a", "multiplier": m, "logit_diff": 2 * m + 1} for m in multipliers]
        + [{"item_id": "b", "multiplier": m, "logit_diff": -m} for m in multipliers]
        + [{"item_id": "c", "multiplier": m, "logit_diff": 0.0} for m in multipliers]
    )
    slopes = item_slopes(table, ["item_id"]).set_index("item_id")
    assert slopes.loc["a", "slope"] == pytest.approx(2.0)
    assert slopes.loc["a", "unsteered_logit_diff"] == pytest.approx(1.0)
    summary = summarise(slopes["slope"])
    assert summary["mean_steerability"] == pytest.approx(1 / 3)
    assert summary["median_steerability"] == pytest.approx(0.0)
    assert summary["anti_steerable_fraction"] == pytest.approx(2 / 3)  # slope -1 and slope 0
    assert summary["variance_steerability"] == pytest.approx(np.var([2.0, -1.0, 0.0], ddof=1))


def test_variance_shares_on_constructed_data():
    # slope = 2 * positive_is_a + noise orthogonal to both factors; Yes/No has no effect.
    rng = np.random.default_rng(0)
    a = np.array([1, 0] * 50)
    yes = np.array([1, 1, 0, 0] * 25)
    noise = rng.normal(0, 0.5, size=100)
    # remove the projection of the noise onto the design so the shares are exact
    design = np.column_stack([np.ones(100), a, yes])
    noise = noise - design @ np.linalg.lstsq(design, noise, rcond=None)[0]
    slope = 2.0 * a + noise
    table = pd.DataFrame({"slope": slope, "positive_is_a": a.astype(bool), "positive_is_yes": yes.astype(bool)})
    shares = variance_shares(table)
    total = ((slope - slope.mean()) ** 2).sum()
    assert shares["share_ab"] == pytest.approx(100 * 1.0 / total)  # 2^2 * (1/4) per item
    assert shares["share_yes_no"] == pytest.approx(0.0, abs=1e-12)
    assert shares["share_ab"] + shares["share_yes_no"] + shares["share_residual"] == pytest.approx(1.0)
    assert shares["r_squared"] == pytest.approx(shares["share_ab"])


def test_variance_shares_without_yes_no_factor():
    table = pd.DataFrame(
        {
            "slope": [1.0, 3.0, 1.0, 3.0],
            "positive_is_a": [False, True, False, True],
            "positive_is_yes": pd.array([None] * 4, dtype="boolean"),
        }
    )
    shares = variance_shares(table)
    assert shares["share_ab"] == pytest.approx(1.0)
    assert shares["share_yes_no"] == 0.0
    assert shares["share_residual"] == pytest.approx(0.0, abs=1e-12)
