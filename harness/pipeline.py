"""One evaluation run: records → per-post scoring on Ray → line decisions → shift records.

**The post database** (MODEL.md): for a shift on day d, a post's database holds its records
of days ``d − W .. d − 1`` (``ModelParams.history_window_days``), of every shift type
(``history_pool = "post"``) or of the evaluated shift's type (``"post_shift"``), whoever
worked them (:func:`core.in_database`). So every day is simulated first (history and
evaluated days alike, signal fidelity, cached in a checksummed Parquet store) and scored
after: days stay independent of the order tasks run in. A task scores a few posts; for each,
its database slides day by day over the evaluated days (:class:`Database`: the counts and
speed sums are additive, so a slide adds one day's records and drops one), and each
evaluated shift's workers come from the fidelity's source and are scored against it.

The driver folds the small per-post results in as they stream back, then makes the
line-level decisions of each shift (they need every post's dwell row).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import core
import sim
from harness import interrupts
from harness.evidence import database_scores, worker_evidence
from harness.execution import map_unordered, put
from harness.sources import WorkerSource, records_tag, signal_workers

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
    evidence: tuple[dict[str, Any], ...] = ()
    """The evidence of the workers the run's thresholds flag (:mod:`harness.evidence`)."""


def records_key(scenario: sim.Scenario) -> str:
    """Cache key of a scenario's stored records: the content that shapes them + code version.

    The number of evaluated days, equipment, environment, name and fidelity do not change a
    stored day; the simulator's and the model types' source code does.
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


def stored_days(scenario: sim.Scenario) -> range:
    """Every day the post databases need: the history days and the evaluated days."""
    return range(1, scenario.days.history + scenario.days.evaluate + 1)


def records_root(
    scenario: sim.Scenario, cache_dir: Path, source: WorkerSource = signal_workers
) -> Path:
    """The folder of the scenario's stored records made by ``source`` in the cache."""
    tag = records_tag(source)
    return cache_dir / "history" / (records_key(scenario) + (f"-{tag}" if tag else ""))


def build_post_records(
    scenario: sim.Scenario, store_root: str, post: int, source: WorkerSource = signal_workers
) -> list[tuple[int, str, int]]:
    """Task: verify the post's stored days, rebuild damaged ones, make and store the
    missing ones with ``source``; returns the rebuilt ``(post, shift, day)`` files."""
    store = sim.HistoryStore(store_root)
    return sim.build_history(
        scenario, store, posts=[post], days=stored_days(scenario), workers=source
    )


def ensure_records(
    scenario: sim.Scenario,
    cache_dir: Path,
    *,
    max_in_flight: int,
    progress: bool,
    source: WorkerSource = signal_workers,
) -> Path:
    """Build (or reuse) the scenario's stored records in the cache; returns their folder.

    ``source`` makes the records (the history fidelity: signal unless ``run
    --history-fidelity pixel``). Every post's stored files are verified (checksums) by its
    task; damaged or missing ones are rebuilt, with a warning naming them.
    """
    interrupts.checkpoint("history")
    root = records_root(scenario, cache_dir, source)
    posts = range(1, scenario.n_posts + 1)
    jobs = ((p, (scenario, str(root), p, source)) for p in posts)
    for post, rebuilt in map_unordered(
        build_post_records,
        jobs,
        total=len(posts),
        max_in_flight=max_in_flight,
        desc="records",
        progress=progress,
    ):
        if rebuilt:
            days = ", ".join(f"{shift} {day}" for _, shift, day in rebuilt)
            LOG.warning("post %s: damaged history files rebuilt (%s) in %s", post, days, root)
    return root


