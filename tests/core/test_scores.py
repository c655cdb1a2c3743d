"""Step 3: history statistics, on-post state Z and proficiency Y (hand-computed cases,
properties, and a differential test against the literal per-second transcription)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import core
from core import ModelInputError, ModelParams
from tests.core import literal_model as literal
from tests.core.conftest import HISTORY

RHO_TIE = 1 - math.log(2) / math.log(4)  # two areas at 1/2 each, n = 3: 0.5


def test_history_stats_by_hand(history):
    stats = core.history_stats(history, 2, 3)
    np.testing.assert_allclose(stats.rho, [1.0, RHO_TIE, 1.0, RHO_TIE, RHO_TIE])
    # ties: own post first (t1, t4), else the smallest id (t3); t2 is a break.
    np.testing.assert_array_equal(stats.standard, [2, 2, 0, 1, 2])
    assert stats.m == 4 and stats.T == 5


def test_onpost_state_by_hand(history):
    # ΔW = [0, 1, 0, 1, 0] against s = [2, 2, 0, 1, 2]; Σρ = 3.5
    assert core.onpost_state(history, np.array([2, 1, 0, 3, 2]), 2, 3) == pytest.approx(1 / 3.5)
    # never at the post: ΔW = [1, 1, 0, 1, 1]
    assert core.onpost_state(history, np.zeros(5, int), 2, 3) == pytest.approx(2.5 / 3.5)
    assert core.onpost_state(history, np.array([2, 2, 0, 1, 2]), 2, 3) == 0.0


def test_onpost_state_zero_when_no_reliable_second():
    # every second spread evenly over the 2 areas of n = 1: ρ_t = 0 everywhere.
    history = np.array([[0, 1], [1, 0]])
    assert core.onpost_state(history, np.array([0, 0]), 1, 1) == 0.0


def _speeds(value_by_keypoint, T=5):
    return np.tile(np.asarray(value_by_keypoint, dtype=float), (T, 1))


@pytest.mark.parametrize(
    ("worker", "expected"),
    [
        (_speeds([10.0] * 14), 1.0),  # equal to the standard motion
        (_speeds([5.5] * 14), 6.5 / 11),  # slower, uniform: q = 6.5/11, σ² = 0
        (_speeds([21.0] * 7 + [0.0] * 7), 506 / 925),  # q ∈ {2, 1/11}: (23/22)/(1+(21/22)²)
    ],
)
def test_proficiency_by_hand(history, worker, expected):
    history_speeds = np.full((4, 5, 14), 10.0)
    assert core.proficiency(history, history_speeds, worker, 2, 3) == pytest.approx(expected)


def test_proficiency_uses_only_reliable_non_break_seconds(history):
    history_speeds = np.full((4, 5, 14), 10.0)
    worker = _speeds([10.0] * 14)
    worker[2] = 0.0  # the break second (s_t = 0) is ignored
    worker[1] = 0.0  # t1 has ρ = 0.5: kept at ρ' = 0.3, dropped at ρ' = 0.6
    kept = core.proficiency(history, history_speeds, worker, 2, 3)
    assert kept == pytest.approx((1 + 1 + 1 + 1 / 11) / 4)
    dropped = core.proficiency(history, history_speeds, worker, 2, 3, ModelParams(rho_min=0.6))
    assert dropped == pytest.approx(1.0)  # only t0 remains


def test_proficiency_eps_changes_the_ratio(history):
    history_speeds = np.full((4, 5, 14), 10.0)
    worker = _speeds([0.0] * 14)
    y = core.proficiency(history, history_speeds, worker, 2, 3, ModelParams(eps=10.0))
    assert y == pytest.approx(10 / 20)


def test_proficiency_nan_when_no_second_is_kept():
    history = np.zeros((3, 4), dtype=int)  # all records on break: s_t = 0 everywhere
    y = core.proficiency(history, np.ones((3, 4, 14)), np.ones((4, 14)), 1, 2)
    assert math.isnan(y)


def test_batch_forms_equal_single_calls(history):
    rng = np.random.default_rng(3)
    history_speeds = rng.gamma(2, 5, size=(4, 5, 14))
    positions = rng.integers(0, 4, size=(6, 5))
    speeds = rng.gamma(2, 5, size=(6, 5, 14))
    stats = core.history_stats(core.PostHistory(history, history_speeds), 2, 3)
    z = core.onpost_state_batch(stats, positions)
    y = core.proficiency_batch(stats, speeds)
    for k in range(6):
        assert z[k] == pytest.approx(core.onpost_state(history, positions[k], 2, 3), abs=1e-12)
        assert y[k] == pytest.approx(
            core.proficiency(history, history_speeds, speeds[k], 2, 3), abs=1e-12
        )


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 5), m=st.integers(1, 6))
def test_differential_against_literal_transcription(seed, n, m):
    rng = np.random.default_rng(seed)
    T = int(rng.integers(5, 40))
    post, history, positions, history_speeds, speeds = literal.random_inputs(rng, n=n, m=m, T=T)
    seconds = ("all", "on_post")[int(rng.integers(2))]
    params = ModelParams(
        rho_min=float(rng.uniform(0, 0.6)),
        eps=float(rng.uniform(0.1, 3)),
        proficiency_seconds=seconds,
    )
    z = core.onpost_state(history, positions, post, n)
    assert abs(z - literal.onpost_state(history, positions, post, n)) <= 1e-9
    y = core.proficiency(history, history_speeds, speeds, post, n, params, positions=positions)
    expected = literal.proficiency(
        history, history_speeds, speeds, post, n, params.rho_min, params.eps,
        positions=positions if seconds == "on_post" else None,
    )  # fmt: skip
    if math.isnan(expected):
        assert math.isnan(y)
    else:
        assert abs(y - expected) <= 1e-9


def test_on_post_proficiency_by_hand():
    """Two reliable seconds on the standard post (q = 1 and 2), one off it (q = 4): ``all``
    averages the three, ``on_post`` the two; without positions ``on_post`` is refused."""
    history = np.array([[1, 1, 1]])
    history_speeds = np.ones((1, 3, 14))
    speeds = np.array([1.0, 3.0, 7.0])[:, None] * np.ones((3, 14))  # eps 1: q = 1, 2, 4
    positions = np.array([1, 1, 0])
    y_all = core.proficiency(history, history_speeds, speeds, 1, 2, ModelParams(rho_min=0.0))
    on_post = ModelParams(rho_min=0.0, proficiency_seconds="on_post")
    y_on = core.proficiency(history, history_speeds, speeds, 1, 2, on_post, positions=positions)
    assert y_all == pytest.approx((1 + 2 + 4) / 3)
    assert y_on == pytest.approx((1 + 2) / 2)
    with pytest.raises(core.ModelInputError, match="positions"):
        core.proficiency(history, history_speeds, speeds, 1, 2, on_post)
    with pytest.raises(core.ModelInputError, match="proficiency_seconds"):
        ModelParams(proficiency_seconds="some")


@settings(max_examples=60, deadline=None)
@given(
    history=hnp.arrays(
        np.int64, st.tuples(st.integers(1, 8), st.integers(1, 30)), elements=st.integers(0, 4)
    ),
)
def test_rho_in_unit_interval_and_z_zero_on_standard_post(history):
    stats = core.history_stats(history, 1, 4)
    assert np.all((stats.rho >= 0) & (stats.rho <= 1))
    z = core.onpost_state_batch(stats, stats.standard[None, :])
    assert z[0] == 0.0


@settings(max_examples=60, deadline=None)
@given(
    history=hnp.arrays(
        np.int64, st.tuples(st.integers(1, 6), st.integers(1, 20)), elements=st.integers(0, 3)
    ),
    data=st.data(),
)
def test_z_in_unit_interval(history, data):
    positions = data.draw(hnp.arrays(np.int64, history.shape[1], elements=st.integers(0, 3)))
    z = core.onpost_state(history, positions, 2, 3)
    assert 0.0 <= z <= 1.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 6))
def test_y_is_one_when_speeds_equal_the_standard_motion(seed, m):
    rng = np.random.default_rng(seed)
    post, history, _, history_speeds, _ = literal.random_inputs(rng, n=3, m=m, T=25)
    y = core.proficiency(history, history_speeds, history_speeds.mean(axis=0), post, 3)
    assert math.isnan(y) or y == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: core.onpost_state(HISTORY, np.zeros(4, int), 2, 3),
            "`positions` must have shape (*, 5), got (1, 4)",
        ),
        (
            lambda: core.onpost_state(HISTORY, np.full(5, 7), 2, 3),
            "`positions` must hold area ids in 0..3, got 7",
        ),
        (
            lambda: core.onpost_state(HISTORY, np.zeros(5, int), 4, 3),
            "`post` must be in 1..3, got 4",
        ),
        (
            lambda: core.onpost_state(HISTORY, np.zeros(5, int), 2, 0),
            "`n_posts` must be an int >= 1, got 0",
        ),
        (
            lambda: core.onpost_state(np.zeros((0, 5), int), np.zeros(5, int), 2, 3),
            "`history` must not be empty",
        ),
        (
            lambda: core.onpost_state(HISTORY[0], np.zeros(5, int), 2, 3),
            "`history` must have 2 dimension(s)",
        ),
        (
            lambda: core.proficiency(HISTORY, np.ones((4, 5, 14)), np.full((5, 14), np.nan), 2, 3),
            "`speeds` must be finite",
        ),
        (
            lambda: core.proficiency(HISTORY, np.ones((4, 5, 14)), -np.ones((5, 14)), 2, 3),
            "`speeds` must be >= 0",
        ),
        (
            lambda: core.proficiency(HISTORY, np.ones((4, 5, 13)), np.ones((5, 14)), 2, 3),
            "`history_speeds` must have shape (4, 5, 14)",
        ),
        (
            lambda: core.proficiency(HISTORY, np.ones((4, 5, 14)), np.ones((5, 13)), 2, 3),
            "`speeds` must have shape (*, 5, 14)",
        ),
    ],
)
def test_bad_input_is_rejected_with_the_argument_named(call, message):
    with pytest.raises(ModelInputError) as info:
        call()
    assert message in str(info.value)


def test_proficiency_seconds_average_to_proficiency():
    rng = np.random.default_rng(3)
    history = rng.integers(0, 4, size=(12, 50))
    history_speeds = rng.gamma(2.0, 3.0, size=(12, 50, core.N_KEYPOINTS))
    speeds = rng.gamma(2.0, 3.0, size=(50, core.N_KEYPOINTS))
    stats = core.history_stats(history, 2, 3, history_speeds)
    params = core.ModelParams(rho_min=0.1, eps=0.5)
    keep, mean, variance = core.proficiency_seconds(stats, speeds, params)
    assert keep.any() and np.isnan(mean[~keep]).all() and not np.isnan(mean[keep]).any()
    expected = core.proficiency_batch(stats, speeds[None], params)[0]
    assert np.mean(mean[keep] / (1 + variance[keep])) == pytest.approx(expected, rel=1e-12)
    # by hand for one second of K: q = (v + ε) / (v̄ + ε), its mean and population variance
    t = int(np.flatnonzero(keep)[0])
    q = (speeds[t] + 0.5) / (history_speeds[:, t].mean(axis=0) + 0.5)
    assert mean[t] == pytest.approx(q.mean()) and variance[t] == pytest.approx(q.var())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), seconds=st.sampled_from(["all", "on_post"]))
def test_proficiency_floors_equal_one_call_per_floor(seed, seconds):
    rng = np.random.default_rng(seed)
    n, m, T = 3, 4, int(rng.integers(5, 60))
    post, history, _, history_speeds, _ = literal.random_inputs(rng, n=n, m=m, T=T)
    stats = core.history_stats(history, post, n, history_speeds)
    speeds = rng.gamma(2.0, 5.0, size=(3, T, 14))
    positions = rng.integers(0, n + 1, size=(3, T))
    params = ModelParams(eps=float(rng.uniform(0.2, 3)), proficiency_seconds=seconds)
    floors = [0.0, 0.05, 0.3, 0.6, 0.95, 1.0]
    got = core.proficiency_floors(stats, speeds, floors, params, positions=positions)
    for row, floor in enumerate(floors):
        at = ModelParams(rho_min=floor, eps=params.eps, proficiency_seconds=seconds)
        expected = core.proficiency_batch(stats, speeds, at, positions=positions)
        np.testing.assert_allclose(got[row], expected, rtol=1e-12, atol=1e-12)
