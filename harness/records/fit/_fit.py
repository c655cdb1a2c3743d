"""The fit: every figure the twin is built from, with its interval, sample size and the
records it came from (typed, so fit.json, the report and the twin read one set).

The simulator's model is the one fitted (``sim.workers``, ``sim.workforce``,
``sim.equipment``); the estimators, in the order :func:`fit` runs them:

- **Breaks** and the line (:mod:`._clock`).
- **The calibration** of the measures on the fitted line (:mod:`._calibration`).
- **Workforce**: rotation, crews, floaters, absences (:mod:`._roster`; absences a Wilson
  interval).
- **Speed scale, learning, variation, fatigue** (:mod:`._learning`).
- **A person's off-post rate, skill and excursions** (:mod:`._person`), and the twin's cast
  of the people who differ from the normal profile (:mod:`._cast`).
- **Equipment and environment** (:mod:`._plant`).

Intervals are 95 %: t-style on the log or linear scale for people (with the calibration's
spread as a floor), Wilson for shares, bootstrap over people (seeded) for learning,
variation and the speed scale, over worker-shifts for fatigue.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.records._format import SECONDS, Manifest, RecordsError
from harness.records._tables import Labels, LevelTable, WorkerShiftKey
from harness.records.fit._calibration import NORMAL_SKILL, Calibration, calibrate
from harness.records.fit._cast import fit_cast, workforce_limits
from harness.records.fit._clock import Clock, fit_clock, fit_line
from harness.records.fit._estimate import SECONDS_FILES, Estimate, Fitting
from harness.records.fit._learning import (
    fit_fatigue,
    fit_learning,
    fit_speed_scale,
    fit_variation,
    learning_factor,
)
from harness.records.fit._measure import ShiftMeasure
from harness.records.fit._person import PersonFit, fit_person, post_speeds
from harness.records.fit._plant import fit_environment, fit_equipment
from harness.records.fit._roster import RosterFit, fit_roster, wilson
from sim.scenario import MAX_NAME
from sim.seeding import derived_seed


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
    skills: dict[WorkerShiftKey, float] = field(default_factory=dict)
    """Per worker-shift of the records, its effective skill (for the fault model)."""


def twin_seed(m: Manifest) -> int:
    """The twin's default seed: fixed by the records, and not theirs (a twin that replayed
    the source's own random draws would match a simulated source trivially)."""
    return derived_seed(m.seed, zlib.crc32(f"twin:{m.name}".encode()))


def fit(
    m: Manifest,
    levels: LevelTable,
    labels: Labels | None,
    measures: list[ShiftMeasure],
    *,
    seed: int,
) -> Fit:
    """Fit the twin of a records folder from its worker-shifts' measures."""
    if not measures:
        raise RecordsError(f"{SECONDS}/: no worker-shifts to fit")
    fitting = Fitting(m, levels, labels, measures, seed)
    clock = fit_clock(measures, T=m.T, rate_hz=m.rate_hz)
    line = fit_line(fitting, clock)
    calibration = calibrate(line, seed=seed, offpost_share=clock.offpost_share)
    keys = [(x.day, x.shift, x.post, x.worker) for x in measures]
    roster = fit_roster(keys, shifts=m.shifts, posts=m.posts, days=m.days)
    people, skills, workforce = _workforce(fitting, clock, calibration, roster)
    scenario = {
        "name": f"{m.name[: MAX_NAME - len('-twin')]}-twin",  # a name, however long
        "seed": seed,
        **line,
        "days": {"history": m.history_days, "evaluate": m.evaluate_days},
        "workers": workforce,
        "equipment": fit_equipment(fitting, skills, clock),
        "environment": fit_environment(fitting),
        "fidelity": "signal",
    }
    return Fit(
        scenario,
        tuple(fitting.estimates),
        tuple(people),
        roster,
        clock,
        calibration,
        tuple(fitting.limits),
        skills,
    )


