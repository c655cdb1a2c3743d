"""Per-post scoring on Ray: each evaluated shift's workers from the fidelity's source, scored
against the post's database (:mod:`harness.evaluation.history`).

A task scores a few posts; the driver folds the small per-post results in as they stream
back (:func:`group_by_shift`) before the line-level decisions
(:mod:`harness.evaluation.decisions`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

import core
import sim
from harness.adapters.ray_cluster import map_unordered, put
from harness.evaluation.evidence import worker_evidence
from harness.evaluation.fidelities import WorkerSource, signal_workers
from harness.evaluation.history import open_store, post_databases
from harness.runtime import interrupts
from harness.runtime.storage import Location

if TYPE_CHECKING:  # results imports this module (its worker rows)
    from harness.evaluation.results import Evidence

LOG = logging.getLogger(__name__)


TARGET_SAMPLES_PER_TASK = 400_000
"""Worker-samples (database read + simulated) per scoring task: ≥ 0.1 s of work, so Ray's
overhead stays small."""


@dataclass(frozen=True)
class WorkerRow:
    """One worker-shift's scores, the roster's facts and the ground truth (effective traits)."""

    worker: str
    post: int
    Z: float
    Y: float
    profile: str
    needs_management: bool
    needs_training: bool
    spec: sim.WorkerSpec | None = None
    """The worker's effective and plateau traits, experience at the post, floater status."""


@dataclass(frozen=True)
class PostShift:
    """What a scoring task returns for one post on one evaluated shift."""

    day: int
    shift: str
    post: int
    dwell: np.ndarray
    workers: tuple[WorkerRow, ...]
    summaries: tuple[sim.WorkerSummary, ...]
    seconds: float
    peak_rss: int
    positions: np.ndarray | None = None
    """``(w, T)`` the workers' measured areas, kept only when asked (tuning rescores Z, Y)."""
    speeds: np.ndarray | None = None
    """``(w, T, 14)`` the workers' measured speeds, likewise."""
    evidence: tuple[Evidence, ...] = ()
    """The evidence of the workers the run's thresholds flag
    (:mod:`harness.evaluation.evidence`)."""


def score_posts_task(
    scenario: sim.Scenario,
    store_root: str,
    posts: tuple[int, ...],
    params: core.ModelParams,
    with_arrays: bool = False,
    source: WorkerSource = signal_workers,
    days: Sequence[int] | None = None,
) -> list[PostShift]:
    """Task: every evaluated shift of ``posts`` (or of ``days``): their workers from ``source``
    (the fidelity), Z and Y against the post's database, the dwell row, and the flagged
    workers' evidence."""
    import psutil

    interrupts.checkpoint("task")
    process = psutil.Process()
    store = open_store(store_root)
    rate = scenario.shifts.rate_hz
    out = []
    for post in posts:
        for day, shift, database in post_databases(
            scenario, store, post, params, scenario.evaluate_days if days is None else days
        ):
            start = time.perf_counter()
            stats = database.stats()
            workers = source(scenario, post=post, day=day, shift=shift)
            positions = _stack([w.record.positions for w in workers], (0, stats.T), np.int16)
            speeds = _stack([w.record.speeds for w in workers], (0, stats.T, core.N_KEYPOINTS),
                            np.float32)  # fmt: skip
            z = core.onpost_state_batch(stats, positions) if workers else np.zeros(0)
            y = (
                core.proficiency_batch(stats, speeds, params, positions=positions)
                if workers
                else np.zeros(0)
            )
            rows = tuple(
                WorkerRow(
                    worker=w.record.worker,
                    post=post,
                    Z=float(z[k]),
                    Y=float(y[k]),
                    profile=w.profile,
                    needs_management=w.needs_management,
                    needs_training=w.needs_training,
                    spec=w.spec,
                )
                for k, w in enumerate(workers)
            )
            management, training = core.flags(z, y, params)
            flagged = [w for k, w in enumerate(workers) if management[k] or training[k]]
            evidence = tuple(
                worker_evidence(stats, w.record, database.scores(params), params, day=day,
                                shift=shift, rate_hz=rate, database_days=database.span)
                for w in flagged
            )  # fmt: skip
            out.append(
                PostShift(
                    day=day,
                    shift=shift,
                    post=post,
                    dwell=_dwell(positions, scenario.n_posts, rate),
                    workers=rows,
                    summaries=tuple(w.summary() for w in workers),
                    seconds=time.perf_counter() - start,
                    peak_rss=process.memory_info().rss,
                    positions=positions if with_arrays else None,
                    speeds=speeds if with_arrays else None,
                    evidence=evidence,
                )
            )
    return out


