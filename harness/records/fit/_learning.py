"""Work speed across people and days: the line's speed scale, learning, day-to-day variation
and fatigue.

- **Speed scale**: the median crew member's work speed at clock-in over the simulator's at
  skill 1; skills are read relative to it.
- **Learning** (``learning_days``): the time constant that best explains the skills of
  worker-shifts of people new to a post (least squares of log skill on a grid); kept only
  when a likelihood-ratio test against no learning passes at 5 %, else 0.
- **Variation**: the spread of a person's log skill from day to day beyond the measurement's
  own (the calibration's spread at one skill).
- **Fatigue** per shift type: the median relative slope of the work speed over the shift,
  read back through the calibration's slope at no fatigue and at `FATIGUE_PROBE`.

Intervals are bootstrap (seeded, `BOOTSTRAP` replicates) over people for the speed scale,
learning and variation, over worker-shifts for fatigue.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import stats

from harness.records.fit._calibration import FATIGUE_PROBE, Calibration
from harness.records.fit._estimate import SECONDS_FILES, Fitting
from harness.records.fit._measure import ShiftMeasure
from sim.seeding import Stream, stream
from sim.workforce import LEARNING_START

BOOTSTRAP = 200
"""Bootstrap replicates of the intervals that need one."""
LEARNING_GRID = np.concatenate([[0.0], np.geomspace(0.5, 200.0, 48)])
"""Learning time constants tried (days)."""


def learning_factor(n: np.ndarray, days: float) -> np.ndarray:
    """``sim.workforce``'s learning curve at ``n`` days of experience (inf: learned)."""
    if days <= 0:
        return np.ones_like(n, dtype=np.float64)
    with np.errstate(over="ignore"):
        return 1 - (1 - LEARNING_START) * np.exp(-np.asarray(n, dtype=np.float64) / days)


def _sse(
    log_skill: np.ndarray, experience: np.ndarray, person: np.ndarray, days: float, people: int
) -> float:
    r = log_skill - np.log(learning_factor(experience, days))
    means = np.bincount(person, r, minlength=people) / np.maximum(
        np.bincount(person, minlength=people), 1
    )
    return float(np.sum((r - means[person]) ** 2))


def _learning(
    log_skill: np.ndarray, experience: np.ndarray, person: np.ndarray, people: int
) -> float:
    sse = [_sse(log_skill, experience, person, d, people) for d in LEARNING_GRID]
    return float(LEARNING_GRID[int(np.argmin(sse))])


@dataclass(frozen=True)
class Learning:
    """The learning fit: the time constant kept and the evidence behind it."""

    days: float
    """Kept (0: none)."""
    best: float
    """The least-squares time constant."""
    ratio: float
    """Likelihood ratio of ``best`` against no learning."""
    interval: tuple[float, float]
    new: int
    """Worker-shifts of people new to a post."""


