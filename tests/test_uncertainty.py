"""The statistics of uncertainty and the activation-geometry diagnostics, on constructed data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from steering_reliability.analysis import geometry, statistics


def test_bootstrap_interval_of_a_mean_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    trials = 300
    for trial in range(trials):
        sample = rng.normal(0.3, 1.0, size=40)
        estimate = statistics.bootstrap(sample, statistics.mean_of_rows, resamples=1000, seed=trial)
        covered += estimate.low <= 0.3 <= estimate.high
    # the percentile bootstrap of a mean at n = 40 covers about 94%; 300 trials give +-3% of noise
    assert 0.89 <= covered / trials <= 0.99


def test_bootstrap_is_seeded_and_the_anti_steerable_share_counts_zero_slopes():
    slopes = np.array([-1.0, 0.0, 0.5, 2.0])
    first = statistics.bootstrap(slopes, statistics.anti_steerable_share, resamples=200, seed=3)
    again = statistics.bootstrap(slopes, statistics.anti_steerable_share, resamples=200, seed=3)
    assert first == again
    assert first.value == 0.5 and first.n == 4  # slope <= 0 counts, as in the paper


def test_type1_shares_equal_statsmodels_anova():
    from steering_reliability.analysis.bias import variance_shares

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"positive_is_a": rng.random(30) < 0.5, "positive_is_yes": rng.random(30) < 0.5})
    table["slope"] = 1.5 * table["positive_is_a"] - 0.7 * table["positive_is_yes"] + rng.normal(0, 0.5, 30)
    expected = variance_shares(table)
    factors = table[["positive_is_a", "positive_is_yes"]].to_numpy(dtype=float)
    shares = statistics.type1_shares(table["slope"].to_numpy()[None], factors[None])[0]
    assert shares == pytest.approx([expected["share_ab"], expected["share_yes_no"]], abs=1e-10)
    # a factor that is constant in a resample explains nothing
    constant = np.stack([np.ones(30), factors[:, 1]], axis=1)
    assert statistics.type1_shares(table["slope"].to_numpy()[None], constant[None])[0, 0] == pytest.approx(0.0)
    intervals = statistics.share_intervals(table["slope"], factors, resamples=500, seed=0)
    assert intervals[0].low < intervals[0].value < intervals[0].high


def test_spearman_permutation_p_value_of_a_known_correlation():
    x = np.arange(10.0)
    perfect = statistics.spearman(x, x**3, resamples=2000, seed=0)
    assert perfect.value == pytest.approx(1.0)
    assert perfect.p_value < 0.002 and perfect.n == 10
    # under independence the permutation p-value is uniform: about 5% of tests fall below 0.05
    rng = np.random.default_rng(2)
    p_values = [
        statistics.spearman(rng.normal(size=12), rng.normal(size=12), resamples=400, seed=k).p_value for k in range(200)
    ]
    assert 0.01 <= np.mean(np.array(p_values) < 0.05) <= 0.10
    # and it agrees with scipy's exact permutation test on a small sample
    a, b = rng.normal(size=7), rng.normal(size=7)
    ours = statistics.spearman(a, b, resamples=20000, seed=5).p_value
    exact = stats.permutation_test(
        (b,), lambda y: stats.spearmanr(a, y).statistic, permutation_type="pairings", n_resamples=np.inf
    ).pvalue
    assert ours == pytest.approx(exact, abs=0.02)


def test_pooled_spearman_does_not_count_a_datasets_points_as_independent():
    """4 datasets x 4 shifts: 16 points, but only 24 ways to pair 4 datasets."""
    x = np.array([0.1, 0.4, 0.2, 0.9])
    columns = np.stack([x + shift for shift in (0.0, 0.01, 0.02, 0.03)], axis=1)
    pooled = statistics.pooled_spearman(x, columns, resamples=5000, seed=0)
    naive = stats.spearmanr(np.repeat(x, 4), columns.ravel()).pvalue
    assert pooled.value > 0.9 and pooled.n == 4
    assert naive < 1e-4  # what pooling 16 points as independent would claim
    assert pooled.p_value >= 1 / 24 - 0.01  # the best a 4-dataset permutation test can give


def test_grouped_spearman_resamples_and_permutes_whole_groups():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(6), 5)
    x = rng.normal(size=30)
    y = -x + rng.normal(scale=0.3, size=30)
    estimate = statistics.spearman(x, y, resamples=1000, seed=1, groups=groups)
    assert estimate.n == 6 and estimate.value < -0.8 and estimate.high < 0 and estimate.p_value < 0.01


def test_a_pair_is_anti_steerable_in_both_orders_only_when_both_of_its_slopes_are_at_or_below_zero():
    from steering_reliability.analysis.steerability import dataset_steerability

    # behaviour slope b and position effect p: the two orders' slopes are b + p and b - p
    pairs = pd.DataFrame({"slope": [-0.3, -0.3, 0.2, -0.1, 0.5], "position_effect": [0.1, 0.5, -0.1, 0.1, 0.9]})
    # both orders below 0: (-0.2, -0.4) yes; (0.2, -0.8) no; (0.1, 0.3) no; (0.0, -0.2) yes (0 counts); (1.4, -0.4) no
    summary = dataset_steerability(pairs, resamples=2000, seed=0)
    assert summary["anti_steerable_fraction"] == pytest.approx(3 / 5)
    assert summary["anti_steerable_both_orders_fraction"] == pytest.approx(2 / 5)
    assert (
        summary["anti_steerable_both_orders_fraction_ci_low"]
        <= 0.4
        <= summary["anti_steerable_both_orders_fraction_ci_high"]
    )
    # a study with one answer order has no such column
    assert "anti_steerable_both_orders_fraction" not in dataset_steerability(pairs[["slope"]], 200, 0)


def test_discriminability_and_auroc_of_two_known_gaussians():
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0, 0.0])  # any vector: only its direction matters
    unit = direction / np.linalg.norm(direction)
    n = 4000
    noise = rng.normal(size=(2, n, 3))
    positive = noise[0] + unit * 1.0
    negative = noise[1] - unit * 1.0
    result = geometry.separation(positive, negative, direction)
    # means +1 and -1 along the direction, unit variance: d' = 2, AUROC = Phi(2 / sqrt(2))
    assert result["discriminability"] == pytest.approx(2.0, abs=0.08)
    assert result["projection_auroc"] == pytest.approx(stats.norm.cdf(2 / np.sqrt(2)), abs=0.01)


def test_difference_cosine_and_the_vector_cosine_matrix():
    same = np.array([[1.0, 0.0], [2.0, 0.0], [5.0, 0.0]])
    assert geometry.mean_pairwise_cosine(same) == pytest.approx(1.0)
    opposite = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert geometry.mean_pairwise_cosine(opposite) == pytest.approx(-1.0)
    matrix = geometry.cosine_matrix({"a": np.array([1.0, 0.0]), "b": np.array([1.0, 1.0])})
    assert matrix == pytest.approx(np.array([[1.0, 2**-0.5], [2**-0.5, 1.0]]))
    assert statistics.auroc(np.array([0.1, 0.2, 0.9]), np.array([False, False, True])) == 1.0