def worker_evidence_of(
    scenario: sim.Scenario,
    store_root: str,
    params: core.ModelParams,
    worker: str,
    shifts: Iterable[tuple[int, str, int]],
    source: WorkerSource = signal_workers,
) -> list[Evidence]:
    """The evidence of ``worker`` on the given ``(day, shift, post)`` shifts (flagged or not),
    recomputed in this process from the stored history and the fidelity's source."""
    store = open_store(store_root)
    wanted = set(shifts)
    out = []
    for post in sorted({p for _, _, p in wanted}):
        days = sorted({d for d, _, p in wanted if p == post})
        for day, shift, database in post_databases(scenario, store, post, params, days):
            if (day, shift, post) not in wanted:
                continue
            for w in source(scenario, post=post, day=day, shift=shift):
                if w.record.worker == worker:
                    out.append(
                        worker_evidence(database.stats(), w.record, database.scores(params),
                                        params, day=day, shift=shift,
                                        rate_hz=scenario.shifts.rate_hz,
                                        database_days=database.span)
                    )  # fmt: skip
    return sorted(out, key=lambda e: (e["day"], scenario.shift_names.index(e["shift"])))


def _stack(arrays: list[np.ndarray], empty: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.stack(arrays) if arrays else np.zeros(empty, dtype=dtype)


def _dwell(positions: np.ndarray, n_posts: int, rate_hz: float) -> np.ndarray:
    """The post's dwell row (seconds per area, averaged over its workers; zeros with none)."""
    if not len(positions):
        return np.zeros(n_posts + 1)
    return core.dwell_row(positions, n_posts, rate_hz)


def score_posts(
    scenario: sim.Scenario,
    store_root: str | Location,
    params: core.ModelParams,
    *,
    max_in_flight: int,
    progress: bool,
    with_arrays: bool = False,
    source: WorkerSource = signal_workers,
    days: Sequence[int] | None = None,
) -> Iterator[PostShift]:
    """Score every post on every evaluated shift (or the shifts of ``days``, evaluated days of
    ``scenario``); yields results as they complete.

    A task takes enough posts to read and simulate about :data:`TARGET_SAMPLES_PER_TASK`
    worker-samples (a pixel-fidelity post is work enough on its own).

    Args:
        with_arrays: return the workers' measured arrays too (tuning rescores from them).
        source: where the workers' arrays come from (the fidelity).
    """
    interrupts.checkpoint("scoring")
    posts = list(range(1, scenario.n_posts + 1))
    scenario_ref = put(scenario)
    windows = params.history_window_days + (scenario.days.evaluate if days is None else len(days))
    post_samples = (
        windows * scenario.shifts.per_day * scenario.samples_per_shift * scenario.workers.per_post
    )
    per_task = (
        1 if source is not signal_workers else max(1, TARGET_SAMPLES_PER_TASK // post_samples)
    )
    groups = [tuple(posts[i : i + per_task]) for i in range(0, len(posts), per_task)]
    jobs = (
        (g, (scenario_ref, str(store_root), g, params, with_arrays, source, days)) for g in groups
    )
    for _, results in map_unordered(
        score_posts_task, jobs, total=len(groups), max_in_flight=max_in_flight, desc="score",
        progress=progress,
    ):  # fmt: skip
        yield from results


def group_by_shift(
    results: Iterable[PostShift],
) -> dict[tuple[int, str], dict[int, PostShift]]:
    """Post results folded in as they stream back: per (day, shift), per post."""
    grouped: dict[tuple[int, str], dict[int, PostShift]] = defaultdict(dict)
    for ps in results:
        grouped[(ps.day, ps.shift)][ps.post] = ps
    return grouped
