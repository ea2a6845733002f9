"""How a model stage's datasets are split into jobs (compute.datasets_per_job).

The jobs themselves, their outputs byte for byte and a failure in the middle of one, are tested on the tiny
study in tests/test_reliability.py."""

import pytest

from steering_reliability.run.dataset_groups import groups

NAMES = [f"d{index}" for index in range(40)]


@pytest.mark.parametrize(
    ("count", "per_job", "sizes"),
    [
        (40, 10, [10] * 4),
        (40, 5, [5] * 8),
        (11, 4, [4, 4, 3]),
        (11, 10, [6, 5]),
        (40, 1, [1] * 40),
        (3, 10, [3]),
        (0, 5, []),
    ],
)
def test_groups_cover_every_dataset_once_in_order_in_near_equal_jobs(count, per_job, sizes):
    split = groups(NAMES[:count], per_job)
    assert [len(group) for group in split] == sizes
    assert [name for group in split for name in group] == NAMES[:count]


def test_a_job_of_no_dataset_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        groups(NAMES, 0)


def test_each_stage_groups_its_own_datasets():
    """Activations and evaluation cover data.datasets; the sweep its own list, or all of them."""
    from steering_reliability.run.dataset_groups import stage_groups

    config = {
        "data": {"datasets": NAMES[:11]},
        "sweep": {"datasets": NAMES[:3]},
        "compute": {"datasets_per_job": {"activations": 10, "evaluation": 4, "sweep": 2}},
    }
    jobs = stage_groups(config)
    assert [len(group) for group in jobs["activations"]] == [6, 5]
    assert [len(group) for group in jobs["evaluation"]] == [4, 4, 3]
    assert jobs["sweep"] == [NAMES[:2], NAMES[2:3]]
    config["sweep"]["datasets"] = "all"
    assert [len(group) for group in stage_groups(config)["sweep"]] == [2] * 5 + [1]
