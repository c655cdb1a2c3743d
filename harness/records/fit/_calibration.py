"""How the simulator's traits show in what the fit measures, on the fitted line itself.

The fit measures each worker-shift (its off-post share of the working time, its work speed at
clock-in, how that speed falls over the shift); the simulator draws people from traits (an
off-post rate, a skill, a fatigue). The measures are not the traits: the measured areas lag
the true ones, short excursions get dropped from a tight budget, and speeds carry the
perception's error. So the fit *simulates* people of known traits on the fitted line (its
posts, shift length, rate and breaks, signal fidelity), measures them the same way, and
reads each record's measure back through the resulting curve (indirect inference). A
grid point is simulated on every calibration post and shift, `REPLICATES` worker-shifts at
least.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import sim
from harness.evaluation.fidelities import signal_workers
from harness.records.fit._measure import ShiftMeasure, measure_worker
from sim.scenario import SHIFT_NAMES

OFFPOST_GRID: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45, 0.6, 0.8)
"""Off-post rates simulated (skill 1)."""
SKILL_GRID: tuple[float, ...] = (0.25, 0.4, 0.55, 0.7, 0.85, 1.0, 1.15, 1.3, 1.6, 2.0, 2.5)
"""Skills simulated (the normal off-post rate)."""
NORMAL_RATE = sim.PROFILES.get("normal").offpost_rate
NORMAL_SKILL = sim.PROFILES.get("normal").skill
"""The normal profile's traits (what a person without a cast entry has)."""
FATIGUE_PROBE = 0.3
"""Fatigue simulated to measure how fatigue shows in the work speed's slope."""
REPLICATES = 24
"""Fewest worker-shifts per grid point."""
MAX_POSTS = 8
"""Calibration posts (spread along the line): enough to cover near and far walks."""


@dataclass(frozen=True)
class Curve:
    """A measure against the trait that drives it: mean and spread at each grid point."""

    trait: np.ndarray
    measured: np.ndarray
    spread: np.ndarray

    def invert(self, value: float) -> float:
        """The trait whose mean measure is ``value`` (monotone interpolation; clipped to the
        grid's ends)."""
        if not math.isfinite(value):
            return float("nan")
        increasing = np.maximum.accumulate(self.measured)
        return float(np.interp(value, increasing, self.trait))


@dataclass(frozen=True)
class Calibration:
    """The curves of one fitted line."""

    offpost: Curve
    """Measured off-post share of the working time against ``offpost_rate``."""
    level: Curve
    """Work speed at clock-in (px/s) against ``skill``."""
    slope_at: tuple[float, float]
    """Mean relative slope of the work speed at no fatigue and at `FATIGUE_PROBE`."""
    level_noise: float
    """Standard deviation of log work speed among worker-shifts of one skill (skill 1)."""
    keypoints: np.ndarray
    """``(len(SKILL_GRID), 14)`` mean work speed of each keypoint at each skill (px/s)."""
    worker_shifts: int

    def keypoint_speeds(self, skill: float) -> np.ndarray:
        """``(14,)`` the simulator's work speed of each keypoint at ``skill`` (px/s)."""
        return np.array([np.interp(skill, self.level.trait, k) for k in self.keypoints.T])

    def fatigue(self, slope: float) -> float:
        """The fatigue whose slope is ``slope`` (linear; at least 0)."""
        at0, at_probe = self.slope_at
        if not math.isfinite(slope) or at_probe >= at0:
            return float("nan")
        return max(0.0, FATIGUE_PROBE * (slope - at0) / (at_probe - at0))


def _probe_posts(n: int) -> list[int]:
    return sorted({round(x) for x in np.linspace(1, n, min(n, MAX_POSTS))})


def _scenario(
    line: dict[str, Any],
    seed: int,
    points: list[tuple[float, float]],
    *,
    posts: list[int],
    reps: int,
    fatigue: float,
) -> sim.Scenario:
    shifts = SHIFT_NAMES[: line["shifts"]["per_day"]]
    cast = [
        {
            "name": f"cal{day}-{p}-{s}",
            "post": p,
            "shift": s,
            "from_day": day,
            "offpost_rate": rate,
            "skill": skill,
        }
        for k, (rate, skill) in enumerate(points)
        for r in range(reps)
        for day in [k * reps + r + 1]
        for p in posts
        for s in shifts
    ]
    return sim.load_scenario(
        {
            **line,
            "name": "calibration",
            "seed": seed,
            "days": {"history": len(points) * reps, "evaluate": 0},
            "workers": {"per_post": 1, "cast": cast, "fatigue": {s: fatigue for s in shifts}},
        }
    )


def _measure_all(scenario: sim.Scenario, posts: list[int]) -> list[ShiftMeasure]:
    rate = scenario.shifts.rate_hz
    return [
        measure_worker(w.record, day=day, shift=shift, rate_hz=rate)
        for day in scenario.history_days
        for post in posts
        for shift in scenario.shift_names
        for w in signal_workers(scenario, post=post, day=day, shift=shift)
    ]


def calibrate(
    line: dict[str, Any], *, seed: int, offpost_share: Callable[[ShiftMeasure], float]
) -> Calibration:
    """The curves of the line ``line`` (a scenario's ``line`` and ``shifts`` sections).

    Args:
        offpost_share: the fit's measure of a worker-shift's off-post share (it knows the
            records' breaks).
    """
    posts = _probe_posts(line["line"]["posts"])
    per_day = len(posts) * line["shifts"]["per_day"]
    reps = max(1, math.ceil(REPLICATES / per_day))
    points = [(r, NORMAL_SKILL) for r in OFFPOST_GRID] + [(NORMAL_RATE, s) for s in SKILL_GRID]
    measures = _measure_all(
        _scenario(line, seed, points, posts=posts, reps=reps, fatigue=0.0), posts
    )
    by_point: list[list[ShiftMeasure]] = [[] for _ in points]
    for m in measures:
        by_point[(m.day - 1) // reps].append(m)

    def curve(
        group: list[list[ShiftMeasure]],
        grid: tuple[float, ...],
        value: Callable[[ShiftMeasure], float],
    ) -> Curve:
        values = [np.array([value(m) for m in ms]) for ms in group]
        return Curve(
            np.array(grid),
            np.array([np.nanmean(v) for v in values]),
            np.array([np.nanstd(v) for v in values]),
        )

    n_off = len(OFFPOST_GRID)
    offpost = curve(by_point[:n_off], OFFPOST_GRID, offpost_share)
    level = curve(by_point[n_off:], SKILL_GRID, lambda m: m.speed.level)
    normal = by_point[n_off + SKILL_GRID.index(NORMAL_SKILL)]
    tired = _measure_all(
        _scenario(
            line, seed, [(NORMAL_RATE, NORMAL_SKILL)], posts=posts, reps=reps, fatigue=FATIGUE_PROBE
        ),
        posts,
    )
    return Calibration(
        offpost=offpost,
        level=level,
        slope_at=(
            float(np.nanmean([m.speed.slope for m in normal])),
            float(np.nanmean([m.speed.slope for m in tired])),
        ),
        level_noise=float(np.nanstd(np.log([m.speed.level for m in normal]))),
        keypoints=np.array(
            [np.nanmean([m.speed.keypoints for m in ms], axis=0) for ms in by_point[n_off:]]
        ),
        worker_shifts=len(measures) + len(tired),
    )
