"""Exact sweeps of the decision thresholds τ_Z and τ_Y on cached features.

For fixed features and sets (every other parameter), a worker is named a root cause when its
post is in some hazard post's set and ``Z > τ_Z`` or ``Y < τ_Y``. The decisions, hence every
count, only change where a threshold crosses a worker's Z or Y: between consecutive distinct
values (the *cut points*) the objective is constant. So one trial scores every cell of the
grid of cut intervals at once — a 2-D histogram of the candidates' interval ranks and two
cumulative sums — and keeps the best cell: the value is the best over all τ_Z, τ_Y in their
ranges, not a sample of it. The cell nearest the start wins a tie (the start's own
thresholds, when they tie the best); the threshold is the middle of the run of equally good
intervals around that cell, first τ_Z, then τ_Y in the chosen τ_Z's column.

What can be swept depends on the objective: the root-cause figures (τ_Z and τ_Y together),
management F1 (τ_Z: the flag over every worker-shift) and training F1 (τ_Y). Other
objectives, several objectives, and ``--sweep none`` leave both thresholds to the sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import core
from harness.evaluation.metrics import CATALOGUE, THRESHOLDS
from harness.tuning._space import Range

SWEEPABLE = THRESHOLDS
"""The thresholds a sweep can set."""
SWEPT_BY_OBJECTIVE: dict[str, tuple[str, ...]] = {f.name: f.sweeps for f in CATALOGUE if f.sweeps}
"""Which thresholds each objective can sweep (:attr:`harness.evaluation.metrics.Figure.sweeps`)."""
SWEEPS = ("thresholds", "none")
"""``--sweep`` choices."""


@dataclass(frozen=True)
class SweepPlan:
    """What a trial sweeps and how: the objective, the thresholds, their ranges, the start."""

    objective: str
    """A key of :data:`SWEPT_BY_OBJECTIVE`."""
    names: tuple[str, ...]
    """The swept thresholds."""
    ranges: dict[str, Range]
    """Each swept threshold's range."""
    start: core.ModelParams
    """Ties go toward its thresholds."""

    def distribution(self, name: str) -> Any:
        """The Optuna distribution a swept threshold is stored with: its range, widened to hold
        the start's value (a candidate of every sweep)."""
        r = self.ranges[name]
        start = float(getattr(self.start, name))
        return replace(r, low=min(r.low, start), high=max(r.high, start)).distribution()


def plan_sweep(
    sweep: str, objectives: Sequence[str], ranges: dict[str, Range], start: core.ModelParams
) -> tuple[SweepPlan | None, str]:
    """The sweep of a study, or None with the reason nothing is swept."""
    if sweep == "none":
        return None, "--sweep none"
    if len(objectives) != 1:
        return None, "several objectives: a sweep needs one"
    (objective,) = objectives
    if objective not in SWEPT_BY_OBJECTIVE:
        return None, f"objective {objective!r} is not a threshold count (sampled instead)"
    names = tuple(n for n in SWEPT_BY_OBJECTIVE[objective] if n in ranges)
    if not names:
        return None, "neither τ_Z nor τ_Y is tuned"
    return SweepPlan(objective, names, {n: ranges[n] for n in names}, start), ""


@dataclass(frozen=True)
class Stacked:
    """A set of cached shifts as flat arrays: what every swept trial reads.

    Attributes:
        G: ``(n, n)`` fixed correlation; ``T`` the shift length.
        D: ``(S, n)`` hazard degrees of the levels the model sees.
        dwell: ``(S, n, n+1)`` dwell seconds.
        shift_of, post_of: ``(W,)`` each worker-shift's shift row and post (1..n).
        culprit: ``(W,)`` whether the worker caused a fault in its shift.
        needs_management, needs_training: ``(W,)`` the labels.
        culprits: the true culprits of all shifts (root-cause recall's denominator).
    """

    G: np.ndarray
    T: float
    D: np.ndarray
    dwell: np.ndarray
    shift_of: np.ndarray
    post_of: np.ndarray
    culprit: np.ndarray
    needs_management: np.ndarray
    needs_training: np.ndarray
    culprits: int