@dataclass
class Database:
    """A post's database for one pool of shift types, sliding day by day (MODEL.md).

    Holds the records of the days in the window; :meth:`slide_to` moves it to the database
    of day d (days ``d − W .. d − 1``), reading entering days from the store and dropping
    leaving ones. The statistics come from :class:`core.HistoryWindow` (incremental) where it
    pays, else from :func:`core.history_stats` of the held records.
    """

    store: sim.HistoryStore
    post: int
    n_posts: int
    T: int
    shifts: tuple[str, ...]
    window_days: int
    days: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _window: core.HistoryWindow | None = None
    _stats: core.HistoryStats | None = None
    _scores: dict[str, Any] | None = None

    def scores(self, params: core.ModelParams) -> dict[str, Any]:
        """The held records' own Z and Y against the statistics (once per slide)."""
        if self._scores is None:
            self._scores = database_scores(self.stats(), self.records(), params)
        return self._scores

    def slide_to(self, day: int) -> None:
        """Hold the records of days ``max(1, day − W) .. day − 1``."""
        target = set(range(max(1, day - self.window_days), day))
        for old in sorted(set(self.days) - target):
            positions, speeds = self.days.pop(old)
            if self._window is not None and len(positions):
                self._window.remove(positions, speeds)
        for new in sorted(target - set(self.days)):
            self.days[new] = self._read(new)
        self._stats = self._scores = None

    def _read(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.store.read(post=self.post, shift=s, days=[day]) for s in self.shifts]
        positions = np.concatenate([p.positions for p in parts])
        speeds = np.concatenate([p.speeds for p in parts])
        if self._window is not None and len(positions):
            self._window.add(positions, speeds)
        return positions, speeds

    def records(self) -> tuple[np.ndarray, np.ndarray]:
        """The held records: ``(m, T)`` positions and ``(m, T, 14)`` speeds, by day."""
        ordered = [self.days[d] for d in sorted(self.days)]
        return np.concatenate([p for p, _ in ordered]), np.concatenate([v for _, v in ordered])

    @property
    def span(self) -> tuple[int, int]:
        """First and last day held."""
        return min(self.days), max(self.days)

    def stats(self) -> core.HistoryStats:
        """The statistics of the held records (computed once per slide)."""
        if self._stats is None:
            m = sum(len(p) for p, _ in self.days.values())
            if m == 0:
                raise core.ModelInputError(
                    f"post {self.post}: its database holds no records (days "
                    f"{sorted(self.days)}): nobody worked it in the window"
                )
            if self._window is not None:
                self._stats = self._window.stats()
            else:
                positions, speeds = self.records()
                self._stats = core.history_stats(positions, self.post, self.n_posts, speeds)
        return self._stats

    @classmethod
    def open(
        cls,
        store: sim.HistoryStore,
        scenario: sim.Scenario,
        post: int,
        shifts: tuple[str, ...],
        params: core.ModelParams,
    ) -> Database:
        """An empty database of ``post`` for ``shifts``, incremental where that pays."""
        W = params.history_window_days
        m = W * len(shifts) * scenario.workers.per_post
        window = None
        if core.HistoryWindow.pays(n_posts=scenario.n_posts, m=m):
            window = core.HistoryWindow(
                post=post, n_posts=scenario.n_posts, T=scenario.samples_per_shift
            )
        return cls(store, post, scenario.n_posts, scenario.samples_per_shift, shifts, W,
                   _window=window)  # fmt: skip


def post_databases(
    scenario: sim.Scenario,
    store: sim.HistoryStore,
    post: int,
    params: core.ModelParams,
    days: Iterable[int],
) -> Iterator[tuple[int, str, Database]]:
    """The post's database for every evaluated ``(day, shift)`` (see :class:`Database`).

    One database slides over the days for ``history_pool = "post"`` (both shift types share
    it); one per shift type for ``"post_shift"``.
    """
    shifts = scenario.shift_names
    pools = [(s,) for s in shifts] if params.history_pool == "post_shift" else [shifts]
    for pool in pools:
        database = Database.open(store, scenario, post, pool, params)
        for day in days:
            database.slide_to(day)
            for shift in pool:
                yield day, shift, database


