"""``records fit`` end to end on Ray: the records measured and fitted, the twin simulated by the
harness itself and measured the same way, both scored under the default parameters, and the
two compared post by post.

1. The records are checked and ingested (the cache's records store, as ``run`` does) and every
   worker-shift measured (:mod:`harness.records.fit._measure`), one task per post.
2. The twin is fitted in the driver (:mod:`harness.records.fit._fit`) and validated by
   the scenario schema.
3. The twin's days are simulated into its history store (``ensure_history``, the cache as
   ``run``'s: the days its post databases read) and every day of it is measured by the same
   tasks (the stored days read back, the last evaluated day, never stored, simulated at
   signal fidelity: the same arrays).
4. Both are scored as ``run`` scores them (``score_posts``: rolling post databases, Z and Y)
   under the given parameters; the twin's true levels at the evaluated shift changes are its
   hazard levels (a perfect grader, like ``records export``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

import core
import sim
from harness.adapters.ray_cluster import RaySession
from harness.evaluation.fidelities import MixedSource, WorkerSource, signal_workers
from harness.evaluation.history import ensure_history, stored_days
from harness.evaluation.scoring import PostShift, score_posts
from harness.records._format import LEVELS, SECONDS
from harness.records._source import Records, RecordsSource
from harness.records._tables import ShiftChangeKey
from harness.records.fit._clock import Clock
from harness.records.fit._compare import PostVerdict, Sample, compare
from harness.records.fit._fit import Fit, fit
from harness.records.fit._measure import ShiftMeasure, measure
from harness.runtime.errors import HarnessError
from harness.runtime.storage import Location


@dataclass(frozen=True)
class Side:
    """What one side of the comparison holds: its measures, evaluated scores and levels."""

    name: str
    measures: list[ShiftMeasure]
    scores: list[PostShift]
    levels: dict[ShiftChangeKey, int]

    @functools.cached_property
    def by_post(self) -> dict[int, tuple[list[ShiftMeasure], list[PostShift], list[int]]]:
        """Per post: its measures, its evaluated scores and its evaluated levels."""
        out: dict[int, tuple[list[ShiftMeasure], list[PostShift], list[int]]] = defaultdict(
            lambda: ([], [], [])
        )
        for x in self.measures:
            out[x.post][0].append(x)
        for ps in self.scores:
            out[ps.post][1].append(ps)
        for (_, _, post), level in self.levels.items():
            out[post][2].append(level)
        return out


@dataclass(frozen=True)
class FitRun:
    """What ``records fit`` computed."""

    fit: Fit
    twin: sim.Scenario
    posts: tuple[PostVerdict, ...]
    records: Side
    simulated: Side


def validated(data: dict) -> sim.Scenario:
    """The fitted scenario through the scenario schema (a fit that does not validate is the
    fit's bug: reported, nothing written)."""
    try:
        return sim.load_scenario(data)
    except sim.ScenarioError as exc:
        raise HarnessError(f"the fitted twin does not validate (nothing written): {exc}") from None


def _twin_levels(twin: sim.Scenario, scores: Iterable[PostShift]) -> dict[ShiftChangeKey, int]:
    """The twin's true levels at its evaluated shift changes, from the scored workers."""
    by_shift: dict[tuple[int, str], dict[int, PostShift]] = defaultdict(dict)
    for ps in scores:
        by_shift[(ps.day, ps.shift)][ps.post] = ps
    out = {}
    for (day, shift), posts in by_shift.items():
        summaries = [s for p in sorted(posts) for s in posts[p].summaries]
        for state in sim.simulate_post_states(twin, day=day, shift=shift, workers=summaries):
            out[(day, shift, state.post)] = int(state.true_level)
    return out


def run_fit(
    recorded: Records,
    cache_dir: Location,
    session: RaySession,
    *,
    seed: int,
    params: core.ModelParams,
    progress: bool,
) -> FitRun:
    """Fit, simulate, score and compare (see the module docstring); Ray must be running."""
    m = recorded.manifest
    scenario = recorded.scenario
    flight = session.max_in_flight
    root, source = recorded.prepare(cache_dir, max_in_flight=flight, progress=progress)

    def measured(line: sim.Scenario, source: WorkerSource, desc: str) -> list[ShiftMeasure]:
        """Every worker-shift of every day measured (the records' and the twin's)."""
        return measure(line, source, days=range(1, m.days + 1), max_in_flight=flight,
                       progress=progress, desc=desc)  # fmt: skip

    measures = measured(scenario, RecordsSource(str(root), m.rate_hz, None), "measure")
    fitted = fit(m, recorded.levels, recorded.labels, measures, seed=seed)
    twin = validated(fitted.scenario)
    twin_root = ensure_history(twin, cache_dir, max_in_flight=flight, progress=progress)
    stored = RecordsSource(str(twin_root), twin.shifts.rate_hz, None)
    twin_measures = measured(twin, MixedSource(stored, frozenset(stored_days(twin))),
                             "measure twin")  # fmt: skip
    record_scores = list(
        score_posts(scenario, root, params, max_in_flight=flight, progress=progress, source=source)
    )
    twin_scores = list(
        score_posts(
            twin, twin_root, params, max_in_flight=flight, progress=progress, source=signal_workers
        )
    )
    evaluated = set(scenario.evaluate_days)
    record_levels = {k: v for k, v in recorded.levels.level.items() if k[0] in evaluated}
    records = Side("records", measures, record_scores, record_levels)
    simulated = Side("twin", twin_measures, twin_scores, _twin_levels(twin, twin_scores))
    posts = tuple(post_verdict(p, records, simulated, fitted.clock) for p in range(1, m.posts + 1))
    return FitRun(fitted, twin, posts, records, simulated)


def _samples(side: Side, post: int, clock: Clock) -> dict[str, np.ndarray]:
    mine, scores, levels = side.by_post[post]
    bouts = [b for x in mine for b in clock.bouts(x)]
    speeds = np.array([x.speed.median for x in mine], dtype=np.float64)
    reference = np.nanmean(speeds) if np.isfinite(speeds).any() else np.nan
    scored = [w for ps in scores for w in ps.workers]
    return {
        "onpost_fraction": np.array([1 - clock.offpost_share(x) for x in mine]),
        "offpost_dwell_s": np.array([s for s, _ in bouts]),
        "destination": np.array([d for _, d in bouts], dtype=np.float64),
        "speed_ratio": speeds / reference,
        "Z": np.array([w.Z for w in scored]),
        "Y": np.array([w.Y for w in scored]),
        "level": np.array(levels, dtype=np.float64),
    }


_FROM = {
    "onpost_fraction": (f"{SECONDS}: area", "worker-shifts of every day"),
    "offpost_dwell_s": (f"{SECONDS}: area", "excursions of every day"),
    "destination": (f"{SECONDS}: area", "excursions of every day"),
    "speed_ratio": (f"{SECONDS}: speed_*", "worker-shifts of every day"),
    "Z": (f"{SECONDS}: area (the post's rolling database)", "evaluated worker-shifts"),
    "Y": (f"{SECONDS}: area, speed_* (the post's rolling database)", "evaluated worker-shifts"),
    "level": (f"{LEVELS}: level", "evaluated shift changes"),
}


def post_verdict(post: int, records: Side, twin: Side, clock: Clock) -> PostVerdict:
    """Every quantity of ``post``, records against twin."""
    a, b = _samples(records, post, clock), _samples(twin, post, clock)
    quantities = []
    for name in a:
        where, what = _FROM[name]
        src_a = f"{where}: {what} of post {post}"
        src_b = f"the twin (simulated, signal fidelity): {what} of post {post}"
        quantities.append(compare(name, post, Sample.of(a[name], src_a), Sample.of(b[name], src_b)))
    return PostVerdict(post, tuple(quantities))
