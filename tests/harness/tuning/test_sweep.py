"""The exact threshold sweep: the same scope as core's decisions, the best value over every
threshold, thresholds that reach it, ties toward the start."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core
from harness.tuning._space import RANGES, Range
from harness.tuning._sweep import SWEEPABLE, Stacked, SweepPlan, in_scope, plan_sweep, sweep


def _random_line(seed: int) -> tuple[Stacked, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, shifts = int(rng.integers(2, 5)), int(rng.integers(1, 4))
    G = np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)
    T = 100.0
    dwell = rng.dirichlet(np.ones(n + 1), size=(shifts, n)) * T * rng.uniform(0.5, 1.0)
    levels = rng.integers(0, 5, size=(shifts, n))
    shift_of = np.repeat(np.arange(shifts), n)
    post_of = np.tile(np.arange(1, n + 1), shifts)
    W = shift_of.size
    culprit = rng.random(W) < 0.3
    data = Stacked(
        G=G, T=T, D=np.array([core.hazard_degree(lv, G) for lv in levels]), dwell=dwell,
        shift_of=shift_of, post_of=post_of, culprit=culprit,
        needs_management=rng.random(W) < 0.3, needs_training=rng.random(W) < 0.3,
        culprits=int(culprit.sum()) + int(rng.integers(0, 2)),
    )  # fmt: skip
    Z = rng.choice([0.0, 0.1, 0.25, 0.4, 0.7], size=W)
    Y = rng.choice([0.5, 0.75, 0.9, 1.0, 1.2, np.nan], size=W)
    return data, Z, Y, levels


def _f1(data: Stacked, params: core.ModelParams, Z: np.ndarray, Y: np.ndarray) -> float:
    """Root-cause F1 by the definition: named = in scope and flagged."""
    named = in_scope(data, params) & ((params.tau_Z < Z) | (params.tau_Y > Y))
    tp = int(np.sum(named & data.culprit))
    fp = int(np.sum(named & ~data.culprit))
    fn = data.culprits - tp
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _plan(start: core.ModelParams, objective: str = "root_cause_f1") -> SweepPlan:
    return SweepPlan(objective, SWEEPABLE, {n: RANGES[n] for n in SWEEPABLE}, start)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tau_P=st.floats(0.05, 0.95), lam=st.floats(0, 1),
       direction=st.sampled_from(["out", "both"]))  # fmt: skip
def test_scope_is_core_decide_shifts(seed, tau_P, lam, direction):
    data, Z, Y, levels = _random_line(seed)
    params = core.ModelParams(tau_P=tau_P, lam=lam, direction=direction)
    scope = in_scope(data, params)
    for s in range(levels.shape[0]):
        rows = data.shift_of == s
        table = core.decide_shift(
            levels[s], data.G, dwell=data.dwell[s], T=data.T,
            worker_ids=[f"w{k}" for k in range(rows.sum())], worker_posts=data.post_of[rows],
            Z=Z[rows], Y=Y[rows], params=params,
        )  # fmt: skip
        assert [d.checked for d in table.workers] == scope[rows].tolist()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tau_Z=st.floats(0.01, 0.59), tau_Y=st.floats(0.21, 1.49))
def test_the_sweep_is_the_best_over_every_threshold_and_reaches_it(seed, tau_Z, tau_Y):
    data, Z, Y, _ = _random_line(seed)
    start = core.ModelParams(tau_Z=tau_Z, tau_Y=tau_Y)
    found = sweep(data, start, Z, Y, _plan(start))
    # brute force over a grid finer than any gap between the scores
    zs = np.linspace(RANGES["tau_Z"].low, RANGES["tau_Z"].high, 240)
    ys = np.linspace(RANGES["tau_Y"].low, RANGES["tau_Y"].high, 520)
    scope = in_scope(data, start)
    named = scope & ((zs[:, None, None] < Z) | (ys[None, :, None] > Y))  # NaN Y: never
    tp = np.sum(named & data.culprit, axis=2)
    fp = np.sum(named & ~data.culprit, axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        grid = np.where(tp > 0, 2 * tp / (2 * tp + fp + data.culprits - tp), 0.0)
    brute = float(grid.max())
    assert found.value == pytest.approx(max(brute, _f1(data, start, Z, Y)), abs=1e-12)
    chosen = core.ModelParams(**found.thresholds)
    assert _f1(data, chosen, Z, Y) == pytest.approx(found.value, abs=1e-12)
    assert found.value >= _f1(data, start, Z, Y) - 1e-12  # never below the start


def test_ties_keep_the_start_and_otherwise_take_the_middle_of_the_best_run():
    # one shift, one hazard post (level 4), its worker the only candidate and a culprit
    data = Stacked(
        G=np.eye(1), T=10.0, D=np.array([[0.8]]), dwell=np.array([[[0.0, 10.0]]]),
        shift_of=np.array([0]), post_of=np.array([1]), culprit=np.array([True]),
        needs_management=np.array([True]), needs_training=np.array([False]), culprits=1,
    )  # fmt: skip
    Z, Y = np.array([0.3]), np.array([np.nan])  # Y undefined: only τ_Z can name the worker
    start = core.ModelParams()  # τ_Z 0.2 < Z: already named, F1 1
    assert sweep(data, start, Z, Y, _plan(start)).thresholds == {"tau_Z": 0.2, "tau_Y": 0.8}
    late = core.ModelParams(tau_Z=0.5)  # misses it: F1 0
    found = sweep(data, late, Z, Y, _plan(late))
    assert found.value == 1.0
    # τ_Z < 0.3 names the worker: the run is [0.01, 0.3), its middle 0.155; τ_Y stays
    assert found.thresholds == {"tau_Z": pytest.approx(0.155), "tau_Y": 0.8}
    # with Y = 1.0 raising τ_Y past it names the worker too, nearer the start (in range units):
    # τ_Y's run (1.0, 1.5] has its middle at 1.25, τ_Z stays
    found = sweep(data, late, Z, np.array([1.0]), _plan(late))
    assert found.thresholds == {"tau_Z": 0.5, "tau_Y": pytest.approx(1.25)}


def test_management_f1_sweeps_tau_Z_alone():
    data, Z, Y, _ = _random_line(3)
    start = core.ModelParams()
    plan = SweepPlan("management_f1", ("tau_Z",), {"tau_Z": RANGES["tau_Z"]}, start)
    found = sweep(data, start, Z, Y, plan)
    assert set(found.thresholds) == {"tau_Z"}
    flags = found.thresholds["tau_Z"] < Z
    labels = data.needs_management
    tp = int(np.sum(flags & labels))
    f1 = 0.0 if tp == 0 else 2 * tp / (2 * tp + np.sum(flags & ~labels) + np.sum(~flags & labels))
    assert f1 == pytest.approx(found.value)


def test_what_is_swept_depends_on_the_objective():
    ranges: dict[str, Range] = {n: RANGES[n] for n in ("tau_Z", "tau_Y", "tau_D")}
    start = core.ModelParams()
    assert plan_sweep("thresholds", ["root_cause_f1"], ranges, start)[0].names == SWEEPABLE
    assert plan_sweep("thresholds", ["training_f1"], ranges, start)[0].names == ("tau_Y",)
    assert plan_sweep("none", ["root_cause_f1"], ranges, start) == (None, "--sweep none")
    plan, why = plan_sweep("thresholds", ["root_cause_f1", "training_f1"], ranges, start)
    assert plan is None and "several objectives" in why
    plan, why = plan_sweep("thresholds", ["equipment_accuracy"], ranges, start)
    assert plan is None and "not a threshold count" in why
