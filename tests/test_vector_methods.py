"""The vector methods and nulls (steering_reliability.model.vector_methods) on activations whose answer is known in
closed form, and against steering-vectors' aggregators on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steering_reliability.model.vector_methods import VectorMethodError, directions
from steering_reliability.model.vectors import caa_vector

D = 6


def _gaussians(n: int, seed: int = 0):
    """Pairs of draws from N(mu_pos, S) and N(mu_neg, S) with a known, far-from-isotropic covariance S."""
    rng = np.random.default_rng(seed)
    root = rng.standard_normal((D, D)) * 0.6 + np.diag(np.linspace(0.3, 2.0, D))
    covariance = root @ root.T
    mu_pos, mu_neg = rng.standard_normal(D), rng.standard_normal(D)
    positive = rng.multivariate_normal(mu_pos, covariance, size=n)
    negative = rng.multivariate_normal(mu_neg, covariance, size=n)
    return (
        torch.tensor(positive, dtype=torch.float32),
        torch.tensor(negative, dtype=torch.float32),
        covariance,
        mu_pos - mu_neg,
    )


def _unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=float)
    return vector / np.linalg.norm(vector)


def _by_name(found):
    return {direction.name: direction for direction in found}


def test_each_method_recovers_its_closed_form_direction_and_takes_the_caa_norm():
    positive, negative, covariance, shift = _gaussians(20000)
    found = _by_name(directions(positive, negative, ["caa", "pca", "whitened"], 0, 0, "gaussians"))
    caa_norm = float(found["caa"].vector.double().norm())
    assert torch.equal(found["caa"].vector, caa_vector(positive, negative))  # the study's vector, unchanged
    assert abs(_unit(found["caa"].vector) @ _unit(shift)) > 0.999
    # the two-class discriminant: S^-1 (mu_pos - mu_neg), not the mean difference
    discriminant = np.linalg.solve(covariance, shift)
    assert _unit(found["whitened"].vector) @ _unit(discriminant) > 0.999
    assert _unit(found["whitened"].vector) @ _unit(shift) < 0.99  # the test can tell them apart
    # differences ~ N(shift, 2S): the uncentred PCA axis is the top eigenvector of shift shift^T + 2S
    moment = np.outer(shift, shift) + 2 * covariance
    top = np.linalg.eigh(moment)[1][:, -1]
    assert abs(_unit(found["pca"].vector) @ top) > 0.999
    assert _unit(found["pca"].vector) @ _unit(shift) > 0  # signed to agree with the mean difference
    for name in ("pca", "whitened"):
        assert float(found[name].vector.double().norm()) == pytest.approx(caa_norm, rel=1e-6)
    assert found["pca"].trained_norm == pytest.approx(1.0)  # a principal axis is a unit vector as trained


def test_random_draws_are_isotropic_reproducible_and_differ_between_datasets():
    positive, negative, _, _ = _gaussians(50)
    draws = 4000
    found = [d for d in directions(positive, negative, ["random"], draws, 0, "a") if d.method == "random"]
    units = np.stack([_unit(d.vector) for d in found])
    assert len(found) == draws
    # unit vectors uniform on the sphere: mean 0, second moment I / D
    assert np.abs(units.mean(axis=0)).max() < 4 / np.sqrt(draws * D)
    assert np.abs(units.T @ units / draws - np.eye(D) / D).max() < 0.02
    caa_norm = float(caa_vector(positive, negative).double().norm())
    assert all(float(d.vector.double().norm()) == pytest.approx(caa_norm, rel=1e-6) for d in found[:10])
    again = [d for d in directions(positive, negative, ["random"], 3, 0, "a") if d.method == "random"]
    assert all(torch.equal(x.vector, y.vector) for x, y in zip(again, found))  # byte for byte, draw by draw
    other = [d for d in directions(positive, negative, ["random"], 3, 0, "b") if d.method == "random"]
    assert not torch.equal(other[0].vector, found[0].vector)


def test_shuffled_labels_lose_the_behaviour():
    """With labels swapped at random the mean difference averages away: its trained norm is a small fraction of
    CAA's (about 1/sqrt(n) of the spread), whereas CAA keeps the shift."""
    positive, negative, _, shift = _gaussians(4000)
    found = directions(positive, negative, ["shuffled"], 5, 0, "gaussians")
    caa_norm = found[0].trained_norm
    shuffled = [d for d in found if d.method == "shuffled"]
    assert len(shuffled) == 5 and caa_norm == pytest.approx(np.linalg.norm(shift), rel=0.1)
    assert all(d.trained_norm < 0.15 * caa_norm for d in shuffled)


