"""One person of the records as the fit sees them: off-post rate, skill, excursions and the
shape of their keypoint speeds.

- **Off-post rate**: the mean measured off-post share of their working time, read back
  through the calibration curve (:mod:`harness.records.fit._calibration`).
- **Skill**: each worker-shift's work speed at clock-in over the line's speed scale, read back
  through the calibration curve, divided by the learning curve at the worker-shift's
  experience; the person's skill is the geometric mean.
- **Excursions** of a person with at least `MIN_BOUTS` of them: the mean seconds of one
  (``excursion_s``) and the share going to each area (``destinations``).

Intervals are 95 % t-style on the log or linear scale, with the calibration's spread as a
floor.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from harness.records.fit._calibration import Calibration
from harness.records.fit._clock import Clock
from harness.records.fit._estimate import SECONDS_FILES, Estimate
from harness.records.fit._measure import ShiftMeasure
from harness.records.fit._roster import Tenure

MIN_BOUTS = 20
"""Excursions a person needs for their own ``excursion_s`` and ``destinations``."""


@dataclass(frozen=True)
class PersonFit:
    """One person of the records as the fit sees them."""

    worker: str
    role: str
    """``crew`` or ``floater``."""
    tenure: Tenure | None
    shifts: int
    offpost: Estimate
    skill: Estimate
    bouts: int
    excursion: Estimate | None
    destinations: dict[int, float] | None
    keypoint_ratios: tuple[float, ...]
    """Per keypoint, the person's median work speed over their posts' (1 = the standard)."""
    keypoint_fit: tuple[float, ...]
    """Per keypoint, the person's work speed over what the simulator gives a person of the
    worker-shift's skill, over their geometric mean (1 everywhere = the simulator's motion
    model, one skill for every keypoint, fits the person)."""
    twin_id: str | None = None
    """The person's id in the twin (None: not a crew member of the twin)."""
    cast: dict[str, Any] | None = None
    """The twin's cast entry of the person (None: a normal worker, no entry)."""

    def to_json(self) -> dict[str, Any]:
        t = self.tenure
        return {
            "worker": self.worker,
            "role": self.role,
            "twin_id": self.twin_id,
            "home": None
            if t is None
            else {
                "post": t.post,
                "shift": t.shift,
                "slot": t.slot,
                "from_day": t.from_day,
                "until_day": t.until_day,
            },
            "shifts": self.shifts,
            "offpost_rate": self.offpost.to_json(),
            "skill": self.skill.to_json(),
            "bouts": self.bouts,
            "excursion_s": None if self.excursion is None else self.excursion.to_json(),
            "destinations": self.destinations,
            "keypoint_ratios": list(self.keypoint_ratios),
            "keypoint_fit": list(self.keypoint_fit),
            "cast": self.cast,
        }


def _mean_interval(values: np.ndarray, floor: float) -> tuple[float, float, float]:
    """Mean and a 95 % t interval whose standard deviation is at least ``floor``."""
    n = len(values)
    mean = float(np.mean(values))
    sd = max(float(np.std(values, ddof=1)) if n > 1 else 0.0, floor)
    half = float(stats.t.ppf(0.975, max(1, n - 1))) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def post_speeds(measures: list[ShiftMeasure]) -> dict[int, np.ndarray]:
    """Per post, the median work speed of each keypoint over its worker-shifts."""
    by_post: dict[int, list[np.ndarray]] = defaultdict(list)
    for x in measures:
        if np.all(np.isfinite(x.speed.keypoints)):
            by_post[x.post].append(x.speed.keypoints)
    return {p: np.median(np.stack(v), axis=0) for p, v in by_post.items()}


def fit_person(
    worker: str,
    own: list[ShiftMeasure],
    tenure: Tenure | None,
    clock: Clock,
    cal: Calibration,
    plateau_log: np.ndarray,
    post_speed: dict[int, np.ndarray],
    scale: float,
) -> PersonFit:
    """One person's fit from their worker-shifts ``own``: ``plateau_log`` their log skills over
    the learning curve, ``post_speed`` each post's keypoint speeds, ``scale`` the speed scale."""
    shares = np.array([clock.offpost_share(x) for x in own])
    shares = shares[np.isfinite(shares)]
    where = f"{SECONDS_FILES}: area of {worker}'s {len(own)} worker-shifts"
    if len(shares):
        floor = float(np.interp(np.mean(shares), cal.offpost.measured, cal.offpost.spread))
        mean, lo, hi = _mean_interval(shares, floor)
        offpost = Estimate(
            "offpost_rate",
            round(cal.offpost.invert(mean), 4),
            (cal.offpost.invert(lo), cal.offpost.invert(hi)),
            len(shares),
            "worker-shifts",
            "share of working time",
            where,
            f"mean measured off-post share {mean:.4f}, through the calibration",
            worker=worker,
        )
    else:
        offpost = Estimate(
            "offpost_rate",
            None,
            None,
            0,
            "worker-shifts",
            "share of working time",
            where,
            "no working samples",
            worker=worker,
        )
    speeds = f"{SECONDS_FILES}: speed_* of {worker}'s work on its post"
    if len(plateau_log):
        mean, lo, hi = _mean_interval(plateau_log, cal.level_noise)
        skill = Estimate(
            "skill",
            round(math.exp(mean), 4),
            (math.exp(lo), math.exp(hi)),
            len(plateau_log),
            "worker-shifts",
            "speed factor (1 normal)",
            speeds,
            "geometric mean of the worker-shifts' skills over the learning curve",
            worker=worker,
        )
    else:
        skill = Estimate(
            "skill",
            None,
            None,
            0,
            "worker-shifts",
            "speed factor",
            speeds,
            "no work samples",
            worker=worker,
        )
    bouts = [b for x in own for b in clock.bouts(x)]
    excursion, destinations = None, None
    if len(bouts) >= MIN_BOUTS:
        seconds = np.array([s for s, _ in bouts])
        mean, lo, hi = _mean_interval(seconds, 0.0)
        excursion = Estimate(
            "excursion_s",
            round(mean, 1),
            (lo, hi),
            len(bouts),
            "excursions",
            "s",
            where,
            "mean seconds of one excursion off the post (walks included)",
            worker=worker,
        )
        counts = Counter(d for _, d in bouts)
        destinations = {a: round(c / len(bouts), 4) for a, c in sorted(counts.items())}
    seen = [x for x in own if x.post in post_speed and np.all(np.isfinite(x.speed.keypoints))]
    profile: tuple[float, ...] = ()
    fitness: tuple[float, ...] = ()
    if seen:
        speeds = np.median([x.speed.keypoints for x in seen], axis=0)
        reference = np.median([post_speed[x.post] for x in seen], axis=0)
        profile = tuple(float(v) for v in speeds / reference)
        fits = [  # against the simulator at the skill of the worker-shift's median pace
            x.speed.keypoints / (scale * cal.keypoint_speeds(pace))
            for x in seen
            for pace in [cal.level.invert(x.speed.median / scale)]
            if math.isfinite(pace)
        ]
        if fits:  # the shape: over its geometric mean (a person's overall pace is its skill)
            shape = np.median(fits, axis=0)
            fitness = tuple(float(v) for v in shape / np.exp(np.mean(np.log(shape))))
    return PersonFit(
        worker,
        "crew" if tenure else "floater",
        tenure,
        len(own),
        offpost,
        skill,
        len(bouts),
        excursion,
        destinations,
        profile,
        fitness,
    )
