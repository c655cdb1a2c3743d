"""Step 4 of MODEL.md: the tracking model's decisions for one shift (the root-cause table)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core._checks import as_array, check_ints, check_shape
from core._errors import ModelInputError
from core._hazard import actual_correlation, dwell_times, hazard_degree, hazard_post_sets
from core._params import ModelParams
from core._scores import HistoryStats, history_stats, onpost_state_batch, proficiency_batch
from core._types import PostHistory, WorkerShift

OFF_POST = "off_post"
LOW_PROFICIENCY = "low_proficiency"


@dataclass(frozen=True)
class WorkerDecision:
    """One worker's scores and threshold flags on a shift.

    ``checked`` says whether the worker's post is in some hazard post's set, i.e. inside the
    model's decision scope; flags are computed for every worker.
    """

    worker: str
    post: int
    Z: float
    Y: float
    management: bool
    training: bool
    checked: bool


@dataclass(frozen=True)
class RootCause:
    """A flagged worker of a hazard post's set, with the reasons."""

    hazard_post: int
    post: int
    worker: str
    Z: float
    Y: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RootCauseTable:
    """The output of one shift: hazard degrees, hazard post sets, flags and root causes."""

    levels: np.ndarray
    D: np.ndarray
    P: np.ndarray
    sets: dict[int, list[int]]
    workers: tuple[WorkerDecision, ...]
    root_causes: tuple[RootCause, ...]
    equipment_causes: tuple[int, ...]

    def format(self) -> str:
        """The table as text: one line per hazard post and per flagged worker."""
        lines = []
        for i, members in self.sets.items():
            found = [c for c in self.root_causes if c.hazard_post == i]
            cause = "equipment/environment" if i in self.equipment_causes else "workers"
            lines.append(f"post {i}: D={self.D[i - 1]:.2f} set={members} cause={cause}")
            lines.extend(
                f"    post {c.post} worker {c.worker}: Z={c.Z:.3f} Y={c.Y:.3f} "
                f"→ {', '.join(c.reasons)}"
                for c in found
            )
        return "\n".join(lines) if lines else "no hazard post"


def flags(
    Z: np.ndarray, Y: np.ndarray, params: ModelParams = ModelParams()
) -> tuple[np.ndarray, np.ndarray]:
    """The two worker flags (MODEL.md Step 4): strengthen management where ``Z > τ_Z``,
    off-post training where ``Y < τ_Y`` (an undefined Y, NaN, flags nothing)."""
    return np.asarray(Z) > params.tau_Z, np.asarray(Y) < params.tau_Y


