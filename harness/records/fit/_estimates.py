"""The fitted quantities: every figure the twin is built from, with its interval, sample size
and the records it came from (typed, so fit.json, the report and the twin read one set).

Estimators (the simulator's model is the one fitted: ``sim.workers``, ``sim.workforce``,
``sim.equipment``):

- **Breaks**: the spans where at least `BREAK_SHARE` of all worker-shifts are in area 0 at
  the same sample, at least `MIN_BREAK_S` long, moved back by the signal fidelity's mean
  position lag (so that the twin's *measured* breaks fall where the records' do).
- **A person's off-post rate**: the mean measured off-post share of their working time,
  read back through the calibration curve (:mod:`harness.records.fit._calibration`).
- **A person's skill**: each worker-shift's work speed at clock-in over the line's *speed
  scale* (the median crew member's speed divided by the simulator's at skill 1), read back
  through the calibration curve, divided by the learning curve at the worker-shift's
  experience; the person's skill is the geometric mean.
- **Learning** (``learning_days``): the time constant that best explains the skills of
  worker-shifts of people new to a post (least squares of log skill on a grid); kept only
  when a likelihood-ratio test against no learning passes at 5 %, else 0.
- **Variation**: the spread of a person's log skill from day to day beyond the measurement's
  own (the calibration's spread at one skill).
- **Fatigue** per shift type: the median relative slope of the work speed over the shift,
  read back through the calibration's slope at no fatigue and at `FATIGUE_PROBE`.
- **Excursions** of a person with at least `MIN_BOUTS` of them: the mean seconds of one
  (``excursion_s``) and the share going to each area (``destinations``).
- **Workforce**: :mod:`harness.records.fit._roster` (absences: a Wilson interval).
- **Equipment**: with labels, the faults of cause ``equipment`` per post-shift (Poisson);
  without, what the levels leave unexplained: ``ln(p0_model / p0)``, where ``p0`` is the
  share of post-shifts at level 0 and ``p0_model`` that predicted by the simulator's fault
  model from the fitted people and the environment alone.
- **Environment**: per quantity the median and 1.4826 × MAD of every reading; readings beyond
  `EXCURSION_Z` bands are replayed as excursions.

Intervals are 95 %: t-style on the log or linear scale for people (with the calibration's
spread as a floor), Wilson for shares, bootstrap over people (seeded, `BOOTSTRAP`
replicates) for learning, variation and the speed scale, over worker-shifts for fatigue.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

import sim
from harness.records._format import LABELS_POSTS, LEVELS, SECONDS, Manifest, RecordsError
from harness.records._tables import Labels, LevelTable
from harness.records.fit._calibration import (
    FATIGUE_PROBE,
    NORMAL_RATE,
    NORMAL_SKILL,
    Calibration,
    calibrate,
)
from harness.records.fit._measure import ShiftMeasure
from harness.records.fit._roster import Key, RosterFit, Tenure, fit_roster, wilson
from sim.equipment import fault_rates
from sim.scenario import MAX_NAME, QUANTITIES
from sim.seeding import derived_seed, stream
from sim.workers import POSITION_LAG_MAX_S, POSITION_LAG_MIN_S
from sim.workforce import LEARNING_START

BREAK_SHARE = 0.5
"""Share of worker-shifts in area 0 at one sample that makes it a break."""
MIN_BREAK_S = 10.0
"""Shortest break found."""
LAG_S = (POSITION_LAG_MIN_S + POSITION_LAG_MAX_S) / 2
"""The signal fidelity's mean lag of a measured area change behind the true one."""
MIN_BOUT_S = 5.0
"""Shortest off-post run counted as an excursion (shorter ones are the areas' jitter)."""
MIN_BOUTS = 20
"""Excursions a person needs for their own ``excursion_s`` and ``destinations``."""
MIN_SHIFTS = 3
"""Worker-shifts a person needs for their own traits."""
MIN_DIFFERENCE = {"offpost_rate": 0.005, "skill": 0.05}
"""How far a person's trait must be from the normal profile's (besides its interval leaving
it) to enter the twin's cast: closer is normal for all a threshold can tell."""
EXCURSION_Z = 4.0
"""Environment readings this many bands from the median are replayed as excursions."""
BOOTSTRAP = 200
"""Bootstrap replicates of the intervals that need one."""
LEARNING_GRID = np.concatenate([[0.0], np.geomspace(0.5, 200.0, 48)])
"""Learning time constants tried (days)."""
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,40}$")
"""A person id the scenario can carry as a cast ``name`` (``sim.scenario.PersonName``)."""


