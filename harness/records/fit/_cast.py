"""The twin's cast (the people the records show to differ from the normal profile, under
their own ids) and what the records leave the twin's workforce short of (its limits)."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

import numpy as np

from harness.records.fit._calibration import NORMAL_RATE, NORMAL_SKILL
from harness.records.fit._estimate import Estimate
from harness.records.fit._learning import Learning
from harness.records.fit._person import PersonFit
from harness.records.fit._roster import RosterFit

MIN_SHIFTS = 3
"""Worker-shifts a person needs for their own traits."""
MIN_DIFFERENCE = {"offpost_rate": 0.005, "skill": 0.05}
"""How far a person's trait must be from the normal profile's (besides its interval leaving
it) to enter the twin's cast: closer is normal for all a threshold can tell."""
NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,40}$")
"""A person id the scenario can carry as a cast ``name`` (``sim.scenario.PersonName``)."""


def fit_cast(
    fits: list[PersonFit], roster: RosterFit
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


def workforce_limits(
    roster: RosterFit, fits: list[PersonFit], scale: float, learning: Learning
) -> list[str]:
    """What the records leave the twin's workforce short of, one line each: learning, the
    relative skill, floaters, the keypoint shape, ids that do not follow people, late first
    holders, crews away from home."""
    out: list[str] = []
    new, best, lr, ci = learning.new, learning.best, learning.ratio, learning.interval
    if new == 0:
        out.append(
            "Learning: no worker-shift of a person new to a post (every person at their "
            "own post from the first day): a learning curve cannot be fitted, the twin "
            "has none."
        )
    elif learning.days == 0:
        out.append(
            f"Learning: {new} worker-shifts of people new to a post do not show a learning "
            f"curve the records can tell from day-to-day variation (best fit {best:.3g} "
            f"days, likelihood ratio {lr:.2f}, 95 % interval {ci[0]:.3g}–{ci[1]:.3g} days): "
            "the twin has no learning. A month is short for learning curves."
        )
    else:
        out.append(
            f"Learning: fitted from {new} worker-shifts of people new to a post only "
            f"(95 % interval {ci[0]:.3g}–{ci[1]:.3g} days); a month is short for "
            "learning curves, and every person is given the same time constant."
        )
    out.append(
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
        out.append(
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
        out.append(
            "The simulator moves every keypoint of a person by one skill: the records' "
            "keypoint speeds depart from that shape by up to "
            f"{math.exp(worst) - 1:.1%} ({who}; fit.json: people[].keypoint_fit), which the "
            "twin does not reproduce."
        )
    if len(roster.floaters) > len(roster.crew):
        out.append(
            f"Most people ({len(roster.floaters)} of {len(fits)}) have no one home in the "
            "records: the ids may not follow people, or the plant works from a pool. The "
            "twin's floaters only cover absences, so its workforce is not the plant's."
        )
    late = [t.worker for t in roster.crew if t.from_day == 1 and t.first_seen > 7]
    if late:
        out.append(
            "The first holders of some slots were first seen after the first week "
            f"({', '.join(late)}); the simulator fills every slot from day 1, so the twin "
            "counts those days as absences."
        )
    away = [t.worker for t in roster.crew if t.elsewhere]
    if away:
        out.append(
            f"Crew members seen away from their home post and shift ({', '.join(away)}): "
            "the simulator's crews never cover other slots."
        )
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