def test_methods_agree_with_steering_vectors_aggregators_on_the_same_activations():
    aggregators = pytest.importorskip("steering_vectors.aggregators")
    positive, negative, _, _ = _gaussians(40, seed=3)
    found = _by_name(directions(positive, negative, ["caa", "pca", "probe"], 0, 0, "gaussians"))
    theirs = {
        "caa": aggregators.mean_aggregator()(positive, negative),
        "pca": aggregators.pca_aggregator()(positive, negative),
        "probe": aggregators.logistic_aggregator()(positive, negative),
    }
    caa_norm = float(found["caa"].vector.double().norm())
    assert torch.allclose(found["caa"].vector, theirs["caa"], atol=1e-5)
    for name in ("pca", "probe"):  # theirs are unit vectors: the same after the same scaling
        scaled = theirs[name].double() * caa_norm / theirs[name].double().norm()
        assert torch.allclose(found[name].vector.double(), scaled, atol=1e-5), name


def test_directions_are_byte_identical_across_runs():
    positive, negative, _, _ = _gaussians(40, seed=5)
    methods = ["caa", "pca", "probe", "whitened", "random", "shuffled"]
    first = directions(positive, negative, methods, 3, 7, "d")
    second = directions(positive.clone(), negative.clone(), methods, 3, 7, "d")
    assert [d.name for d in first] == ["caa", "pca", "probe", "whitened"] + [f"random_{i}" for i in range(3)] + [
        f"shuffled_{i}" for i in range(3)
    ]
    assert all(x.vector.numpy().tobytes() == y.vector.numpy().tobytes() for x, y in zip(first, second))


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"methods": ["caa", "lda"]}, r"vectors\.methods: unknown method 'lda'"),
        ({"pairs": 1}, r"mydata: 1 training pair\(s\); the vector methods need 2"),
        ({"same": True}, r"mydata: the CAA vector is zero"),
    ],
)
def test_a_direction_that_cannot_be_computed_names_the_method_and_dataset(change, pattern):
    positive, negative, _, _ = _gaussians(change.get("pairs", 10))
    if change.get("same"):
        negative = positive.clone()
    with pytest.raises(VectorMethodError, match=pattern):
        directions(positive, negative, change.get("methods", ["caa", "pca"]), 2, 0, "mydata")


def test_method_vectors_are_named_for_the_vectors_file_and_kept_out_of_the_ood_vectors():
    from steering_reliability.model.vector_methods import method_vectors
    from steering_reliability.model.vector_names import without_methods

    positive, negative, _, _ = _gaussians(30)
    vectors, norms = method_vectors(positive, negative, ["caa", "pca", "random"], 2, 0, "d")
    assert list(vectors) == ["method.pca", "method.random_0", "method.random_1"] and set(norms) == set(vectors)
    stored = {"baseline": caa_vector(positive, negative), "SYS_pos": caa_vector(positive, negative), **vectors}
    assert list(without_methods(stored)) == ["baseline", "SYS_pos"]


def _items(slopes_by_vector: dict[str, list[float]], dataset: str = "d"):
    import pandas as pd

    rows = []
    for vector, slopes in slopes_by_vector.items():
        for index, slope in enumerate(slopes):
            rows.append(
                {
                    "dataset": dataset,
                    "variant": "baseline",
                    "vector": vector,
                    "item_id": f"{dataset}/{index}",
                    "slope": slope,
                    "slope_se": 0.01,
                }
            )
    rows.append({**rows[0], "variant": "SYS_pos", "vector": "SYS_pos"})  # an OOD row: not a method's
    return pd.DataFrame(rows)