@dataclass(frozen=True)
class Estimate:
    """One fitted figure: value, 95 % interval, sample size, and where it came from."""

    name: str
    value: float | None
    interval: tuple[float, float] | None
    n: int
    """Sample size (worker-shifts, people, post-shifts, readings: see ``unit_of_n``)."""
    unit_of_n: str
    unit: str
    records: str
    """The records it came from (files, columns, days, whose)."""
    method: str
    key: str | None = None
    """The twin's scenario key it sets, if any."""
    post: int | None = None
    worker: str | None = None
    shift: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "post": self.post,
            "worker": self.worker,
            "shift": self.shift,
            "value": self.value,
            "interval": list(self.interval) if self.interval else None,
            "n": self.n,
            "unit_of_n": self.unit_of_n,
            "unit": self.unit,
            "records": self.records,
            "method": self.method,
            "key": self.key,
        }


@dataclass(frozen=True)
class Clock:
    """The shift's time as the records show it: samples and the measured breaks."""

    T: int
    rate_hz: float
    breaks: tuple[tuple[int, int], ...]
    """Measured breaks, samples ``[start, end)``."""

    @functools.cached_property
    def working(self) -> np.ndarray:
        """``(T,)`` samples outside the measured breaks."""
        mask = np.ones(self.T, dtype=bool)
        for a, b in self.breaks:
            mask[a:b] = False
        return mask

    def true_breaks(self, length_s: float) -> list[list[float]]:
        """The breaks the twin schedules (seconds since clock-in, less the mean lag)."""
        out = []
        for a, b in self.breaks:
            start = max(0.0, round(a / self.rate_hz - LAG_S))
            end = min(length_s, round(b / self.rate_hz - LAG_S))
            if start < end:
                out.append([float(start), float(end)])
        return out

    @functools.cached_property
    def _working_before(self) -> np.ndarray:
        """``(T + 1,)`` working samples before each sample (a cumulative count)."""
        return np.concatenate([[0], np.cumsum(self.working)])

    def offpost_share(self, m: ShiftMeasure) -> float:
        """Share of the working samples the worker was seen away from its post (from the
        runs: no per-sample pass)."""
        before = self._working_before
        if before[-1] == 0:
            return math.nan
        ends = np.append(m.run_starts[1:], m.T)
        working = before[ends] - before[m.run_starts]
        return float(working[m.run_areas != m.post].sum() / before[-1])

    def bouts(self, m: ShiftMeasure) -> list[tuple[float, int]]:
        """The excursions of a worker-shift: seconds and destination (the area off the post
        and the aisle it spent most samples in; 0 when only the aisle)."""
        positions = m.positions()
        away = (positions != m.post) & self.working
        edges = np.diff(np.concatenate([[0], away.astype(np.int8), [0]]))
        out = []
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            seconds = (b - a) / self.rate_hz
            if seconds < MIN_BOUT_S:
                continue
            areas = positions[a:b]
            visited = Counter(int(x) for x in areas[areas != 0])
            out.append((seconds, visited.most_common(1)[0][0] if visited else 0))
        return out


def fit_clock(measures: list[ShiftMeasure], *, T: int, rate_hz: float) -> Clock:
    """The measured breaks (see the module docstring)."""
    change = np.zeros(T + 1)  # +1 where a run in the aisle starts, -1 where it ends
    for m in measures:
        ends = np.append(m.run_starts[1:], m.T)
        aisle = m.run_areas == 0
        np.add.at(change, m.run_starts[aisle], 1)
        np.add.at(change, ends[aisle], -1)
    share = np.cumsum(change)[:T] / max(1, len(measures))
    on = share >= BREAK_SHARE
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    spans = zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    return Clock(
        T, rate_hz, tuple((int(a), int(b)) for a, b in spans if (b - a) / rate_hz >= MIN_BREAK_S)
    )


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


@dataclass(frozen=True)
class Fit:
    """Everything fitted: the twin's scenario, the estimates behind it, people, limits."""

    scenario: dict[str, Any]
    estimates: tuple[Estimate, ...]
    people: tuple[PersonFit, ...]
    roster: RosterFit
    clock: Clock
    calibration: Calibration
    limits: tuple[str, ...]
    skills: dict[Key, float] = field(default_factory=dict)
    """Per worker-shift of the records, its effective skill (for the fault model)."""


def _mean_interval(values: np.ndarray, floor: float) -> tuple[float, float, float]:
    """Mean and a 95 % t interval whose standard deviation is at least ``floor``."""
    n = len(values)
    mean = float(np.mean(values))
    sd = max(float(np.std(values, ddof=1)) if n > 1 else 0.0, floor)
    half = float(stats.t.ppf(0.975, max(1, n - 1))) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


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