def stack(G: np.ndarray, T: float, shifts: Sequence) -> Stacked:
    """:class:`Stacked` of cached line shifts (``harness.evaluation.decisions.LineShift``)."""
    shift_of, posts, culprit, management, training = [], [], [], [], []
    culprits = 0
    for row, s in enumerate(shifts):
        ids = s.worker_ids
        if len(set(ids)) != len(ids):
            raise ValueError(f"day {s.day} {s.shift}: a worker id appears twice")
        truth = {c for state in s.states for c in state.culprits}
        culprits += len(truth)
        shift_of.extend([row] * len(ids))
        posts.extend(s.worker_posts.tolist())
        culprit.extend(w in truth for w in ids)
        management.extend(r.needs_management for r in s.rows)
        training.extend(r.needs_training for r in s.rows)
    n = G.shape[0]
    return Stacked(
        G=G,
        T=T,
        D=np.array([core.hazard_degree(s.levels, G) for s in shifts]).reshape(-1, n),
        dwell=np.array([s.dwell for s in shifts]).reshape(-1, n, n + 1),
        shift_of=np.array(shift_of, dtype=np.intp),
        post_of=np.array(posts, dtype=np.intp),
        culprit=np.array(culprit, dtype=bool),
        needs_management=np.array(management, dtype=bool),
        needs_training=np.array(training, dtype=bool),
        culprits=culprits,
    )


def in_scope(data: Stacked, params: core.ModelParams) -> np.ndarray:
    """``(W,)`` whether each worker-shift's post is in some hazard post's set (as
    :func:`core.decide_shift`: ``D_i > τ_D``, ``S_i = {i} ∪ {j : P_ij > τ_P}``)."""
    r = data.dwell[:, :, 1:] / data.T
    if params.direction == "both":
        r = np.minimum(1.0, r + np.swapaxes(r, 1, 2))
    member = np.greater(params.lam * data.G + (1.0 - params.lam) * r, params.tau_P)
    n = data.G.shape[0]
    member[:, np.arange(n), np.arange(n)] = True
    hazard = np.greater(data.D, params.tau_D)
    scope = np.any(hazard[:, :, None] & member, axis=1)  # (S, n): post j in some set
    return scope[data.shift_of, data.post_of - 1]


@dataclass(frozen=True)
class Swept:
    """A sweep's best value and the thresholds that reach it."""

    value: float
    thresholds: dict[str, float]


def sweep(data: Stacked, params: core.ModelParams, Z: np.ndarray, Y: np.ndarray,
          plan: SweepPlan) -> Swept:  # fmt: skip
    """The best ``plan.objective`` over the swept thresholds, at ``params`` otherwise.

    Args:
        Z, Y: ``(W,)`` the worker-shifts' scores (Y NaN: never flagged for training).
    """
    y = np.where(np.isnan(Y), np.inf, Y)
    if plan.objective in ("management_f1", "training_f1"):
        return _sweep_flag(data, Z, y, plan)
    scope = in_scope(data, params)
    z_cuts = _cuts(Z[scope], plan, "tau_Z")
    y_cuts = _cuts(y[scope], plan, "tau_Y")
    tp, fp = _named_counts(Z[scope], y[scope], data.culprit[scope], z_cuts, y_cuts)
    fn = data.culprits - tp
    grid = _figure(plan.objective, tp, fp, fn)
    start = (len(z_cuts.points) - 1, len(y_cuts.points) - 1)  # the start's own point: last
    return _choose(grid, (z_cuts, y_cuts), start, plan)


def _sweep_flag(data: Stacked, Z: np.ndarray, y: np.ndarray, plan: SweepPlan) -> Swept:
    """Management F1 over τ_Z (Z > τ_Z against needs_management) or training F1 over τ_Y."""
    if plan.objective == "management_f1":
        cuts = _cuts(Z, plan, "tau_Z")
        labels = data.needs_management
        flagged = Z[None, :] > cuts.points[:, None]
    else:
        cuts = _cuts(y, plan, "tau_Y")
        labels = data.needs_training
        flagged = y[None, :] < cuts.points[:, None]
    start = len(cuts.points) - 1  # the start's own point: last
    tp = np.sum(flagged & labels, axis=1)
    fp = np.sum(flagged & ~labels, axis=1)
    fn = int(labels.sum()) - tp
    grid = _figure("root_cause_f1", tp, fp, fn)[:, None]
    return _choose(grid, (cuts, None), (start, 0), plan)


@dataclass(frozen=True)
class Cuts:
    """A threshold's candidate values: the middles of the intervals between the distinct
    scores in its range, and the start's own value (the last, when it lies on none)."""

    name: str
    bounds: np.ndarray
    """Interval ends: the range's low, the distinct scores inside it, the range's high."""
    points: np.ndarray
    """One threshold per interval (its middle), then the start's value if it is not one."""


def _cuts(scores: np.ndarray, plan: SweepPlan, name: str) -> Cuts:
    r = plan.ranges.get(name)
    start = float(getattr(plan.start, name))
    if r is None:  # not swept: the start's value only
        return Cuts(name, np.array([start, start]), np.array([start]))
    inside = np.unique(scores[(scores > r.low) & (scores < r.high)])
    bounds = np.concatenate([[r.low], inside, [r.high]])
    middles = (bounds[:-1] + bounds[1:]) / 2
    return Cuts(name, bounds, np.append(middles, start))