def test_each_method_is_compared_with_the_null_draws_of_its_dataset():
    """Known answer: 19 random draws whose mean slopes are -0.9..0.9 and whose anti-steerable fractions are known;
    a method with mean slope 0.95 beats all 19 (p = 1/20), CAA with mean 0 beats 9 of them (p = 11/20)."""
    from steering_reliability.analysis.method_comparison import method_table, null_comparison
    from steering_reliability.model.vector_names import method_of

    draws = {f"method.random_{k}": [(k - 9) / 10 - 0.05, (k - 9) / 10 + 0.05] for k in range(19)}
    items = _items({"baseline": [-0.5, 0.5], "method.pca": [0.9, 1.0], **draws})
    table = method_table(items, resamples=200, seed=0)
    assert method_of("method.random_12") == ("random", 12) and method_of("baseline") == ("caa", None)
    assert set(table["method"]) == {"caa", "pca", "random"} and table["draw"].notna().sum() == 19
    assert "SYS_pos" not in set(table["vector"])
    nulls = null_comparison(table).set_index("method")
    assert nulls.loc["pca", "mean_steerability"] == pytest.approx(0.95)
    assert nulls.loc["pca", "mean_steerability_random_p"] == pytest.approx(1 / 20)
    assert nulls.loc["caa", "mean_steerability_random_p"] == pytest.approx(11 / 20)  # draws 9..18 are >= 0
    assert nulls.loc["caa", "mean_steerability_random_mean"] == pytest.approx(0.0, abs=1e-12)
    # anti-steerable fractions: pca 0; draws k <= 8 have 1, k = 9 has 1/2, k >= 10 have 0 (9 as good as pca's 0)
    assert nulls.loc["pca", "anti_steerable_fraction_random_p"] == pytest.approx((1 + 9) / 20)
    assert nulls.loc["pca", "random_draws"] == 19 and "mean_steerability_shuffled_p" not in nulls


@pytest.mark.parametrize(
    ("vectors", "pattern"),
    [
        ({"methods": ["caa", "lda"]}, r"vectors\.methods\[1\]: unknown method 'lda' \(known: caa, pca"),
        ({"methods": ["pca", "random"], "null_draws": 0}, r"vectors\.null_draws: 0 draws, but .* the random null"),
        ({"ood": ["caa", "random"]}, r"ood\.methods\[1\]: 'random' is a null; the nulls are compared in distribution"),
        ({"ood": ["probe"]}, r"ood\.methods\[0\]: 'probe' is not among vectors\.methods \['caa'\]"),
    ],
)
def test_a_bad_method_setting_is_one_line_naming_the_key_before_compute(vectors, pattern):
    from steering_reliability.run.config import ConfigError, check_config

    from conftest import with_defaults

    config = {
        "data": {"datasets": ["truthfulqa"]},
        "models": {"m": {"source": "embedded", "id": "smollm2-135m-instruct", "layer": 3}},
        "vectors": {key: value for key, value in vectors.items() if key != "ood"},
        "ood": {"methods": vectors.get("ood", ["caa"])},
    }
    with pytest.raises(ConfigError, match=pattern):
        check_config(with_defaults(config))


