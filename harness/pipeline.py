"""One evaluation run: history → per-post scoring on Ray → line decisions → shift records.

Work is split by post: a task scores the workers of a few (post, shift type) units on every
evaluated day, with each unit's history statistics computed once in the task. The driver
folds the small per-post results in as they stream back, then makes the line-level
decisions of each shift (they need every post's dwell row).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import core
import sim
from harness import interrupts
from harness.execution import map_unordered, put
from harness.sources import WorkerSource, signal_workers

LOG = logging.getLogger(__name__)
TARGET_SAMPLES_PER_TASK = 400_000
"""Worker-samples (history read + simulated) per scoring task: ≥ 0.1 s of work, so Ray's
overhead stays small."""


@dataclass(frozen=True)
class WorkerRow:
    """One worker-shift's scores and ground truth."""

    worker: str
    post: int
    Z: float
    Y: float
    profile: str
    needs_management: bool
    needs_training: bool


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
    speeds: np.ndarray | None = None
    """``(w, T, 14)`` the workers' speeds, kept only when asked (tuning rescores Y)."""


def history_key(scenario: sim.Scenario) -> str:
    """Cache key of a scenario's history: its content that shapes the history + code version.

    The evaluated days, equipment, environment, name and fidelity do not change the stored
    history; the simulator's and the model types' source code does.
    """
    content = scenario.model_dump(
        mode="json", exclude={"name", "fidelity", "equipment", "environment"}
    )
    content["days"].pop("evaluate", None)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode())
    for package in (sim, core):
        for source in sorted(Path(package.__file__).parent.glob("*.py")):
            digest.update(source.name.encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def build_post_history(
    scenario: sim.Scenario, store_root: str, post: int
) -> list[tuple[int, str, int]]:
    """Task: verify the post's stored days, rebuild damaged ones, simulate and store the
    missing ones; returns the rebuilt ``(post, shift, day)`` files."""
    return sim.build_history(scenario, sim.HistoryStore(store_root), posts=[post])


def post_history_stats(
    scenario: sim.Scenario, store_root: str, post: int, shift: str
) -> core.HistoryStats:
    """Task: the post's history statistics for one shift type."""
    history = sim.HistoryStore(store_root).read(post=post, shift=shift)
    return core.history_stats(history, post, scenario.n_posts)


def score_post_days(
    scenario: sim.Scenario,
    post: int,
    shift: str,
    days: tuple[int, ...],
    stats: core.HistoryStats,
    params: core.ModelParams,
    with_speeds: bool = False,
    source: WorkerSource = signal_workers,
) -> list[PostShift]:
    """Task: one post's workers on ``days`` from ``source`` (the fidelity), their Z and Y."""
    import psutil

    process = psutil.Process()
    out = []
    for day in days:
        start = time.perf_counter()
        workers = source(scenario, post=post, day=day, shift=shift)
        positions = np.stack([w.record.positions for w in workers])
        speeds = np.stack([w.record.speeds for w in workers])
        z = core.onpost_state_batch(stats, positions)
        y = core.proficiency_batch(stats, speeds, params)
        rows = tuple(
            WorkerRow(
                worker=w.record.worker,
                post=post,
                Z=float(z[k]),
                Y=float(y[k]),
                profile=w.profile,
                needs_management=w.needs_management,
                needs_training=w.needs_training,
            )
            for k, w in enumerate(workers)
        )
        out.append(
            PostShift(
                day=day,
                shift=shift,
                post=post,
                dwell=core.dwell_row(positions, scenario.n_posts, scenario.shifts.rate_hz),
                workers=rows,
                summaries=tuple(w.summary() for w in workers),
                seconds=time.perf_counter() - start,
                peak_rss=process.memory_info().rss,
                speeds=speeds if with_speeds else None,
            )
        )
    return out


def ensure_history(
    scenario: sim.Scenario, cache_dir: Path, *, max_in_flight: int, progress: bool
) -> Path:
    """Build (or reuse) the scenario's history store in the cache; returns its folder.

    Every post's stored files are verified (checksums) by its task; damaged or missing ones
    are rebuilt from the simulator, with a warning naming them.
    """
    interrupts.checkpoint("history")
    root = cache_dir / "history" / history_key(scenario)
    posts = range(1, scenario.n_posts + 1)
    jobs = ((p, (scenario, str(root), p)) for p in posts)
    for post, rebuilt in map_unordered(
        build_post_history,
        jobs,
        total=len(posts),
        max_in_flight=max_in_flight,
        desc="history",
        progress=progress,
    ):
        if rebuilt:
            days = ", ".join(f"{shift} {day}" for _, shift, day in rebuilt)
            LOG.warning("post %s: damaged history files rebuilt (%s) in %s", post, days, root)
    return root


def score_units(
    scenario: sim.Scenario,
    store_root: str,
    units: tuple[tuple[int, str], ...],
    params: core.ModelParams,
    with_speeds: bool = False,
    source: WorkerSource = signal_workers,
) -> list[PostShift]:
    """Task: for each (post, shift type), its history statistics, then every evaluated day."""
    interrupts.checkpoint("task")
    days = tuple(scenario.evaluate_days)
    out = []
    for post, shift in units:
        stats = post_history_stats(scenario, store_root, post, shift)
        out.extend(score_post_days(scenario, post, shift, days, stats, params, with_speeds, source))
    return out


def score_posts(
    scenario: sim.Scenario,
    store_root: Path,
    params: core.ModelParams,
    *,
    max_in_flight: int,
    progress: bool,
    stats_refs: Mapping[tuple[int, str], Any] | None = None,
    with_speeds: bool = False,
    source: WorkerSource = signal_workers,
) -> Iterator[PostShift]:
    """Score every post on every evaluated shift; yields results as they complete.

    By default a task takes enough (post, shift type) units to read and simulate about
    :data:`TARGET_SAMPLES_PER_TASK` worker-samples, computing each unit's history statistics
    once and using them for all its evaluated days.

    Args:
        stats_refs: per (post, shift), a Ray reference to its history statistics, when the
            caller keeps them in the object store (tuning): one task per unit then.
        with_speeds: return the workers' speeds too (see :attr:`PostShift.speeds`).
        source: where the workers' arrays come from (the fidelity).
    """
    interrupts.checkpoint("scoring")
    units = [(p, s) for p in range(1, scenario.n_posts + 1) for s in scenario.shift_names]
    scenario_ref = put(scenario)
    fn: Callable[..., list[PostShift]]
    if stats_refs is None:
        records = len(scenario.history_days) + len(scenario.evaluate_days)
        unit_samples = records * scenario.samples_per_shift * scenario.workers.per_post
        # a pixel unit renders and perceives every sample: one unit is work enough
        per_task = max(1, TARGET_SAMPLES_PER_TASK // unit_samples)
        if source is not signal_workers:
            per_task = 1
        groups = [tuple(units[i : i + per_task]) for i in range(0, len(units), per_task)]
        fn, total = score_units, len(groups)
        jobs: Iterator[tuple[Any, tuple[Any, ...]]] = (
            (g, (scenario_ref, str(store_root), g, params, with_speeds, source)) for g in groups
        )
    else:
        days = tuple(scenario.evaluate_days)
        fn, total = score_post_days, len(units)
        jobs = (
            (u, (scenario_ref, *u, days, stats_refs[u], params, with_speeds, source)) for u in units
        )
    for _, results in map_unordered(
        fn, jobs, total=total, max_in_flight=max_in_flight, desc="score", progress=progress
    ):
        yield from results


def group_by_shift(
    results: Iterable[PostShift],
) -> dict[tuple[int, str], dict[int, PostShift]]:
    """Post results folded in as they stream back: per (day, shift), per post."""
    grouped: dict[tuple[int, str], dict[int, PostShift]] = defaultdict(dict)
    for ps in results:
        grouped[(ps.day, ps.shift)][ps.post] = ps
    return grouped


@dataclass(frozen=True)
class LineShift:
    """One evaluated shift of the line: what its decisions need, in post order, and the truth."""

    day: int
    shift: str
    levels: np.ndarray
    """``(n,)`` levels the model sees (the grading)."""
    true_D: np.ndarray
    """``(n,)`` hazard degrees from the true levels."""
    states: tuple[sim.PostState, ...]
    rows: tuple[WorkerRow, ...]
    dwell: np.ndarray
    """``(n, n+1)`` dwell seconds."""

    @functools.cached_property
    def worker_ids(self) -> tuple[str, ...]:
        """Ids of the shift's workers, in post order."""
        return tuple(w.worker for w in self.rows)

    @functools.cached_property
    def worker_posts(self) -> np.ndarray:
        """``(w,)`` posts of the shift's workers."""
        return np.array([w.post for w in self.rows])

    @functools.cached_property
    def Z(self) -> np.ndarray:
        """``(w,)`` on-post states of the shift's workers."""
        return np.array([w.Z for w in self.rows])

    @functools.cached_property
    def Y(self) -> np.ndarray:
        """``(w,)`` proficiencies at the parameters the workers were scored with."""
        return np.array([w.Y for w in self.rows])

    def record(
        self,
        G: np.ndarray,
        T: float,
        params: core.ModelParams,
        Y: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """The shift's ``results.json`` record at ``params`` (``Y`` overrides the rows').

        Cheap enough for every trial of a threshold study: the worker arrays are built once.
        """
        table = core.decide_shift(
            self.levels,
            G,
            dwell=self.dwell,
            T=T,
            worker_ids=self.worker_ids,
            worker_posts=self.worker_posts,
            Z=self.Z,
            Y=self.Y if Y is None else Y,
            params=params,
        )
        return _shift_record(self.day, self.shift, table, self.true_D, self.states, self.rows)


def line_shifts(
    scenario: sim.Scenario,
    post_shifts: dict[tuple[int, str], dict[int, PostShift]],
    *,
    levels_of: Callable[[sim.Scenario, int, str, tuple[sim.PostState, ...]], np.ndarray],
) -> list[LineShift]:
    """Every evaluated shift assembled from its posts' results, in (day, shift) order.

    Args:
        post_shifts: per (day, shift), per post, the scoring result.
        levels_of: the levels the model sees for a shift's post states (the grading).
    """
    out = []
    for day in scenario.evaluate_days:
        for shift in scenario.shift_names:
            by_post = post_shifts[(day, shift)]
            ordered = [by_post[p] for p in range(1, scenario.n_posts + 1)]
            summaries = [s for ps in ordered for s in ps.summaries]
            states = sim.simulate_post_states(scenario, day=day, shift=shift, workers=summaries)
            out.append(
                LineShift(
                    day=day,
                    shift=shift,
                    levels=levels_of(scenario, day, shift, states),
                    true_D=core.hazard_degree([s.true_level for s in states], scenario.G),
                    states=states,
                    rows=tuple(w for ps in ordered for w in ps.workers),
                    dwell=np.stack([ps.dwell for ps in ordered]),
                )
            )
    return out


def decide_shifts(
    scenario: sim.Scenario,
    post_shifts: dict[tuple[int, str], dict[int, PostShift]],
    params: core.ModelParams,
    *,
    levels_of: Callable[[sim.Scenario, int, str, tuple[sim.PostState, ...]], np.ndarray],
) -> list[dict[str, Any]]:
    """Line-level decisions of every evaluated shift as ``results.json`` shift records."""
    T = scenario.shifts.length_s
    return [
        s.record(scenario.G, T, params)
        for s in line_shifts(scenario, post_shifts, levels_of=levels_of)
    ]


def _shift_record(
    day: int,
    shift: str,
    table: core.RootCauseTable,
    true_D: np.ndarray,
    states: tuple[sim.PostState, ...],
    rows: list[WorkerRow] | tuple[WorkerRow, ...],
) -> dict[str, Any]:
    """One shift's ``results.json`` record from the model's table and the truth."""
    truth = {r.worker: r for r in rows}
    return {
        "day": day,
        "shift": shift,
        "posts": [
            {
                "post": s.post,
                "level": int(table.levels[s.post - 1]),
                "true_level": int(s.true_level),
                "D": float(table.D[s.post - 1]),
                "true_D": float(true_D[s.post - 1]),
                "hazard": s.post in table.sets,
                "set": table.sets.get(s.post, []),
                "faults": [f.kind for f in s.faults],
                "culprits": list(s.culprits),
                "equipment_cause": bool(s.equipment_cause),
            }
            for s in states
        ],
        "workers": [
            {
                "worker": d.worker,
                "post": d.post,
                "Z": d.Z,
                "Y": None if math.isnan(d.Y) else d.Y,
                "management": d.management,
                "training": d.training,
                "checked": d.checked,
                "profile": truth[d.worker].profile,
                "needs_management": truth[d.worker].needs_management,
                "needs_training": truth[d.worker].needs_training,
            }
            for d in table.workers
        ],
        "root_causes": [
            {
                "hazard_post": c.hazard_post,
                "post": c.post,
                "worker": c.worker,
                "reasons": list(c.reasons),
            }
            for c in table.root_causes
        ],
        "equipment_causes": list(table.equipment_causes),
    }