class PeopleBootstrap:
    """Bootstrap draws of people (with replacement) over rows labelled by person."""

    def __init__(self, person: np.ndarray, people: int, rng: np.random.Generator) -> None:
        self.rows_of = [np.flatnonzero(person == p) for p in range(people)]
        self.people, self.rng = people, rng

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the people drawn and their new person labels."""
        pick = self.rng.integers(0, self.people, self.people)
        rows = np.concatenate([self.rows_of[p] for p in pick])
        relabel = np.repeat(np.arange(self.people), [len(self.rows_of[p]) for p in pick])
        return rows, relabel


def fit_speed_scale(
    fitting: Fitting, measures: list[ShiftMeasure], normal_level: float
) -> tuple[float, tuple[float, float] | None, int]:
    """The speed scale (records px/s per simulator px/s), its bootstrap interval and the number
    of people: the median person's work speed over ``normal_level``, the simulator's at skill 1."""
    per_person: dict[str, list[float]] = defaultdict(list)
    for x in measures:
        if math.isfinite(x.speed.level) and x.speed.level > 0:
            per_person[x.worker].append(x.speed.level)
    medians = np.array([np.median(v) for _, v in sorted(per_person.items())])
    if not len(medians):
        return 1.0, None, 0
    rng = stream(fitting.seed, Stream.SPEED_SCALE)
    boots = [np.median(rng.choice(medians, len(medians))) for _ in range(BOOTSTRAP)]
    lo, hi = np.percentile(boots, [2.5, 97.5]) / normal_level
    return float(np.median(medians) / normal_level), (float(lo), float(hi)), len(medians)


def fit_learning(
    fitting: Fitting, log_skill: np.ndarray, experience: np.ndarray, person: np.ndarray, people: int
) -> Learning:
    """The learning time constant of the skills ``exp(log_skill)`` against ``experience`` (days
    at the post), kept when the likelihood-ratio test against none passes; adds its estimate."""
    best = _learning(log_skill, experience, person, people)
    sse0 = _sse(log_skill, experience, person, 0.0, people)
    sse = _sse(log_skill, experience, person, best, people)
    ratio = len(log_skill) * math.log(sse0 / sse) if sse > 0 and sse0 > 0 else 0.0
    draws = PeopleBootstrap(person, people, stream(fitting.seed, Stream.LEARNING_FIT))
    boots = []
    for _ in range(BOOTSTRAP):
        rows, relabel = draws.draw()
        boots.append(_learning(log_skill[rows], experience[rows], relabel, people))
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))
    critical = float(stats.chi2.ppf(0.95, 1))
    kept = round(best, 2) if ratio > critical and best > 0 else 0.0
    result = Learning(kept, best, ratio, ci, int(np.isfinite(experience).sum()))
    fitting.add(
        "learning_days",
        kept,
        ci,
        n=result.new,
        unit_of_n="worker-shifts of people new to a post",
        unit="days",
        records=f"{SECONDS_FILES}: speed_*, worker, post, day",
        method=f"least squares of log skill against the learning curve (best {best:.3g} "
        f"days; likelihood ratio {ratio:.2f} against none, kept above {critical:.2f}); "
        "bootstrap over people",
        key="workers.learning_days",
    )
    return result


def fit_variation(
    fitting: Fitting,
    log_skill: np.ndarray,
    experience: np.ndarray,
    person: np.ndarray,
    people: int,
    learning: float,
    noise: float,
) -> float:
    """The day-to-day spread of a person's log skill beyond the measurement's own ``noise``,
    under the learning time constant ``learning``; adds its estimate."""

    def spread(ls: np.ndarray, ex: np.ndarray, pe: np.ndarray) -> float:
        dof = len(ls) - len(np.unique(pe))
        if dof <= 0:
            return 0.0
        var = _sse(ls, ex, pe, learning, people) / dof
        return math.sqrt(max(0.0, var - noise**2))

    value = round(min(spread(log_skill, experience, person), 1.0), 4)
    draws = PeopleBootstrap(person, people, stream(fitting.seed, Stream.VARIATION_FIT))
    boots = []
    for _ in range(BOOTSTRAP):
        rows, relabel = draws.draw()
        boots.append(spread(log_skill[rows], experience[rows], relabel))
    fitting.add(
        "variation",
        value,
        (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))),
        n=len(log_skill),
        unit="relative sd",
        records=f"{SECONDS_FILES}: speed_*",
        method="day-to-day sd of a person's log "
        f"skill beyond the measurement's own ({noise:.3f}); bootstrap over people",
        key="workers.variation",
    )
    return value


def fit_fatigue(fitting: Fitting, cal: Calibration) -> dict[str, float]:
    """Per shift type, the share of speed lost over the shift, read through the calibration;
    adds an estimate per shift type."""
    out = {}
    rng = stream(fitting.seed, Stream.FATIGUE_FIT)
    for shift in fitting.m.shifts:
        slopes = np.array([x.speed.slope for x in fitting.measures if x.shift == shift])
        slopes = slopes[np.isfinite(slopes)]
        if not len(slopes):
            out[shift] = 0.0
            continue
        value = cal.fatigue(float(np.median(slopes)))
        boots = [
            cal.fatigue(float(np.median(rng.choice(slopes, len(slopes))))) for _ in range(BOOTSTRAP)
        ]
        out[shift] = round(min(value, 0.95), 4) if math.isfinite(value) else 0.0
        fitting.add(
            "fatigue",
            out[shift],
            (float(np.nanpercentile(boots, 2.5)), float(np.nanpercentile(boots, 97.5))),
            shift=shift,
            n=len(slopes),
            unit="share of speed lost",
            records=f"{SECONDS_FILES}: speed_* of {shift} shifts",
            method="median relative slope of the work speed over the shift, through the "
            f"calibration (slope {cal.slope_at[0]:.3f} at no fatigue, "
            f"{cal.slope_at[1]:.3f} at {FATIGUE_PROBE})",
            key=f"workers.fatigue.{shift}",
        )
    return out