def _workforce(
    fitting: Fitting, clock: Clock, cal: Calibration, roster: RosterFit
) -> tuple[list[PersonFit], dict[WorkerShiftKey, float], dict[str, Any]]:
    """The people, each worker-shift's effective skill, and the twin's ``workers`` section;
    the workforce's estimates and limits go to ``fitting``."""
    by_worker: dict[str, list[ShiftMeasure]] = defaultdict(list)
    for x in fitting.measures:
        by_worker[x.worker].append(x)
    workers = sorted(by_worker)
    index = {w: k for k, w in enumerate(workers)}
    tenure = {t.worker: t for t in roster.crew}
    at_home = [
        x
        for x in fitting.measures
        if roster.experience[(x.day, x.shift, x.post, x.worker)] == math.inf
    ]
    normal_level = float(np.interp(NORMAL_SKILL, cal.level.trait, cal.level.measured))
    scale, scale_ci, scale_n = fit_speed_scale(fitting, at_home or fitting.measures, normal_level)
    usable = [x for x in fitting.measures if math.isfinite(x.speed.level) and x.speed.level > 0]
    if not usable:
        raise RecordsError(
            f"{SECONDS}/: no worker-shift was seen working on its own post (area = post): "
            "no work speeds to fit skills from"
        )
    raw = np.array([cal.level.invert(x.speed.level / scale) for x in usable])
    experience = np.array([roster.experience[(x.day, x.shift, x.post, x.worker)] for x in usable])
    person = np.array([index[x.worker] for x in usable])
    log_raw = np.log(np.maximum(raw, 1e-3))
    learning = fit_learning(fitting, log_raw, experience, person, len(workers))
    variation = fit_variation(
        fitting, log_raw, experience, person, len(workers), learning.days, cal.level_noise
    )
    plateau_log = log_raw - np.log(learning_factor(experience, learning.days))
    skills = {
        (x.day, x.shift, x.post, x.worker): float(s) for x, s in zip(usable, raw, strict=True)
    }
    post_speed = post_speeds(fitting.measures)
    fits = []
    for w in workers:
        own = by_worker[w]
        mine = person == index[w]
        fits.append(
            fit_person(w, own, tenure.get(w), clock, cal, plateau_log[mine], post_speed, scale)
        )
    fits, cast = fit_cast(fits, roster)
    fatigue = fit_fatigue(fitting, cal)
    rotation = roster.rotation
    fitting.add(
        "rotation_kept",
        rotation.kept,
        unit="share",
        records=f"{SECONDS_FILES}: worker, post, shift, day",
        method=f"share of worker-shifts at their person's commonest home "
        f"under rotation {rotation.mode or 'none'} every {rotation.every_days} days "
        f"(without rotation: {rotation.kept_without:.3f})",
        key="workers.rotation",
    )
    fitting.add(
        "absence_rate",
        roster.absent / max(1, roster.expected),
        wilson(roster.absent, roster.expected),
        n=roster.expected,
        unit_of_n="crew days",
        unit="share",
        records=f"{SECONDS_FILES}: worker, day (days a crew member was not seen)",
        method="absent crew days / crew days (Wilson interval)",
        key="workers.absence_rate",
    )
    fitting.add(
        "floaters",
        float(len(roster.floaters)),
        n=len(workers),
        unit_of_n="people",
        unit="people",
        records=f"{SECONDS_FILES}: worker",
        method="people without one home (fewer "
        f"than {0.8:.0%} of their worker-shifts at one post and shift)",
        key="workers.floaters",
    )
    fitting.add(
        "per_post",
        float(roster.per_post),
        unit="people",
        records=f"{SECONDS_FILES}: worker, post",
        method="most crew slots of a post and shift (people at once)",
        key="workers.per_post",
    )
    fitting.add(
        "speed_scale",
        scale,
        scale_ci,
        n=scale_n,
        unit_of_n="people",
        unit="records px/s per simulator px/s",
        records=f"{SECONDS_FILES}: speed_* of the crew at their home posts",
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
    fitting.limits.extend(workforce_limits(roster, fits, scale, learning))
    return fits, skills, workforce
