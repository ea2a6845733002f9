"""How a model stage's datasets are split into jobs (compute.datasets_per_job).

The jobs themselves, their outputs byte for byte and a failure in the middle of one, are tested on the tiny
study in tests/test_reliability.py."""

import pytest

from steering_reliability.dataset_groups import groups

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