def _named_counts(z: np.ndarray, y: np.ndarray, culprit: np.ndarray, z_cuts: Cuts,
                  y_cuts: Cuts) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """tp and fp of the named candidates at every (τ_Z, τ_Y) of the cut points.

    A candidate is left unnamed when ``z ≤ τ_Z`` and ``y ≥ τ_Y``: its rank among the sorted
    τ_Z points (how many lie below z) and among the τ_Y points (how many lie at or below y)
    put it in one cell of a histogram whose cumulative sums count the unnamed per cell.
    """
    zp, yp = z_cuts.points, y_cuts.points
    z_order, y_order = np.argsort(zp, kind="stable"), np.argsort(yp, kind="stable")
    u = np.searchsorted(zp[z_order], z, side="left")  # points < z: those τ_Z flag it
    v = np.searchsorted(yp[y_order], y, side="right")  # points ≤ y: those τ_Y leave it
    K, L = len(zp), len(yp)
    out = []
    for mask in (culprit, ~culprit):
        hist = np.bincount(u[mask] * (L + 1) + v[mask], minlength=(K + 1) * (L + 1))
        hist = hist.reshape(K + 1, L + 1)
        # unnamed at sorted (k, l): z ≤ point k (u ≤ k) and y ≥ point l (v > l)
        below = np.cumsum(hist, axis=0)[:K]
        unnamed = np.cumsum(below[:, ::-1], axis=1)[:, ::-1][:, 1:]
        named = int(mask.sum()) - unnamed
        grid = np.empty((K, L), dtype=np.int64)
        grid[np.ix_(z_order, y_order)] = named
        out.append(grid)
    return out[0], out[1]


def _figure(objective: str, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Precision, recall or F1 (0 where undefined, as :mod:`harness.evaluation.metrics`)."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        if objective == "root_cause_precision":
            return np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        if objective == "root_cause_recall":
            return np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        total = precision + recall
        return np.where(total > 0, 2 * precision * recall / total, 0.0)


def _choose(grid: np.ndarray, cuts: tuple[Cuts, Cuts | None], start: tuple[int, int],
            plan: SweepPlan) -> Swept:  # fmt: skip
    """The best cell: the start's when it ties the best, else the one nearest the start,
    widened to the middle of its run of equally good intervals (τ_Z first, then τ_Y)."""
    best = float(grid.max())
    tied = grid >= best - 1e-12
    k, j = start
    z_cuts, y_cuts = cuts
    z_value = float(z_cuts.points[k])
    y_value = None if y_cuts is None else float(y_cuts.points[j])
    if not tied[k, j]:
        k, j = _nearest(tied, cuts, plan)
        k, z_value = _middle(tied[:, j], z_cuts, k)
        if y_cuts is not None:
            j, y_value = _middle(tied[k, :], y_cuts, j)
    thresholds = {z_cuts.name: z_value}
    if y_cuts is not None and y_value is not None:
        thresholds[y_cuts.name] = y_value
    return Swept(best, {n: v for n, v in thresholds.items() if n in plan.names})


def _nearest(tied: np.ndarray, cuts: tuple[Cuts, Cuts | None], plan: SweepPlan
             ) -> tuple[int, int]:  # fmt: skip
    """The tied cell whose thresholds lie nearest the start's (offsets as fractions of the
    ranges, summed)."""
    distance = np.zeros(tied.shape)
    for axis, c in enumerate(cuts):
        if c is None or c.name not in plan.ranges:
            continue
        r = plan.ranges[c.name]
        offset = np.abs(c.points - float(getattr(plan.start, c.name))) / (r.high - r.low)
        distance += offset[:, None] if axis == 0 else offset[None, :]
    distance[~tied] = np.inf
    k, j = np.unravel_index(int(np.argmin(distance)), distance.shape)
    return int(k), int(j)


def _middle(tied: np.ndarray, cuts: Cuts, index: int) -> tuple[int, float]:
    """The middle of the run of tied intervals around interval ``index``, and the interval
    that holds it (the start's own point, last, stays as it is)."""
    intervals = len(cuts.bounds) - 1
    if index >= intervals:
        return index, float(cuts.points[index])
    lo = hi = index
    while lo > 0 and tied[lo - 1]:
        lo -= 1
    while hi < intervals - 1 and tied[hi + 1]:
        hi += 1
    middle = float((cuts.bounds[lo] + cuts.bounds[hi + 1]) / 2)
    holder = int(np.searchsorted(cuts.bounds, middle, side="right") - 1)
    return min(max(holder, lo), hi), middle