def twin_seed(m: Manifest) -> int:
    """The twin's default seed: fixed by the records, and not theirs (a twin that replayed
    the source's own random draws would match a simulated source trivially)."""
    return derived_seed(m.seed, zlib.crc32(f"twin:{m.name}".encode()))


class Fitter:
    """Fits a records folder's measures; :meth:`fit` returns the :class:`Fit`."""

    def __init__(
        self,
        m: Manifest,
        levels: LevelTable,
        labels: Labels | None,
        measures: list[ShiftMeasure],
        *,
        seed: int,
    ) -> None:
        self.m, self.levels, self.labels, self.measures, self.seed = (
            m,
            levels,
            labels,
            measures,
            seed,
        )
        self.estimates: list[Estimate] = []
        self.limits: list[str] = []
        self.seconds = f"{SECONDS}/*.parquet"

    def add(self, **kw: Any) -> Estimate:
        e = Estimate(**kw)
        self.estimates.append(e)
        return e

    # the line -----------------------------------------------------------------------------

    def line(self, clock: Clock) -> dict[str, Any]:
        m = self.m
        chain = np.abs(np.arange(m.posts)[:, None] - np.arange(m.posts)[None, :]) <= 1
        correlation: Any = "chain" if np.array_equal(m.G, chain.astype(float)) else m.G.tolist()
        breaks = clock.true_breaks(m.length_s)
        for (a, b), (start, end) in zip(clock.breaks, breaks, strict=False):
            self.add(
                name="break",
                value=start,
                interval=(start, end),
                n=len(self.measures),
                unit_of_n="worker-shifts",
                unit="s",
                records=f"{self.seconds}: area",
                method=f"samples where ≥ {BREAK_SHARE:.0%} of worker-shifts are in area 0 "
                f"(measured {a / m.rate_hz:g}–{b / m.rate_hz:g} s), less the mean "
                f"position lag {LAG_S:g} s; value = start, interval = [start, end]",
                key="shifts.breaks",
            )
        return {
            "line": {"posts": m.posts, "correlation": correlation},
            "shifts": {
                "per_day": len(m.shifts),
                "length_s": m.length_s,
                "rate_hz": m.rate_hz,
                "breaks": breaks,
            },
        }

    # people -------------------------------------------------------------------------------

    def fit(self) -> Fit:
        m = self.m
        if not self.measures:
            raise RecordsError(f"{SECONDS}/: no worker-shifts to fit")
        clock = fit_clock(self.measures, T=m.T, rate_hz=m.rate_hz)
        line = self.line(clock)
        calibration = calibrate(line, seed=self.seed, offpost_share=clock.offpost_share)
        keys = [(x.day, x.shift, x.post, x.worker) for x in self.measures]
        roster = fit_roster(keys, shifts=m.shifts, posts=m.posts, days=m.days)
        people, skills, workforce = self.people(clock, calibration, roster)
        scenario = {
            "name": f"{m.name[: MAX_NAME - len('-twin')]}-twin",  # a name, however long
            "seed": self.seed,
            **line,
            "days": {"history": m.history_days, "evaluate": m.evaluate_days},
            "workers": workforce,
            "equipment": self.equipment(people, skills, clock),
            "environment": self.environment(),
            "fidelity": "signal",
        }
        return Fit(
            scenario,
            tuple(self.estimates),
            tuple(people),
            roster,
            clock,
            calibration,
            tuple(self.limits),
            skills,
        )

    def people(
        self, clock: Clock, cal: Calibration, roster: RosterFit
    ) -> tuple[list[PersonFit], dict[Key, float], dict[str, Any]]:
        by_worker: dict[str, list[ShiftMeasure]] = defaultdict(list)
        for x in self.measures:
            by_worker[x.worker].append(x)
        workers = sorted(by_worker)
        index = {w: k for k, w in enumerate(workers)}
        tenure = {t.worker: t for t in roster.crew}
        at_home = [
            x
            for x in self.measures
            if roster.experience[(x.day, x.shift, x.post, x.worker)] == math.inf
        ]
        normal_level = float(np.interp(NORMAL_SKILL, cal.level.trait, cal.level.measured))
        scale, scale_ci, scale_n = self.speed_scale(at_home or self.measures, normal_level)
        usable = [x for x in self.measures if math.isfinite(x.level) and x.level > 0]
        if not usable:
            raise RecordsError(
                f"{SECONDS}/: no worker-shift was seen working on its own post (area = post): "
                "no work speeds to fit skills from"
            )
        raw = np.array([cal.level.invert(x.level / scale) for x in usable])
        experience = np.array(
            [roster.experience[(x.day, x.shift, x.post, x.worker)] for x in usable]
        )
        person = np.array([index[x.worker] for x in usable])
        log_raw = np.log(np.maximum(raw, 1e-3))
        learning = self.learning(log_raw, experience, person, len(workers))
        variation = self.variation(
            log_raw, experience, person, len(workers), learning.days, cal.level_noise
        )
        plateau_log = log_raw - np.log(learning_factor(experience, learning.days))
        skills = {
            (x.day, x.shift, x.post, x.worker): float(s) for x, s in zip(usable, raw, strict=True)
        }
        post_speed = self.post_speeds()
        fits = []
        for w in workers:
            own = by_worker[w]
            mine = person == index[w]
            fits.append(
                self.person(w, own, tenure.get(w), clock, cal, plateau_log[mine], post_speed, scale)
            )
        fits, cast = self.cast(fits, roster)
        fatigue = self.fatigue(cal)
        rotation = roster.rotation
        self.add(
            name="rotation_kept",
            value=rotation.kept,
            interval=None,
            n=len(self.measures),
            unit_of_n="worker-shifts",
            unit="share",
            records=f"{self.seconds}: worker, post, shift, day",
            method=f"share of worker-shifts at their person's commonest home "
            f"under rotation {rotation.mode or 'none'} every {rotation.every_days} days "
            f"(without rotation: {rotation.kept_without:.3f})",
            key="workers.rotation",
        )
        lo, hi = wilson(roster.absent, roster.expected)
        self.add(
            name="absence_rate",
            value=roster.absent / max(1, roster.expected),
            interval=(lo, hi),
            n=roster.expected,
            unit_of_n="crew days",
            unit="share",
            records=f"{self.seconds}: worker, day (days a crew member was not seen)",
            method="absent crew days / crew days (Wilson interval)",
            key="workers.absence_rate",
        )
        self.add(
            name="floaters",
            value=float(len(roster.floaters)),
            interval=None,
            n=len(workers),
            unit_of_n="people",
            unit="people",
            records=f"{self.seconds}: worker",
            method="people without one home (fewer "
            f"than {0.8:.0%} of their worker-shifts at one post and shift)",
            key="workers.floaters",
        )
        self.add(
            name="per_post",
            value=float(roster.per_post),
            interval=None,
            n=len(self.measures),
            unit_of_n="worker-shifts",
            unit="people",
            records=f"{self.seconds}: worker, post",
            method="most crew slots of a post and shift (people at once)",
            key="workers.per_post",
        )
        self.add(
            name="speed_scale",
            value=scale,
            interval=scale_ci,
            n=scale_n,
            unit_of_n="people",
            unit="records px/s per simulator px/s",
            records=f"{self.seconds}: speed_* of the crew at their home posts",
            method="the median person's work speed at clock-in over the simulator's at "
            "skill 1; skills are read relative to it",
        )
        workforce: dict[str, Any] = {
            "per_post": roster.per_post,
            "floaters": len(roster.floaters),
            "absence_rate": round(roster.absent / max(1, roster.expected), 4),
        }
        if rotation.mode is not None:
            workforce["rotation"] = {"every_days": rotation.every_days, "mode": rotation.mode}
        workforce["learning_days"] = learning.days
        workforce["fatigue"] = fatigue
        workforce["variation"] = variation
        workforce["cast"] = cast
        self.notes(roster, fits, scale, learning)
        return fits, skills, workforce

    def speed_scale(
        self, measures: list[ShiftMeasure], normal_level: float
    ) -> tuple[float, tuple[float, float] | None, int]:
        per_person: dict[str, list[float]] = defaultdict(list)
        for x in measures:
            if math.isfinite(x.level) and x.level > 0:
                per_person[x.worker].append(x.level)
        medians = np.array([np.median(v) for _, v in sorted(per_person.items())])
        if not len(medians):
            return 1.0, None, 0
        rng = stream(self.seed, 0x5CA1E)
        boots = [np.median(rng.choice(medians, len(medians))) for _ in range(BOOTSTRAP)]
        lo, hi = np.percentile(boots, [2.5, 97.5]) / normal_level
        return float(np.median(medians) / normal_level), (float(lo), float(hi)), len(medians)

    def learning(
        self, log_skill: np.ndarray, experience: np.ndarray, person: np.ndarray, people: int
    ) -> Learning:
        best = _learning(log_skill, experience, person, people)
        sse0 = _sse(log_skill, experience, person, 0.0, people)
        sse = _sse(log_skill, experience, person, best, people)
        ratio = len(log_skill) * math.log(sse0 / sse) if sse > 0 and sse0 > 0 else 0.0
        draws = PeopleBootstrap(person, people, stream(self.seed, 0x1EA2))
        boots = []
        for _ in range(BOOTSTRAP):
            rows, relabel = draws.draw()
            boots.append(_learning(log_skill[rows], experience[rows], relabel, people))
        ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))
        critical = float(stats.chi2.ppf(0.95, 1))
        kept = round(best, 2) if ratio > critical and best > 0 else 0.0
        result = Learning(kept, best, ratio, ci, int(np.isfinite(experience).sum()))
        self.add(
            name="learning_days",
            value=kept,
            interval=ci,
            n=result.new,
            unit_of_n="worker-shifts of people new to a post",
            unit="days",
            records=f"{self.seconds}: speed_*, worker, post, day",
            method=f"least squares of log skill against the learning curve (best {best:.3g} "
            f"days; likelihood ratio {ratio:.2f} against none, kept above {critical:.2f}); "
            "bootstrap over people",
            key="workers.learning_days",
        )
        return result

    def variation(
        self,
        log_skill: np.ndarray,
        experience: np.ndarray,
        person: np.ndarray,
        people: int,
        learning: float,
        noise: float,
    ) -> float:
        def spread(ls: np.ndarray, ex: np.ndarray, pe: np.ndarray) -> float:
            dof = len(ls) - len(np.unique(pe))
            if dof <= 0:
                return 0.0
            var = _sse(ls, ex, pe, learning, people) / dof
            return math.sqrt(max(0.0, var - noise**2))

        value = round(min(spread(log_skill, experience, person), 1.0), 4)
        draws = PeopleBootstrap(person, people, stream(self.seed, 0x7A21))
        boots = []
        for _ in range(BOOTSTRAP):
            rows, relabel = draws.draw()
            boots.append(spread(log_skill[rows], experience[rows], relabel))
        self.add(
            name="variation",
            value=value,
            interval=(float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))),
            n=len(log_skill),
            unit_of_n="worker-shifts",
            unit="relative sd",
            records=f"{self.seconds}: speed_*",
            method="day-to-day sd of a person's log "
            f"skill beyond the measurement's own ({noise:.3f}); bootstrap over people",
            key="workers.variation",
        )
        return value

    def fatigue(self, cal: Calibration) -> dict[str, float]:
        out = {}
        rng = stream(self.seed, 0xFA71)
        for shift in self.m.shifts:
            slopes = np.array(
                [x.slope for x in self.measures if x.shift == shift and math.isfinite(x.slope)]
            )
            if not len(slopes):
                out[shift] = 0.0
                continue
            value = cal.fatigue(float(np.median(slopes)))
            boots = [
                cal.fatigue(float(np.median(rng.choice(slopes, len(slopes)))))
                for _ in range(BOOTSTRAP)
            ]
            out[shift] = round(min(value, 0.95), 4) if math.isfinite(value) else 0.0
            self.add(
                name="fatigue",
                shift=shift,
                value=out[shift],
                interval=(
                    float(np.nanpercentile(boots, 2.5)),
                    float(np.nanpercentile(boots, 97.5)),
                ),
                n=len(slopes),
                unit_of_n="worker-shifts",
                unit="share of speed lost",
                records=f"{self.seconds}: speed_* of {shift} shifts",
                method="median relative slope of the work speed over the shift, through the "
                f"calibration (slope {cal.slope_at[0]:.3f} at no fatigue, "
                f"{cal.slope_at[1]:.3f} at {FATIGUE_PROBE})",
                key=f"workers.fatigue.{shift}",
            )
        return out

    def post_speeds(self) -> dict[int, np.ndarray]:
        """Per post, the median work speed of each keypoint over its worker-shifts."""
        by_post: dict[int, list[np.ndarray]] = defaultdict(list)
        for x in self.measures:
            if np.all(np.isfinite(x.keypoint_speeds)):
                by_post[x.post].append(x.keypoint_speeds)
        return {p: np.median(np.stack(v), axis=0) for p, v in by_post.items()}

    def person(
        self,
        worker: str,
        own: list[ShiftMeasure],
        tenure: Tenure | None,
        clock: Clock,
        cal: Calibration,
        plateau_log: np.ndarray,
        post_speed: dict[int, np.ndarray],
        scale: float,
    ) -> PersonFit:
        shares = np.array([clock.offpost_share(x) for x in own])
        shares = shares[np.isfinite(shares)]
        where = f"{self.seconds}: area of {worker}'s {len(own)} worker-shifts"
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
        speeds = f"{self.seconds}: speed_* of {worker}'s work on its post"
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
        seen = [x for x in own if x.post in post_speed and np.all(np.isfinite(x.keypoint_speeds))]
        profile: tuple[float, ...] = ()
        fitness: tuple[float, ...] = ()
        if seen:
            speeds = np.median([x.keypoint_speeds for x in seen], axis=0)
            reference = np.median([post_speed[x.post] for x in seen], axis=0)
            profile = tuple(float(v) for v in speeds / reference)
            fits = [  # against the simulator at the skill of the worker-shift's median pace
                x.keypoint_speeds / (scale * cal.keypoint_speeds(pace))
                for x in seen
                for pace in [cal.level.invert(x.median_speed / scale)]
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

    def cast(
        self, fits: list[PersonFit], roster: RosterFit
    ) -> tuple[list[PersonFit], list[dict[str, Any]]]:
        """The cast entries: a crew member's traits where its interval leaves the normal
        profile's, its id where the twin's default id would differ, its first day."""
        defaults = {}
        for t in roster.crew:
            base = f"p{t.post}-{t.shift}-{t.slot}"
            defaults[t.worker] = base if t.from_day == 1 else f"{base}@d{t.from_day}"
        taken = set(defaults.values())
        out, cast = [], []
        for f in fits:
            t = f.tenure
            if t is None:
                out.append(f)
                continue
            entry: dict[str, Any] = {}
            if f.shifts >= MIN_SHIFTS:
                for est, normal, key in (
                    (f.offpost, NORMAL_RATE, "offpost_rate"),
                    (f.skill, NORMAL_SKILL, "skill"),
                ):
                    if _differs(est, normal, key):
                        entry[key] = min(est.value, 0.95 if key == "offpost_rate" else 3.0)
                if "offpost_rate" in entry and f.excursion is not None:
                    entry["excursion_s"] = f.excursion.value
                    entry["destinations"] = {
                        a: w for a, w in (f.destinations or {}).items() if a != t.post
                    }
            twin_id = defaults[f.worker]
            named = (
                f.worker != twin_id
                and NAME.match(f.worker) is not None
                and not re.fullmatch(r"f\d+", f.worker)
                and f.worker not in taken
            )
            if named:
                twin_id = f.worker
            if entry or named or t.from_day > 1:
                head: dict[str, Any] = {"name": f.worker} if named else {}
                head.update(post=t.post, shift=t.shift, slot=t.slot)
                if t.from_day > 1:
                    head["from_day"] = t.from_day
                entry = {**head, **(entry or {"profile": "normal"})}
                cast.append(entry)
            out.append(replace(f, twin_id=twin_id, cast=entry or None))
        return out, cast

    def notes(
        self, roster: RosterFit, fits: list[PersonFit], scale: float, learning: Learning
    ) -> None:
        new, best, lr, ci = learning.new, learning.best, learning.ratio, learning.interval
        if new == 0:
            self.limits.append(
                "Learning: no worker-shift of a person new to a post (every person at their "
                "own post from the first day): a learning curve cannot be fitted, the twin "
                "has none."
            )
        elif learning.days == 0:
            self.limits.append(
                f"Learning: {new} worker-shifts of people new to a post do not show a learning "
                f"curve the records can tell from day-to-day variation (best fit {best:.3g} "
                f"days, likelihood ratio {lr:.2f}, 95 % interval {ci[0]:.3g}–{ci[1]:.3g} days): "
                "the twin has no learning. A month is short for learning curves."
            )
        else:
            self.limits.append(
                f"Learning: fitted from {new} worker-shifts of people new to a post only "
                f"(95 % interval {ci[0]:.3g}–{ci[1]:.3g} days); a month is short for "
                "learning curves, and every person is given the same time constant."
            )
        self.limits.append(
            f"Skill is relative: the median crew member's work speed is taken as skill 1 "
            f"(speed scale {scale:.3f} records px/s per simulator px/s). A line whose people "
            "are mostly slow or fast looks normal to the fit; the twin's speeds are in the "
            "simulator's px/s, so an `eps` tuned on the twin is in the simulator's units "
            f"(multiply by {scale:.3f} for the records)."
        )
        floaters = [f for f in fits if f.role == "floater"]
        odd = [
            f.worker
            for f in floaters
            if _differs(f.offpost, NORMAL_RATE, "offpost_rate")
            or _differs(f.skill, NORMAL_SKILL, "skill")
        ]
        if floaters:
            self.limits.append(
                f"Floaters ({len(floaters)}) are normal workers in the simulator"
                + (f"; these differ from normal in the records: {', '.join(odd)}" if odd else "")
                + "."
            )
        spread = [
            (float(np.max(np.abs(np.log(r)))), f.worker)
            for f in fits
            for r in [np.array(f.keypoint_fit)]
            if len(r) and np.all(r > 0) and f.shifts >= MIN_SHIFTS
        ]
        if spread:
            worst, who = max(spread)
            self.limits.append(
                "The simulator moves every keypoint of a person by one skill: the records' "
                "keypoint speeds depart from that shape by up to "
                f"{math.exp(worst) - 1:.1%} ({who}; fit.json: people[].keypoint_fit), which the "
                "twin does not reproduce."
            )
        if len(roster.floaters) > len(roster.crew):
            self.limits.append(
                f"Most people ({len(roster.floaters)} of {len(fits)}) have no one home in the "
                "records: the ids may not follow people, or the plant works from a pool. The "
                "twin's floaters only cover absences, so its workforce is not the plant's."
            )
        late = [t.worker for t in roster.crew if t.from_day == 1 and t.first_seen > 7]
        if late:
            self.limits.append(
                "The first holders of some slots were first seen after the first week "
                f"({', '.join(late)}); the simulator fills every slot from day 1, so the twin "
                "counts those days as absences."
            )
        away = [t.worker for t in roster.crew if t.elsewhere]
        if away:
            self.limits.append(
                f"Crew members seen away from their home post and shift ({', '.join(away)}): "
                "the simulator's crews never cover other slots."
            )

    # equipment and environment -------------------------------------------------------------

    def equipment(
        self, people: list[PersonFit], skills: dict[Key, float], clock: Clock
    ) -> dict[str, Any]:
        m, levels = self.m, self.levels
        counts: dict[int, Counter[int]] = defaultdict(Counter)
        for (_, _, post), level in levels.level.items():
            counts[post][level] += 1
        for post in range(1, m.posts + 1):
            total = sum(counts[post].values())
            for level in range(5):
                k = counts[post][level]
                self.add(
                    name="level_rate",
                    post=post,
                    value=k / total if total else None,
                    interval=wilson(k, total) if total else None,
                    n=total,
                    unit_of_n="post-shifts",
                    unit=f"share at level {level}",
                    records=f"{LEVELS}: level of post {post}",
                    method=f"share of the post's shift changes at level {level} (Wilson)",
                )
        if self.labels is not None:
            shifts = len(self.labels.posts)
            k = sum(
                1
                for _, faults in self.labels.posts.values()
                for f in faults
                if f.cause == "equipment"
            )
            lo = stats.chi2.ppf(0.025, 2 * k) / 2 / shifts if k else 0.0
            hi = stats.chi2.ppf(0.975, 2 * k + 2) / 2 / shifts
            rate = k / shifts
            self.add(
                name="fault_rate",
                value=rate,
                interval=(float(lo), float(hi)),
                n=shifts,
                unit_of_n="post-shifts",
                unit="faults per post-shift",
                records=f"{LABELS_POSTS}: faults of cause equipment",
                method="faults of cause equipment per labelled post-shift (Poisson)",
                key="equipment.fault_rate",
            )
            self.limits.append(
                "Fault causes come from the labels; the simulator has one random equipment "
                "fault rate for the whole line (per-post base rates are in fit.json) and its "
                "own rules for the faults people cause."
            )
        else:
            rate = self.unexplained_rate(skills, clock)
            self.limits.append(
                "Without labels the records cannot tell which levels people, equipment or "
                "the environment caused: the twin's random fault rate is what the levels leave "
                "unexplained by the simulator's fault model applied to the fitted people and "
                "environment, and the twin's culprits follow the simulator's rules, not the "
                "plant's."
            )
        return {"fault_rate": round(rate, 5)}

    def unexplained_rate(self, skills: dict[Key, float], clock: Clock) -> float:
        m = self.m
        working_s = float(clock.working.sum()) / m.rate_hz
        per_shift: dict[tuple[int, str], list[sim.WorkerSummary]] = defaultdict(list)
        for x in self.measures:
            key = (x.day, x.shift, x.post, x.worker)
            positions = x.positions()
            areas, counts = np.unique(positions, return_counts=True)
            share = clock.offpost_share(x)
            per_shift[(x.day, x.shift)].append(
                sim.WorkerSummary(
                    worker=x.worker,
                    post=x.post,
                    dwell={
                        int(a): float(c) / m.rate_hz for a, c in zip(areas, counts, strict=True)
                    },
                    profile="",
                    offpost_rate=share,
                    skill=skills.get(key, NORMAL_SKILL),
                    needs_management=False,
                    needs_training=False,
                    working_s=working_s,
                    offpost_s=share * working_s if math.isfinite(share) else 0.0,
                )
            )
        p0_model, zeros, total = [], 0, 0
        env = self.env_bands()
        for (day, shift, post), level in self.levels.level.items():
            rates = sum(
                fault_rates(w, m.posts).get(post, 0.0) for w in per_shift.get((day, shift), [])
            )
            reading = self.levels.environment[(day, shift, post)]
            calm = all(
                sim.environment_level(float(reading[i]), mean=b[0], sd=b[1]) == 0
                for i, b in env.items()
            )
            p0_model.append(math.exp(-rates) * calm)
            zeros += level == 0
            total += 1
        expected = float(np.mean(p0_model)) if p0_model else 1.0
        lo, hi = wilson(zeros, total)

        def rate_at(p0: float) -> float:
            return max(0.0, math.log(expected / p0)) if p0 > 0 and expected > 0 else 0.0

        value = rate_at(zeros / total) if total else 0.0
        self.add(
            name="fault_rate",
            value=value,
            interval=(rate_at(hi), rate_at(lo)),
            n=total,
            unit_of_n="post-shifts",
            unit="faults per post-shift",
            records=f"{LEVELS}: level; {self.seconds}: area, speed_*",
            method=f"ln(p0_model / p0): level-0 share {zeros}/{total} against "
            f"{expected:.3f} predicted from the fitted people and environment alone",
            key="equipment.fault_rate",
        )
        return value

    def env_bands(self) -> dict[int, tuple[float, float]]:
        """Per environment column index of a simulator quantity: its median and band."""
        out = {}
        for i, name in enumerate(self.m.environment):
            if name in QUANTITIES:
                values = np.array([v[i] for v in self.levels.environment.values()])
                values = values[np.isfinite(values)]
                if len(values):
                    median = float(np.median(values))
                    out[i] = (median, float(1.4826 * np.median(np.abs(values - median))))
        return out

    def environment(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        bands = self.env_bands()
        excursions: dict[tuple[int, str, int], dict[str, float]] = defaultdict(dict)
        for i, (median, sd) in bands.items():
            name = self.m.environment[i]
            values = np.array([v[i] for v in self.levels.environment.values()])
            n = int(np.isfinite(values).sum())
            half = 1.96 * sd / math.sqrt(max(n, 1))
            self.add(
                name=f"environment.{name}",
                value=median,
                interval=(median - half, median + half),
                n=n,
                unit_of_n="readings",
                unit=name.rsplit("_", 1)[-1],
                records=f"{LEVELS}: env_{name}",
                method=f"median (band sd {sd:.4g} = 1.4826 × MAD)",
                key=f"environment.{name}",
            )
            out[name] = {"mean": round(median, 4), "sd": round(sd, 4)}
            for (day, shift, post), reading in self.levels.environment.items():
                x = float(reading[i])
                if math.isfinite(x) and sd > 0 and abs(x - median) > EXCURSION_Z * sd:
                    excursions[(day, shift, post)][name] = round(x, 4)
        other = [q for q in self.m.environment if q not in QUANTITIES]
        if other:
            self.limits.append(
                f"Environment quantities the simulator does not model are left out: {other}."
            )
        missing = [q for q in QUANTITIES if q not in self.m.environment]
        if missing:
            self.limits.append(
                f"The records hold no {missing}: the twin keeps the simulator's default bands."
            )
        if excursions:
            self.limits.append(
                f"{len(excursions)} environment readings beyond {EXCURSION_Z:g} bands are "
                "replayed as the twin's excursions on the same post-shifts."
            )
        shifts = self.m.shifts
        out["excursions"] = [
            {"post": p, "day": d, "shift": s, **values}
            for (d, s, p), values in sorted(
                excursions.items(), key=lambda e: (e[0][0], shifts.index(e[0][1]), e[0][2])
            )
        ]
        return out


def _leaves(e: Estimate, normal: float) -> bool:
    """Whether ``e``'s interval leaves the normal profile's value."""
    return (
        e.interval is not None
        and e.n >= MIN_SHIFTS
        and not e.interval[0] <= normal <= e.interval[1]
    )


def _differs(e: Estimate, normal: float, key: str) -> bool:
    """Whether a person's trait differs from normal by more than a threshold can tell."""
    return (
        _leaves(e, normal) and e.value is not None and abs(e.value - normal) > MIN_DIFFERENCE[key]
    )


def fit(
    m: Manifest,
    levels: LevelTable,
    labels: Labels | None,
    measures: list[ShiftMeasure],
    *,
    seed: int,
) -> Fit:
    """Fit the twin of a records folder from its worker-shifts' measures."""
    return Fitter(m, levels, labels, measures, seed=seed).fit()
