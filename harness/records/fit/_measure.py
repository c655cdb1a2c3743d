"""What the fit reads of every worker-shift: where the worker was and how fast they worked.

One Ray task per post reads the post's stored worker-shifts (a records folder's ingested
store, or a twin's history store: the same layout) and returns a small
:class:`ShiftMeasure` per worker-shift: its areas run-length encoded (a shift has a few dozen
area changes, not T samples) and its work speed. The driver never holds the arrays.

**Work speed.** Per sample, the mean of the 14 keypoint speeds; kept only on the worker's own
post and away from the samples just before the worker is seen leaving it (the measured area
lags the true one: those samples are the walk out, `LEAVE_GUARD_S`). The shift is cut into
`SPEED_BINS` equal spans of time; the median speed of each span, weighted by its samples,
gives a straight line over the shift: its value at clock-in (``level``, px/s) and its
relative change by the end (``slope``; fatigue makes it negative). Medians keep the stray
walking seconds out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import core
import sim
from harness.adapters.ray_cluster import map_unordered
from harness.evaluation.fidelities import WorkerSource
from harness.runtime import interrupts
from sim.measurement import POSITION_LAG_MAX_S

SPEED_BINS = 8
"""Spans of the shift whose median speeds give the work-speed line."""
MIN_BIN_SAMPLES = 30
"""Fewest on-post samples a span needs to count."""
LEAVE_GUARD_S = POSITION_LAG_MAX_S + 1.0
"""Seconds before a measured departure from the post not counted as work (the walk out)."""


@dataclass(frozen=True, eq=False)
class WorkSpeed:
    """A worker-shift's work speed (see the module docstring).

    All NaN with fewer than ``MIN_BIN_SAMPLES`` samples of work; with fewer than two spans of
    that many, ``slope`` is NaN and ``level`` the median.
    """

    level: float
    """At clock-in (px/s, the mean of the 14 keypoints)."""
    slope: float
    """Relative change from clock-in to the end of the shift."""
    median: float
    """Median over the shift (px/s)."""
    keypoints: np.ndarray
    """``(14,)`` median of each keypoint (px/s)."""
    samples: int
    """Samples of work it rests on."""


@dataclass(frozen=True)
class ShiftMeasure:
    """One worker-shift as the fit sees it."""

    day: int
    shift: str
    post: int
    worker: str
    run_starts: np.ndarray
    """``(r,)`` sample index where each run of one area starts (the first is 0)."""
    run_areas: np.ndarray
    """``(r,)`` the area of each run."""
    T: int
    """Samples in the shift."""
    speed: WorkSpeed
    """How fast the worker worked."""

    def positions(self) -> np.ndarray:
        """``(T,)`` the measured area of every sample."""
        lengths = np.diff(np.append(self.run_starts, self.T))
        return np.repeat(self.run_areas, lengths)


def runs(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run-length encoding of ``(T,)`` areas: each run's first sample and its area."""
    starts = np.flatnonzero(np.diff(positions)) + 1
    starts = np.concatenate([[0], starts]).astype(np.int32)
    return starts, np.asarray(positions)[starts].astype(np.int16)


def work_mask(positions: np.ndarray, post: int, rate_hz: float) -> np.ndarray:
    """``(T,)`` samples of work: on the own post, not just before a measured departure."""
    on = positions == post
    guard = round(LEAVE_GUARD_S * rate_hz)
    leaves = np.flatnonzero(on[:-1] & ~on[1:]) + 1
    for leave in leaves:
        on[max(0, leave - guard) : leave] = False
    return on


def work_speed(speeds: np.ndarray, mask: np.ndarray) -> WorkSpeed:
    """The work speed of ``(T, 14)`` speeds on the ``(T,)`` samples of work."""
    T = len(mask)
    n = int(mask.sum())
    nan = float("nan")
    if n < MIN_BIN_SAMPLES:
        return WorkSpeed(nan, nan, nan, np.full(core.N_KEYPOINTS, np.nan), n)
    work = speeds[mask]
    mean = work.mean(axis=1)
    t = np.flatnonzero(mask)
    edges = np.linspace(0, T, SPEED_BINS + 1)
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, SPEED_BINS - 1)
    centres, medians, weights = [], [], []
    for b in range(SPEED_BINS):
        inside = mean[which == b]
        if inside.size >= MIN_BIN_SAMPLES:
            centres.append((edges[b] + edges[b + 1]) / 2 / T)
            medians.append(float(np.median(inside)))
            weights.append(np.sqrt(inside.size))
    median = float(np.median(mean))
    if len(centres) >= 2:
        b1, b0 = np.polyfit(centres, medians, 1, w=weights)
        level, slope = float(b0), float(b1 / b0) if b0 > 0 else nan
    else:
        level, slope = median, nan
    return WorkSpeed(level, slope, median, np.median(work, axis=0), n)


def measure_worker(
    record: core.WorkerShift, *, day: int, shift: str, rate_hz: float
) -> ShiftMeasure:
    """The measure of one worker-shift."""
    positions = np.asarray(record.positions)
    starts, areas = runs(positions)
    return ShiftMeasure(
        day=day,
        shift=shift,
        post=record.post,
        worker=record.worker,
        run_starts=starts,
        run_areas=areas,
        T=len(positions),
        speed=work_speed(
            np.asarray(record.speeds, dtype=np.float64), work_mask(positions, record.post, rate_hz)
        ),
    )


def measure_post_task(
    scenario: sim.Scenario, source: WorkerSource, post: int, days: tuple[int, ...]
) -> list[ShiftMeasure]:
    """Task: the measures of every worker-shift of ``post`` on ``days`` (every shift)."""
    interrupts.checkpoint("task")
    rate = scenario.shifts.rate_hz
    return [
        measure_worker(w.record, day=day, shift=shift, rate_hz=rate)
        for day in days
        for shift in scenario.shift_names
        for w in source(scenario, post=post, day=day, shift=shift)
    ]


def measure(
    scenario: sim.Scenario,
    source: WorkerSource,
    *,
    days: range,
    max_in_flight: int,
    progress: bool,
    desc: str,
) -> list[ShiftMeasure]:
    """The measures of every worker-shift of every post (on Ray), in post, day, shift order."""
    jobs = ((p, (scenario, source, p, tuple(days))) for p in range(1, scenario.n_posts + 1))
    found: dict[int, list[ShiftMeasure]] = {}
    for post, measures in map_unordered(
        measure_post_task,
        jobs,
        total=scenario.n_posts,
        max_in_flight=max_in_flight,
        desc=desc,
        progress=progress,
    ):
        found[int(post)] = measures  # type: ignore[arg-type]
    return [m for p in sorted(found) for m in found[p]]