def test_each_vector_gets_the_spurious_bias_shares_of_its_own_slopes():
    """One vector's slopes are set by the A/B position alone (share 1), another's not at all (share 0)."""
    from steering_reliability.analysis.method_comparison import method_table

    items = _items({"baseline": [1.0, 3.0, 1.0, 3.0, 1.0, 3.0, 1.0, 3.0], "method.pca": [1, 1, 3, 3, 1, 1, 3, 3]})
    items["positive_is_a"] = [True, False] * 4 * 2 + [True]  # the last row is the OOD one
    table = method_table(items, resamples=200, seed=0).set_index("method")
    assert table.loc["caa", "share_ab"] == pytest.approx(1.0)
    assert table.loc["caa", "share_ab_ci_low"] == pytest.approx(1.0)
    assert table.loc["pca", "share_ab"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["pca", "share_residual"] == pytest.approx(1.0)


def test_geometry_along_each_direction_has_its_known_separation_and_cosine():
    """Positive projections {1, 3} and negative {-1, -3} on x: d' = 4 / sqrt(2) along any direction whose x part is
    the same up to scale; a direction orthogonal to x separates nothing."""
    from steering_reliability.analysis.method_comparison import method_cosines, method_geometry

    positive = np.array([[1.0, 0.0, 5.0], [3.0, 0.0, 5.0]])
    negative = np.array([[-1.0, 0.0, 5.0], [-3.0, 0.0, 5.0]])
    vectors = {
        "baseline": np.array([2.0, 0.0, 0.0]),
        "method.pca": np.array([1.0, 1.0, 0.0]),
        "method.random_0": np.array([0.0, 1.0, 0.0]),
        "SYS_pos": np.array([1.0, 0.0, 0.0]),  # an OOD vector: not a method's
    }
    table = method_geometry(positive, negative, vectors, resamples=50, seed=0).set_index("vector")
    assert list(table.index) == ["baseline", "method.pca", "method.random_0"]
    assert table.loc["baseline", "discriminability"] == pytest.approx(4 / np.sqrt(2))
    assert table.loc["method.pca", "discriminability"] == pytest.approx(4 / np.sqrt(2))
    assert table.loc["method.pca", "cosine_with_caa"] == pytest.approx(1 / np.sqrt(2))
    assert table.loc["baseline", "projection_auroc"] == 1.0 and table.loc["method.random_0", "projection_auroc"] == 0.5
    assert table.loc["method.random_0", "method"] == "random" and table.loc["method.random_0", "draw"] == 0
    cosines = method_cosines(vectors)
    assert set(cosines["method_a"]) == {"caa", "pca"}  # the nulls' cosines with CAA are in the geometry table
    assert cosines.set_index(["method_a", "method_b"]).loc[("pca", "caa"), "cosine"] == pytest.approx(2**-0.5)


def test_a_methods_ood_vectors_are_built_as_caas_from_its_direction_on_each_variant():
    from steering_reliability.data.variants import VARIANTS
    from steering_reliability.model.vector_methods import ood_method_vectors
    from steering_reliability.model.vector_names import caa_vectors, split_ood_name

    pairs = {variant: _gaussians(30, seed=index)[:2] for index, variant in enumerate(VARIANTS)}
    vectors = ood_method_vectors(pairs, ["caa", "pca"], 0, "d")
    assert sorted(vectors) == sorted(f"pca:{name}" for name in [*VARIANTS, "mean"])
    assert split_ood_name("pca:SYS_pos") == ("pca", "SYS_pos") and split_ood_name("SYS_pos") == ("caa", "SYS_pos")
    own = _by_name(directions(*pairs["baseline"], ["pca"], 0, 0, "d"))["pca"].vector
    assert torch.equal(vectors["pca:baseline"], own)  # the in-distribution direction, unchanged
    baseline_norm = float(caa_vector(*pairs["baseline"]).double().norm())
    for name, vector in vectors.items():
        assert float(vector.double().norm()) == pytest.approx(baseline_norm, rel=1e-6), name
    other = _by_name(directions(*pairs["SYS_pos"], ["pca"], 0, 0, "d"))["pca"].vector
    assert abs(_unit(vectors["pca:SYS_pos"]) @ _unit(other)) == pytest.approx(1.0)
    assert caa_vectors({"baseline": 1, "SYS_pos": 2, "method.pca": 3, "pca:SYS_pos": 4}) == {
        "baseline": 1,
        "SYS_pos": 2,
    }


def test_ood_items_of_each_method_take_the_plain_vector_names():
    import pandas as pd

    from steering_reliability.analysis.ood import method_items

    items = pd.DataFrame(
        {
            "vector": ["baseline", "SYS_pos", "pca:baseline", "pca:SYS_pos", "method.pca"],
            "slope": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    by_method = method_items(items)
    assert list(by_method) == ["caa", "pca"]
    assert by_method["caa"]["vector"].tolist() == ["baseline", "SYS_pos"]
    assert by_method["pca"][["vector", "slope"]].values.tolist() == [["baseline", 3.0], ["SYS_pos", 4.0]]


def _nulls(caa: list[float], draws: int, above: int, share_ab: float = 0.2):
    """A methods_vs_null table of CAA alone: mean steerability ``caa`` per dataset beside a random null whose draws
    average 0, CAA beating every draw on the first ``above`` datasets."""
    import pandas as pd

    rows = []
    for index, value in enumerate(caa):
        rows.append(
            {
                "dataset": f"d{index}",
                "method": "caa",
                "mean_steerability": value,
                "mean_steerability_random_mean": 0.0,
                "mean_steerability_random_p": 1 / (draws + 1) if index < above else 0.5,
                "anti_steerable_fraction": 0.1,
                "anti_steerable_fraction_random_mean": 0.5,
                "share_ab": share_ab,
                "share_ab_random_mean": share_ab,
                "random_draws": draws,
            }
        )
    return pd.DataFrame(rows)


def test_the_findings_against_chance_count_datasets_and_compare_dataset_by_dataset():
    """10 datasets, 19 draws: CAA beats every draw on 6 (0.5 expected; binomial tail computed by hand), steers all
    with 10% anti-steerable items against the null's 50%, and has the null's A/B share."""
    import math

    import pandas as pd

    from steering_reliability.analysis.method_summary import chance_findings, method_rows
    from steering_reliability.analysis.summary import Run

    run = Run({}, "default", 500, 0)
    nulls = _nulls([0.5 + 0.01 * k for k in range(10)], draws=19, above=6)
    steerability = pd.DataFrame({"dataset": [f"d{k}" for k in range(10)], "mean_steerability_ci_low": 0.1})
    found = {row["finding"][:2]: row for row in chance_findings("m", steerability, nulls, run)}
    tail = sum(math.comb(10, k) * 0.05**k * 0.95 ** (10 - k) for k in range(6, 11))
    assert (
        f"above all 19 draws on 6 of 10 datasets (0.5 expected by chance, binomial p = {tail:.2g})"
        in (found["F0"]["evidence"])
    )
    assert found["F0"]["verdict"] == "holds against chance"
    assert found["F1"]["evidence"].startswith("10% of items anti-steerable vs 50% for a random direction")
    assert found["F1"]["verdict"] == "fewer anti-steerable items than chance gives"
    assert found["F2"]["verdict"].startswith("as large as for a random direction of the same norm")
    methods = pd.DataFrame({"dataset": ["d0"], "method": ["caa"], "draw": [None]}).assign(
        mean_steerability=0.5, anti_steerable_fraction=0.1, share_ab=0.2
    )
    rows = {row["quantity"]: row for row in method_rows("m", methods, nulls, run)}
    assert rows["datasets_above_null[caa vs random]"]["value"] == 6
    assert rows["mean_steerability[method:caa]"]["value"] == pytest.approx(0.5)


def test_a_counterbalanced_study_is_judged_against_chance_on_both_orders_and_the_position_share():
    """With both answer orders the A/B factor is constant within a pair: F1 reads the items anti-steerable in both
    orders, F2 the position's share, each against the null's."""
    import pandas as pd

    from steering_reliability.analysis.method_summary import chance_findings, method_rows
    from steering_reliability.analysis.summary import Run

    run = Run({}, "default", 500, 0)
    nulls = _nulls([0.5] * 6, draws=9, above=6, share_ab=0.0).assign(
        anti_steerable_both_orders_fraction=0.05,
        anti_steerable_both_orders_fraction_random_mean=0.25,
        position_share=[0.9, 0.8, 0.9, 0.7, 0.8, 0.9],
        position_share_random_mean=0.3,
    )
    steerability = pd.DataFrame({"dataset": [f"d{k}" for k in range(6)], "mean_steerability_ci_low": 0.1})
    found = {row["finding"][:2]: row for row in chance_findings("m", steerability, nulls, run)}
    assert found["F1"]["evidence"].startswith("5% of items anti-steerable in both answer orders vs 25%")
    assert found["F2"]["finding"].startswith("F2 against chance: the position share")
    assert found["F2"]["verdict"] == "larger than chance gives: the vector's own bias"
    methods = pd.DataFrame({"dataset": ["d0"], "method": ["caa"], "draw": [None]}).assign(
        mean_steerability=0.5,
        anti_steerable_fraction=0.1,
        share_ab=0.0,
        anti_steerable_both_orders_fraction=0.05,
        position_share=0.9,
    )
    quantities = {row["quantity"] for row in method_rows("m", methods, nulls, run)}
    assert "position_share[method:caa]" in quantities and "share_ab[method:caa]" not in quantities


def test_without_a_steered_dataset_f1_against_chance_is_not_testable():
    import pandas as pd

    from steering_reliability.analysis.method_summary import chance_findings
    from steering_reliability.analysis.summary import Run

    steerability = pd.DataFrame({"dataset": ["d0", "d1"], "mean_steerability_ci_low": [-0.1, -0.2]})
    found = chance_findings("m", steerability, _nulls([0.0, 0.0], draws=5, above=0), Run({}, "default", 100, 0))
    assert [row["verdict"] for row in found][1] == "not testable (nothing steered)"


def test_the_sizing_counts_every_direction_each_prompt_variant_is_evaluated_with():
    from steering_reliability.model.vector_names import evaluated_vectors

    config = {"vectors": {"methods": ["caa", "pca", "random"], "null_draws": 3}, "ood": {"methods": ["caa", "pca"]}}
    assert evaluated_vectors(config, in_ood=True, variant="baseline") == 6 * 2 + 1 + 3  # CAA's and pca's six, + ID
    assert evaluated_vectors(config, in_ood=True, variant="PT_neg") == 6 * 2
    assert evaluated_vectors(config, in_ood=False, variant="baseline") == 1 + 1 + 3
    caa_only = {"vectors": {"methods": ["caa"], "null_draws": 20}, "ood": {"methods": ["caa"]}}
    assert [evaluated_vectors(caa_only, ood, "baseline") for ood in (True, False)] == [6, 1]
