"""Step 4: the root-cause table of one shift."""

from __future__ import annotations

import math

import numpy as np
import pytest

import core
from core import ModelInputError, ModelParams, WorkerShift
from tests.core import literal_model as literal
from tests.core.conftest import CHAIN3

DWELL = np.array(
    [
        [10.0, 90.0, 0.0, 0.0],
        [30.0, 0.0, 70.0, 0.0],  # post 2's worker: 30 s off post, never at a neighbour
        [0.0, 0.0, 20.0, 80.0],  # post 3's worker: 20 s at post 2
    ]
)


def _decide(levels, Z, Y, params=ModelParams(), dwell=DWELL):
    return core.decide_shift(
        levels, CHAIN3, dwell=dwell, T=100.0, worker_ids=["a", "b", "c"],
        worker_posts=[1, 2, 3], Z=Z, Y=Y, params=params,
    )  # fmt: skip


def test_hazard_in_the_middle_flags_the_wandering_worker():
    # levels [0, 3, 0]: D = [0.6, 0.6, 0.6]; P_12 = 0.5 (not > 0.5), P_21 = 0.5,
    # P_23 = 0.5, P_32 = 0.5 + 0.5·0.2 = 0.6 → S_1 = {1}, S_2 = {2}, S_3 = {2, 3}.
    table = _decide([0, 3, 0], Z=[0.0, 0.3, 0.1], Y=[1.0, 0.95, 1.0])
    np.testing.assert_allclose(table.D, [0.6, 0.6, 0.6])
    assert table.sets == {1: [1], 2: [2], 3: [2, 3]}
    assert [(c.hazard_post, c.worker, c.reasons) for c in table.root_causes] == [
        (2, "b", ("off_post",)),
        (3, "b", ("off_post",)),
    ]
    assert table.equipment_causes == (1,)
    assert [w.checked for w in table.workers] == [True, True, True]
    assert "post 1: D=0.60 set=[1] cause=equipment/environment" in table.format()


def test_low_proficiency_and_both_reasons():
    table = _decide([3, 0, 0], Z=[0.5, 0.0, 0.0], Y=[0.6, 0.7, 1.0])
    # D = [0.6, 0.6, 0.0]; S_1 = {1}; S_2 = {2} (P_21 = 0.5 + 0 = 0.5 is not > 0.5)
    assert table.sets == {1: [1], 2: [2]}
    causes = {(c.hazard_post, c.worker): c.reasons for c in table.root_causes}
    assert causes == {(1, "a"): ("off_post", "low_proficiency"), (2, "b"): ("low_proficiency",)}
    # c is out of scope but still gets its flags computed
    c = table.workers[2]
    assert (c.checked, c.management, c.training) == (False, False, False)


def test_nan_proficiency_never_flags_training():
    table = _decide([3, 0, 0], Z=[0.0, 0.0, 0.0], Y=[math.nan, 1.0, 1.0])
    assert table.root_causes == ()
    assert table.equipment_causes == (1, 2)


def test_no_hazard_means_empty_table():
    table = _decide([1, 0, 1], Z=[0.9, 0.9, 0.9], Y=[0.1, 0.1, 0.1])
    assert table.sets == {} and table.root_causes == () and table.equipment_causes == ()
    assert table.format() == "no hazard post"
    assert all(w.management and w.training and not w.checked for w in table.workers)


def test_direction_both_pulls_in_a_visitor():
    # post 3's worker spends 60 s at post 1; with λ = 0 only dwell links posts.
    dwell = np.array([[0, 100, 0, 0], [0, 0, 100, 0], [0, 60, 0, 40.0]])
    params_out = ModelParams(lam=0.0, tau_D=0.55)
    out = _decide([3, 0, 0], Z=[0, 0, 0.6], Y=[1, 1, 1], params=params_out, dwell=dwell)
    assert out.sets[1] == [1]
    both = _decide(
        [3, 0, 0], Z=[0, 0, 0.6], Y=[1, 1, 1],
        params=ModelParams(lam=0.0, tau_D=0.55, direction="both"), dwell=dwell,
    )  # fmt: skip
    assert both.sets[1] == [1, 3]  # r_13 = (0 + 60) / 100 = 0.6 > 0.5
    assert [(c.hazard_post, c.worker) for c in both.root_causes] == [(1, "c")]


def test_track_shift_matches_literal_pipeline():
    rng = np.random.default_rng(11)
    n, m, T = 3, 6, 30
    histories = {}
    workers = []
    for post in range(1, n + 1):
        _, hist, pos, hist_speeds, speeds = literal.random_inputs(rng, n=n, m=m, T=T)
        hist = np.where(hist == 1, post, hist)  # each post's history centred on the post
        histories[post] = core.PostHistory(hist, hist_speeds)
        workers.append(WorkerShift(f"w{post}", post, pos, speeds))
    levels = np.array([3, 1, 0])
    params = ModelParams(lam=0.3)
    table = core.track_shift(levels, CHAIN3, workers, histories, params=params)
    D = literal.hazard_degree(list(levels), CHAIN3.tolist())
    dwell = core.dwell_times(np.stack([w.positions for w in workers]), [1, 2, 3], n)
    P = literal.actual_correlation(dwell.tolist(), T, CHAIN3.tolist(), 0.3, "out")
    assert table.sets == literal.hazard_post_sets(D, P, 0.5, 0.5)
    for w in table.workers:
        hist = histories[w.post]
        src = workers[w.post - 1]
        assert (
            pytest.approx(literal.onpost_state(hist.positions, src.positions, w.post, n), abs=1e-9)
            == w.Z
        )
        assert (
            pytest.approx(
                literal.proficiency(hist.positions, hist.speeds, src.speeds, w.post, n, 0.3, 1.0),
                abs=1e-9,
            )
            == w.Y
        )


def test_track_shift_rejects_missing_history_and_ragged_workers():
    w1 = WorkerShift("a", 1, np.ones(5, int), np.ones((5, 14)))
    w2 = WorkerShift("b", 2, np.ones(4, int), np.ones((4, 14)))
    hist = core.PostHistory(np.ones((2, 5), int), np.ones((2, 5, 14)))
    with pytest.raises(ModelInputError, match="one length T, got \\[4, 5\\]"):
        core.track_shift([0, 0], np.eye(2), [w1, w2], {1: hist})
    with pytest.raises(ModelInputError, match="`histories` has no history for post 2"):
        core.track_shift(
            [0, 0],
            np.eye(2),
            [w1, WorkerShift("b", 2, np.ones(5, int), np.ones((5, 14)))],
            {1: hist},
        )
    with pytest.raises(ModelInputError, match="`workers` must hold at least one worker"):
        core.track_shift([0, 0], np.eye(2), [], {1: hist})


def test_decide_shift_rejects_mismatched_workers():
    with pytest.raises(ModelInputError, match="`worker_ids` must have 3 entries"):
        core.decide_shift([0, 0, 0], CHAIN3, dwell=DWELL, T=100.0, worker_ids=["a"],
                          worker_posts=[1, 2, 3], Z=[0, 0, 0], Y=[1, 1, 1])  # fmt: skip
    with pytest.raises(ModelInputError, match="`Z` must have shape"):
        core.decide_shift([0, 0, 0], CHAIN3, dwell=DWELL, T=100.0, worker_ids=["a", "b", "c"],
                          worker_posts=[1, 2, 3], Z=[0, 0], Y=[1, 1, 1])  # fmt: skip