def decide_shift(
    levels: np.ndarray | Sequence[int],
    G: np.ndarray,
    *,
    dwell: np.ndarray,
    T: float,
    worker_ids: Sequence[str],
    worker_posts: np.ndarray | Sequence[int],
    Z: np.ndarray | Sequence[float],
    Y: np.ndarray | Sequence[float],
    params: ModelParams = ModelParams(),
) -> RootCauseTable:
    """Steps 1, 2 and 4 from precomputed features: cheap, for threshold tuning.

    Args:
        levels: ``(n,)`` hazard levels d_i in 0..4.
        G: ``(n, n)`` fixed correlation.
        dwell: ``(n, n+1)`` dwell seconds β (see :func:`core.dwell_times`).
        T: shift length in seconds.
        worker_ids: ids of the shift's w workers.
        worker_posts: ``(w,)`` their posts.
        Z: ``(w,)`` on-post states.
        Y: ``(w,)`` proficiencies (NaN when undefined: never flagged for training).
        params: model parameters.
    """
    D = hazard_degree(levels, G)
    n = D.shape[0]
    P = actual_correlation(dwell, T, G, params)
    sets = hazard_post_sets(D, P, params)
    posts = check_ints("worker_posts", as_array("worker_posts", worker_posts, ndim=1), n, "posts")
    w = posts.shape[0]
    if len(worker_ids) != w:
        raise ModelInputError(
            f"`worker_ids` must have {w} entries (one per worker), got {len(worker_ids)}"
        )
    if w and posts.min() < 1:
        raise ModelInputError(f"`worker_posts` must hold posts in 1..{n}, got 0")
    z = as_array("Z", Z, ndim=1).astype(np.float64, copy=False)
    y = as_array("Y", Y, ndim=1).astype(np.float64, copy=False)
    check_shape("Z", z, (w,))
    check_shape("Y", y, (w,))
    if not np.all(np.isfinite(z)):
        raise ModelInputError("`Z` must be finite, got NaN or inf")
    management, training = flags(z, y, params)
    in_scope = np.zeros(n + 1, dtype=bool)
    for members in sets.values():
        in_scope[members] = True
    decisions = tuple(
        WorkerDecision(
            worker=worker_ids[k],
            post=int(posts[k]),
            Z=float(z[k]),
            Y=float(y[k]),
            management=bool(management[k]),
            training=bool(training[k]),
            checked=bool(in_scope[posts[k]]),
        )
        for k in range(w)
    )
    by_post: dict[int, list[WorkerDecision]] = {}
    for d in decisions:
        by_post.setdefault(d.post, []).append(d)
    causes: list[RootCause] = []
    equipment: list[int] = []
    for i, members in sets.items():
        found = [
            RootCause(i, d.post, d.worker, d.Z, d.Y, _reasons(d))
            for j in members
            for d in by_post.get(j, ())
            if d.management or d.training
        ]
        causes.extend(found)
        if not found:
            equipment.append(i)
    levels_arr = np.asarray(levels, dtype=np.int64)
    return RootCauseTable(levels_arr, D, P, sets, decisions, tuple(causes), tuple(equipment))


def _reasons(d: WorkerDecision) -> tuple[str, ...]:
    return tuple(r for r, flag in ((OFF_POST, d.management), (LOW_PROFICIENCY, d.training)) if flag)


def track_shift(
    levels: np.ndarray | Sequence[int],
    G: np.ndarray,
    workers: Sequence[WorkerShift],
    histories: Mapping[int, HistoryStats | PostHistory],
    *,
    rate_hz: float = 1.0,
    params: ModelParams = ModelParams(),
) -> RootCauseTable:
    """The whole of Steps 1–4 for one shift: the root-cause table.

    Args:
        levels: ``(n,)`` hazard levels d_i in 0..4 at the shift change.
        G: ``(n, n)`` fixed correlation.
        workers: every worker of the shift with positions and speeds (all of length T).
        histories: for every post with workers, its history database of the same shift
            type (or its precomputed :class:`HistoryStats`).
        rate_hz: samples per second; dwell times are in seconds.
        params: model parameters.
    """
    n = as_array("levels", levels, ndim=1).shape[0]
    if not workers:
        raise ModelInputError("`workers` must hold at least one worker, got none")
    lengths = {int(np.shape(wk.positions)[0]) for wk in workers}
    if len(lengths) != 1:
        raise ModelInputError(
            f"every worker's positions must have one length T, got {sorted(lengths)}"
        )
    (samples,) = lengths
    positions = np.stack([np.asarray(wk.positions) for wk in workers])
    posts = np.array([wk.post for wk in workers])
    dwell = dwell_times(positions, posts, n, rate_hz)
    z = np.empty(len(workers))
    y = np.empty(len(workers))
    for post in np.unique(posts):
        if int(post) not in histories:
            raise ModelInputError(f"`histories` has no history for post {int(post)}")
        stats = histories[int(post)]
        if isinstance(stats, PostHistory):
            stats = history_stats(stats, int(post), n)
        idx = np.flatnonzero(posts == post)
        z[idx] = onpost_state_batch(stats, positions[idx])
        speeds = np.stack([np.asarray(workers[k].speeds) for k in idx])
        y[idx] = proficiency_batch(stats, speeds, params, positions=positions[idx])
    return decide_shift(
        levels,
        G,
        dwell=dwell,
        T=samples / rate_hz,
        worker_ids=[wk.worker for wk in workers],
        worker_posts=posts,
        Z=z,
        Y=y,
        params=params,
    )