def score_posts_task(
    scenario: sim.Scenario,
    store_root: str,
    posts: tuple[int, ...],
    params: core.ModelParams,
    with_arrays: bool = False,
    source: WorkerSource = signal_workers,
) -> list[PostShift]:
    """Task: every evaluated shift of ``posts``: their workers from ``source`` (the fidelity),
    Z and Y against the post's database, the dwell row, and the flagged workers' evidence."""
    import psutil

    interrupts.checkpoint("task")
    process = psutil.Process()
    store = sim.HistoryStore(store_root)
    rate = scenario.shifts.rate_hz
    out = []
    for post in posts:
        for day, shift, database in post_databases(
            scenario, store, post, params, scenario.evaluate_days
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
            flagged = [
                w for k, w in enumerate(workers) if z[k] > params.tau_Z or y[k] < params.tau_Y
            ]
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
) -> list[dict[str, Any]]:
    """The evidence of ``worker`` on the given ``(day, shift, post)`` shifts (flagged or not),
    recomputed in this process from the stored records and the fidelity's source."""
    store = sim.HistoryStore(store_root)
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
    store_root: Path,
    params: core.ModelParams,
    *,
    max_in_flight: int,
    progress: bool,
    with_arrays: bool = False,
    source: WorkerSource = signal_workers,
) -> Iterator[PostShift]:
    """Score every post on every evaluated shift; yields results as they complete.

    A task takes enough posts to read and simulate about :data:`TARGET_SAMPLES_PER_TASK`
    worker-samples (a pixel-fidelity post is work enough on its own).

    Args:
        with_arrays: return the workers' measured arrays too (tuning rescores from them).
        source: where the workers' arrays come from (the fidelity).
    """
    interrupts.checkpoint("scoring")
    posts = list(range(1, scenario.n_posts + 1))
    scenario_ref = put(scenario)
    windows = params.history_window_days + scenario.days.evaluate
    post_samples = (
        windows * scenario.shifts.per_day * scenario.samples_per_shift * scenario.workers.per_post
    )
    per_task = (
        1 if source is not signal_workers else max(1, TARGET_SAMPLES_PER_TASK // post_samples)
    )
    groups = [tuple(posts[i : i + per_task]) for i in range(0, len(posts), per_task)]
    jobs = ((g, (scenario_ref, str(store_root), g, params, with_arrays, source)) for g in groups)
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
        Z: np.ndarray | None = None,
        Y: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """The shift's ``results.json`` record at ``params`` (``Z``, ``Y`` override the rows').

        Cheap enough for every trial of a threshold study: the worker arrays are built once.
        """
        table = core.decide_shift(
            self.levels,
            G,
            dwell=self.dwell,
            T=T,
            worker_ids=self.worker_ids,
            worker_posts=self.worker_posts,
            Z=self.Z if Z is None else Z,
            Y=self.Y if Y is None else Y,
            params=params,
        )
        return _shift_record(self.day, self.shift, table, self.true_D, self.states, self.rows)


StatesOf = Callable[[sim.Scenario, int, str, list[sim.WorkerSummary]], tuple[sim.PostState, ...]]
"""``(scenario, day, shift, the shift's worker summaries) -> post states`` (the truth)."""


def simulated_states(
    scenario: sim.Scenario, day: int, shift: str, workers: list[sim.WorkerSummary]
) -> tuple[sim.PostState, ...]:
    """The simulator's post states of a shift change (a scenario's truth)."""
    return sim.simulate_post_states(scenario, day=day, shift=shift, workers=workers)


def line_shifts(
    scenario: sim.Scenario,
    post_shifts: dict[tuple[int, str], dict[int, PostShift]],
    *,
    levels_of: Callable[[sim.Scenario, int, str, tuple[sim.PostState, ...]], np.ndarray],
    states_of: StatesOf = simulated_states,
) -> list[LineShift]:
    """Every evaluated shift assembled from its posts' results, in (day, shift) order.

    Args:
        post_shifts: per (day, shift), per post, the scoring result.
        levels_of: the levels the model sees for a shift's post states (the grading).
        states_of: the post states (the simulator's; a records folder's from its labels).
    """
    out = []
    for day in scenario.evaluate_days:
        for shift in scenario.shift_names:
            by_post = post_shifts[(day, shift)]
            ordered = [by_post[p] for p in range(1, scenario.n_posts + 1)]
            summaries = [s for ps in ordered for s in ps.summaries]
            states = states_of(scenario, day, shift, summaries)
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
    states_of: StatesOf = simulated_states,
) -> list[dict[str, Any]]:
    """Line-level decisions of every evaluated shift as ``results.json`` shift records."""
    T = scenario.shifts.length_s
    return [
        s.record(scenario.G, T, params)
        for s in line_shifts(scenario, post_shifts, levels_of=levels_of, states_of=states_of)
    ]


def _roster_facts(spec: sim.WorkerSpec | None) -> dict[str, Any]:
    """What ``results.json`` says of who worked: the roster's facts and the effective traits."""
    if spec is None:
        return {}
    return {
        "skill": spec.skill,
        "offpost_rate": spec.offpost_rate,
        "plateau_skill": spec.plateau_skill,
        "plateau_offpost_rate": spec.plateau_offpost_rate,
        "days_at_post": spec.days_at_post,
        "floater": spec.floater,
        "covering": spec.covering,
    }


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
                "fault_culprits": [list(f.culprits) for f in s.faults if f.culprits],
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
                **_roster_facts(truth[d.worker].spec),
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
