"""Steps 1 and 2: hazard degree, actual correlation, hazard post sets, dwell times."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import core
from core import ModelInputError, ModelParams
from tests.core.conftest import CHAIN3


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([3, 0, 0], [0.6, 0.6, 0.0]),  # a lone major post crosses 0.5
        ([1, 2, 0], [0.6, 0.6, 0.4]),  # minor next to medium crosses 0.5
        ([1, 0, 1], [0.2, 0.4, 0.2]),  # two minor neighbours do not
        ([4, 4, 4], [1.6, 2.4, 1.6]),
        ([0, 0, 0], [0.0, 0.0, 0.0]),
    ],
)
def test_hazard_degree_chain(levels, expected):
    assert core.hazard_degree(np.array(levels), CHAIN3) == pytest.approx(expected)


def test_hazard_degree_counts_own_level_once_whatever_the_diagonal():
    G = np.array([[0.3, 0.5], [0.0, 0.0]])
    # D_1 = 0.2 (2 + 0.5·4) = 0.8; D_2 = 0.2 (4 + 0·2) = 0.8
    assert core.hazard_degree([2, 4], G) == pytest.approx([0.8, 0.8])


def test_actual_correlation_out_and_both():
    dwell = np.array(
        [
            [10.0, 80.0, 10.0, 0.0],  # post 1's worker: 10 s at post 2
            [0.0, 0.0, 100.0, 0.0],
            [0.0, 30.0, 0.0, 70.0],  # post 3's worker: 30 s at post 1
        ]
    )
    P = core.actual_correlation(dwell, 100.0, CHAIN3)
    assert P[0, 1] == pytest.approx(0.5 * 1 + 0.5 * 0.1)
    assert P[0, 2] == pytest.approx(0.0)
    assert P[2, 0] == pytest.approx(0.5 * 0 + 0.5 * 0.3)
    both = core.actual_correlation(dwell, 100.0, CHAIN3, ModelParams(direction="both"))
    # r_13 = min(1, (β_13 + β_31) / T) = 0.3: post 3's worker at post 1 links them too.
    assert both[0, 2] == pytest.approx(0.5 * 0.3)
    assert both[2, 0] == pytest.approx(0.5 * 0.3)
    assert both[1, 1] == pytest.approx(0.5 + 0.5 * 1.0)  # min(1, 2·β_22/T) = 1
    lam1 = core.actual_correlation(dwell, 100.0, CHAIN3, ModelParams(lam=1.0))
    np.testing.assert_allclose(lam1, CHAIN3)


def test_hazard_post_sets_include_the_post_and_correlated_posts():
    D = np.array([0.6, 0.6, 0.0])
    P = np.array([[1.0, 0.55, 0.0], [0.5, 0.9, 0.7], [0.9, 0.9, 0.9]])
    # post 2: P_21 = 0.5 is not > 0.5; post 3 is no hazard post.
    assert core.hazard_post_sets(D, P) == {1: [1, 2], 2: [2, 3]}
    assert core.hazard_post_sets(D, P, ModelParams(tau_D=0.6)) == {}
    assert core.hazard_post_sets(D, np.zeros((3, 3))) == {1: [1], 2: [2]}


def test_dwell_times_average_workers_of_a_post():
    positions = np.array([[1, 1, 0, 2], [1, 1, 1, 1], [2, 2, 2, 0]])
    posts = np.array([1, 1, 2])
    dwell = core.dwell_times(positions, posts, 2, rate_hz=2.0)
    # post 1: (2 + 4)/2 samples at area 1 = 3 samples = 1.5 s; 0.5 samples at 0 and at 2.
    np.testing.assert_allclose(dwell, [[0.25, 1.5, 0.25], [0.5, 0.0, 1.5]])


@given(
    levels=st.lists(st.integers(0, 4), min_size=2, max_size=6),
    data=st.data(),
)
def test_hazard_degree_monotone_in_each_level(levels, data):
    n = len(levels)
    g = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n * n, max_size=n * n))).reshape(n, n)
    i = data.draw(st.integers(0, n - 1))
    base = core.hazard_degree(np.array(levels), g)
    if levels[i] < 4:
        raised = list(levels)
        raised[i] += 1
        assert np.all(core.hazard_degree(np.array(raised), g) >= base - 1e-12)
        assert core.hazard_degree(np.array(raised), g)[i] > base[i]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: core.hazard_degree([0, 5, 0], CHAIN3),
            "`levels` must hold hazard levels in 0..4, got 5",
        ),
        (lambda: core.hazard_degree([0, -1, 0], CHAIN3), "got -1"),
        (lambda: core.hazard_degree([0.5, 1, 0], CHAIN3), "integer hazard levels"),
        (lambda: core.hazard_degree([0, 1], CHAIN3), "`G` must have shape (2, 2), got (3, 3)"),
        (lambda: core.hazard_degree([], CHAIN3), "`levels`"),
        (
            lambda: core.hazard_degree([0, 1, 0], CHAIN3 * 2),
            "`G` must hold finite values in [0, 1]",
        ),
        (
            lambda: core.actual_correlation(-np.ones((3, 4)), 10, CHAIN3),
            "`dwell` must hold finite seconds >= 0",
        ),
        (
            lambda: core.actual_correlation(np.ones((3, 3)), 10, CHAIN3),
            "`dwell` must have shape (3, 4)",
        ),
        (
            lambda: core.actual_correlation(np.ones((3, 4)), 0, CHAIN3),
            "`T` must be a number of seconds > 0",
        ),
        (lambda: core.actual_correlation(np.ones((3, 4)), 2, CHAIN3), "more than the shift length"),
        (lambda: core.hazard_post_sets([0.1, np.nan], np.zeros((2, 2))), "`D` must hold finite"),
        (lambda: core.hazard_post_sets([0.1, 0.2], np.zeros((3, 3))), "`P` must have shape (2, 2)"),
        (
            lambda: core.dwell_times(np.array([[0, 4]]), [1], 3),
            "`positions` must hold area ids in 0..3, got 4",
        ),
        (
            lambda: core.dwell_times(np.array([[0, 1]]), [0], 3),
            "`posts` must hold posts in 1..3, got 0",
        ),
    ],
)
def test_bad_input_is_rejected_with_the_argument_named(call, message):
    with pytest.raises(ModelInputError) as info:
        call()
    assert message in str(info.value)


def test_dwell_row_equals_the_post_row_of_dwell_times():
    rng = np.random.default_rng(5)
    positions = rng.integers(0, 4, size=(3, 50))
    full = core.dwell_times(positions, [2, 2, 2], 3, rate_hz=2.0)
    np.testing.assert_allclose(core.dwell_row(positions, 3, rate_hz=2.0), full[1])
