"""The post database: which records form it (hand-computed), and its incremental statistics
(:class:`core.HistoryWindow` against a fresh :func:`core.history_stats`)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core
from core import HistoryWindow, ModelInputError, ModelParams, in_database

# A post's records over days 1..4, both shifts (day d's night record comes after its day one).
KEYS = [(d, s) for d in (1, 2, 3, 4) for s in ("day", "night")]


def _chosen(*, day: int, shift: str, pool: str, window: int) -> list[tuple[int, str]]:
    params = ModelParams(history_pool=pool, history_window_days=window)
    mask = in_database(KEYS, day=day, shift=shift, params=params)
    return [k for k, keep in zip(KEYS, mask, strict=True) if keep]


def test_post_pool_takes_both_shift_types_of_the_window_days():
    # day 4, W = 2: days 2 and 3; day 4's own day shift is not in the night's database.
    chosen = _chosen(day=4, shift="night", pool="post", window=2)
    assert chosen == [(2, "day"), (2, "night"), (3, "day"), (3, "night")]


def test_post_shift_pool_takes_only_the_same_shift_type():
    chosen = _chosen(day=4, shift="night", pool="post_shift", window=2)
    assert chosen == [(2, "night"), (3, "night")]


@pytest.mark.parametrize(
    ("day", "window", "days"),
    [
        (4, 1, [3]),  # W = 1: yesterday only
        (4, 3, [1, 2, 3]),  # d − W = 1 is the first day in
        (4, 30, [1, 2, 3]),  # a window reaching before day 1 takes what exists
        (5, 3, [2, 3, 4]),  # d − W − 1 = 1 drops out
        (1, 30, []),  # day 1 has no past
    ],
)
def test_window_edges(day, window, days):
    chosen = _chosen(day=day, shift="day", pool="post_shift", window=window)
    assert chosen == [(d, "day") for d in days]


def test_defaults_are_a_month_of_both_shift_types():
    keys = [(d, "day") for d in range(1, 40)]
    mask = in_database(keys, day=40, shift="night")
    assert [k[0] for k, keep in zip(keys, mask, strict=True) if keep] == list(range(10, 40))


def test_a_worker_alone_in_its_own_database_is_judged_against_itself():
    # Post 2 of n = 3. Worker "a" works nights and always stands at post 3; "b" works days
    # at post 2. Both worked days 1 and 2; a is evaluated on day 3's night shift.
    T = 4
    records = {
        (1, "day"): np.full(T, 2),
        (1, "night"): np.full(T, 3),
        (2, "day"): np.full(T, 2),
        (2, "night"): np.full(T, 3),
    }
    keys = list(records)
    worker_a = np.full(T, 3)
    z = {}
    for pool in ("post_shift", "post"):
        mask = in_database(keys, day=3, shift="night", params=ModelParams(history_pool=pool))
        history = np.stack([records[k] for k, keep in zip(keys, mask, strict=True) if keep])
        z[pool] = core.onpost_state(history, worker_a, 2, 3)
    # post_shift: a's own two records, s_t = 3 everywhere: a matches itself, Z = 0.
    assert z["post_shift"] == 0.0
    # post: two records at 2 and two at 3 tie, the post itself wins: s_t = 2, a is off post.
    assert z["post"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"keys": [(1, "day")], "day": 2.0, "shift": "day"}, "`day` must be an int"),
        ({"keys": [(1, "day")], "day": 2, "shift": 1}, "`shift` must be a shift name"),
        ({"keys": [(1,)], "day": 2, "shift": "day"}, "`keys[0]` must be a (day, shift name)"),
        ({"keys": [("1", "day")], "day": 2, "shift": "day"}, "`keys[0] day` must be an int"),
    ],
)
def test_bad_database_keys_are_rejected(kwargs, message):
    with pytest.raises(ModelInputError) as info:
        in_database(**kwargs)
    assert message in str(info.value)


def _records(rng: np.random.Generator, k: int, *, n: int, T: int):
    """k records of one post: mostly at post 1, some breaks and visits, float32 speeds."""
    p = np.full(n + 1, 0.5 / n)
    p[1] += 0.5
    positions = rng.choice(n + 1, size=(k, T), p=p / p.sum())
    speeds = rng.gamma(2.0, 5.0, size=(k, T, 14)).astype(np.float32)
    return positions, speeds


def _assert_same_stats(window: core.HistoryStats, fresh: core.HistoryStats) -> None:
    assert window.m == fresh.m and window.post == fresh.post and window.n_posts == fresh.n_posts
    np.testing.assert_array_equal(window.standard, fresh.standard)
    np.testing.assert_array_equal(window.rho, fresh.rho)  # the same sums in the same order
    np.testing.assert_allclose(window.mean_speeds, fresh.mean_speeds, rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 6),
    steps=st.lists(st.tuples(st.booleans(), st.integers(1, 3)), min_size=1, max_size=12),
)
def test_add_remove_sequences_equal_a_fresh_computation(seed, n, steps):
    """Any sequence of adds and removes gives the stats of the records held."""
    rng = np.random.default_rng(seed)
    T = 23
    window = HistoryWindow(post=1, n_posts=n, T=T)
    held: list[tuple[np.ndarray, np.ndarray]] = []
    for add, k in steps:
        if add or not held:
            batch = _records(rng, k, n=n, T=T)
            window.add(*batch)
            held.append(batch)
        else:
            positions, speeds = held.pop(int(rng.integers(len(held))))
            window.remove(positions, speeds)
        if held:
            positions = np.concatenate([b[0] for b in held])
            speeds = np.concatenate([b[1] for b in held])
            _assert_same_stats(window.stats(), core.history_stats(positions, 1, n, speeds))
        assert window.m == sum(len(b[0]) for b in held)


def test_sliding_window_equals_the_database_of_each_day():
    """Slide a W = 3 window over days 2..8 of both shifts, as a rolling run would."""
    rng = np.random.default_rng(7)
    n, T, W = 3, 31, 3
    params = ModelParams(history_window_days=W)
    by_key = {(d, s): _records(rng, 2, n=n, T=T) for d in range(1, 8) for s in ("day", "night")}
    keys = list(by_key)
    window = HistoryWindow(post=1, n_posts=n, T=T)
    for day in range(2, 9):
        for shift in ("day", "night"):  # day d − 1 comes in, day d − W − 1 goes out
            window.add(*by_key[(day - 1, shift)])
            if (day - W - 1, shift) in by_key:
                window.remove(*by_key[(day - W - 1, shift)])
        for shift in ("day", "night"):
            mask = in_database(keys, day=day, shift=shift, params=params)
            chosen = [by_key[k] for k, keep in zip(keys, mask, strict=True) if keep]
            positions = np.concatenate([c[0] for c in chosen])
            speeds = np.concatenate([c[1] for c in chosen])
            _assert_same_stats(window.stats(), core.history_stats(positions, 1, n, speeds))


def test_window_stats_score_like_history_stats():
    rng = np.random.default_rng(3)
    positions, speeds = _records(rng, 5, n=2, T=40)
    window = HistoryWindow(post=1, n_posts=2, T=40)
    window.add(positions, speeds)
    workers, worker_speeds = _records(rng, 3, n=2, T=40)
    fresh = core.history_stats(positions, 1, 2, speeds)
    np.testing.assert_allclose(
        core.onpost_state_batch(window.stats(), workers),
        core.onpost_state_batch(fresh, workers),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        core.proficiency_batch(window.stats(), worker_speeds),
        core.proficiency_batch(fresh, worker_speeds),
        atol=1e-9,
    )


def test_removing_a_record_never_added_is_rejected_and_changes_nothing():
    window = HistoryWindow(post=1, n_posts=2, T=3)
    window.add(np.array([[1, 1, 2]]), np.ones((1, 3, 14)))
    before = window.stats()
    with pytest.raises(ModelInputError, match="does not hold"):
        window.remove(np.array([[1, 2, 2]]), np.ones((1, 3, 14)))
    assert window.m == 1
    np.testing.assert_array_equal(window.stats().standard, before.standard)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda w: w.stats(), "post 1: the history window holds no records"),
        (lambda w: w.add(np.ones((1, 4), int), np.ones((1, 4, 14))), "`positions` must have shape"),
        (lambda w: w.add(np.ones((2, 3), int), np.ones((1, 3, 14))), "`speeds` must have shape"),
        (lambda w: w.add(np.full((1, 3), 5), np.ones((1, 3, 14))), "area ids in 0..2, got 5"),
        (lambda w: w.add(np.ones((1, 3), int), -np.ones((1, 3, 14))), "`speeds` must be >= 0"),
    ],
)
def test_bad_window_input_is_rejected(call, message):
    window = HistoryWindow(post=1, n_posts=2, T=3)
    with pytest.raises(ModelInputError) as info:
        call(window)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"post": 3, "n_posts": 2, "T": 5}, "`post` must be in 1..2, got 3"),
        ({"post": 1, "n_posts": 2, "T": 0}, "`T` must be an int >= 1"),
    ],
)
def test_bad_window_construction_is_rejected(kwargs, message):
    with pytest.raises(ModelInputError) as info:
        HistoryWindow(**kwargs)
    assert message in str(info.value)


def test_a_window_on_a_long_line_slides_over_new_areas_and_equals_a_fresh_computation():
    """n = 1,000: records visit a few areas each day, new ones as the window slides."""
    rng = np.random.default_rng(11)
    n, T = 1000, 50
    days = []
    for d in range(6):
        positions = np.full((2, T), 500)
        positions[:, rng.integers(0, T, 10)] = rng.choice([0, 499, 501, 10 + d], size=10)
        days.append((positions, rng.gamma(2.0, 5.0, size=(2, T, 14)).astype(np.float32)))
    window = HistoryWindow(post=500, n_posts=n, T=T)
    for d, day in enumerate(days):
        window.add(*day)
        if d >= 3:
            window.remove(*days[d - 3])
        held = days[max(0, d - 2) : d + 1]
        fresh = core.history_stats(np.concatenate([h[0] for h in held]), 500, n,
                                   np.concatenate([h[1] for h in held]))  # fmt: skip
        _assert_same_stats(window.stats(), fresh)
