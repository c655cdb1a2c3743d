"""The workforce: people, who works which post on which day, and their effective traits.

**People.** Every crew slot ``(post, shift, slot)`` has a person from day 1, with the id
``p<post>-<shift>-<slot>`` (or the cast entry's ``name``) and the traits of its cast entry
(profile or explicit traits; normal otherwise). A cast entry with ``from_day`` > 1 is a new
person (id ``name`` or ``p<post>-<shift>-<slot>@d<from_day>``) who takes the slot from that
day; the slot's earlier person leaves. Floaters ``f1 … fN`` are normal workers without a
post of their own.

**The roster** of a day (:meth:`Roster.day`) is a pure function of the scenario and the day:

- *rotation*: in period ``k = (day − 1) // every_days``, ``swap_shifts`` puts the day crew on
  the night shift and back when k is odd; ``next_post`` moves every crew ``k`` posts down the
  line (post p works post ``(p − 1 + k) mod n + 1``);
- *absences*: each crew member is absent with probability ``absence_rate`` (a stream keyed
  by (seed, person, day)); floaters are never absent;
- *floaters* cover the day's absences in a fixed order of the slots (shift, post, slot), the
  floaters taken in a random order of the day (keyed by (seed, day)), one shift a day each;
  an absence no floater is left for leaves the slot empty.

**Effective traits** of a person on a shift (:meth:`Roster.effective`):

- *learning*: with ``learning_days = L > 0``, skill at a post is
  ``skill · (1 − (1 − LEARNING_START) · exp(−n / L))`` after ``n`` days worked there before:
  a newcomer starts at :data:`LEARNING_START` of its own skill, reaches 86 % of the way in
  2L days. The crew of day 1 has worked its home post long before (fully learned there);
  newcomers, floaters and rotated crews learn each post they work. Irregularity rises as
  effective skill falls (``sim.motion``), so a learner is slower *and* more irregular;
- *variation*: skill and off-post rate are multiplied by ``1 + variation · N(0, 1)`` (a stream
  keyed by (seed, person, day)), skill at least :data:`MIN_SKILL`, the rate in [0, 0.9].

Fatigue is not a trait: it slows the work motion over a shift (``sim.motion``) but does
not change the labels (a tired normal worker needs rest, not training). The labels of a
worker-shift follow the effective traits: *needs training* when effective skill ≤ 0.8,
*needs management* when the effective off-post rate ≥ 0.10.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict, defaultdict
from dataclasses import dataclass

from sim.registry import PROFILES
from sim.scenario import SHIFT_NAMES, Scenario
from sim.seeding import Stream, stream

LEARNING_START = 0.6
"""Share of its own skill a person has on its first day at a post (with learning)."""
MIN_SKILL = 0.05
"""Lowest effective skill (the motion's speed factor must stay positive)."""
MAX_OFFPOST = 0.9
"""Highest effective off-post rate."""


@dataclass(frozen=True)
class Person:
    """Who a worker is: stable id, plateau traits, home slot or floater."""

    id: str
    profile: str
    offpost_rate: float
    skill: float
    home: tuple[int, str, int] | None
    """``(post, shift, slot)`` of the crew slot, None for a floater."""
    from_day: int = 1
    until_day: int | None = None
    """First day the person no longer works (replaced by a newcomer), if any."""
    excursion_s: float | None = None
    """Mean seconds of one excursion (None: the simulator's default)."""
    destinations: tuple[tuple[int, float], ...] | None = None
    """``(area, weight)`` of where the excursions go (None: the simulator's default rule)."""

    @property
    def key(self) -> int:
        """A stable integer for the person's random streams."""
        return zlib.crc32(self.id.encode())


@dataclass(frozen=True)
class Assignment:
    """A person at a post-shift-slot on a day."""

    person: Person
    post: int
    shift: str
    slot: int
    covering: str | None = None
    """The absent crew member a floater stands in for."""


@dataclass(frozen=True)
class Traits:
    """A person's traits on one shift at one post, and what the roster says around them: the
    one declaration of a worker-shift's traits (``results.json`` carries them, in this order)."""

    skill: float
    """The shift's effective skill (learning and variation applied)."""
    offpost_rate: float
    """The shift's effective off-post rate (variation applied)."""
    plateau_skill: float
    """The person's own skill (before learning and variation)."""
    plateau_offpost_rate: float
    """The person's own off-post rate (before day-to-day variation)."""
    days_at_post: int
    """Days the person worked this post before (the learning curve's n)."""
    floater: bool
    """A floater (no post of its own)."""
    covering: str | None
    """The absent crew member a floater stands in for."""


def _slot_person(scenario: Scenario, post: int, shift: str, slot: int, day: int) -> Person:
    """The crew person of a slot on a day (the cast entry with the latest from_day ≤ day)."""
    entries = [
        e
        for e in scenario.workers.cast
        if (e.post, e.shift, e.slot) == (post, shift, slot) and e.from_day <= day
    ]
    base = f"p{post}-{shift}-{slot}"
    later = [
        e.from_day
        for e in scenario.workers.cast
        if (e.post, e.shift, e.slot) == (post, shift, slot) and e.from_day > day
    ]
    until = min(later, default=None)
    if not entries:
        normal = PROFILES.get("normal")
        return Person(base, "normal", normal.offpost_rate, normal.skill, (post, shift, slot),
                      1, until)  # fmt: skip
    entry = max(entries, key=lambda e: e.from_day)
    traits = PROFILES.get(entry.profile or "normal")
    explicit = entry.offpost_rate is not None or entry.skill is not None
    default_id = base if entry.from_day == 1 else f"{base}@d{entry.from_day}"
    return Person(
        id=entry.name or default_id,
        profile="custom" if explicit else str(entry.profile),
        offpost_rate=traits.offpost_rate if entry.offpost_rate is None else entry.offpost_rate,
        skill=traits.skill if entry.skill is None else entry.skill,
        home=(post, shift, slot),
        from_day=entry.from_day,
        until_day=until,
        excursion_s=entry.excursion_s,
        destinations=None if entry.destinations is None else tuple(entry.destinations.items()),
    )


class Roster:
    """Who works where on every day of a scenario, and each person's experience.

    Built day by day from day 1 (experience needs the days before); cheap, and cached per
    scenario in each process (:func:`roster`).
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        normal = PROFILES.get("normal")
        self.floaters = tuple(
            Person(f"f{k}", "normal", normal.offpost_rate, normal.skill, None)
            for k in range(1, scenario.workers.floaters + 1)
        )
        self._days: list[dict[tuple[int, str, int], Assignment]] = []
        self._worked: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))

    def _crew_slot(self, home: tuple[int, str, int], day: int) -> tuple[int, str, int]:
        """Where a home slot's crew works on ``day`` (rotation)."""
        post, shift, slot = home
        rotation = self.scenario.workers.rotation
        if rotation is None:
            return home
        period = (day - 1) // rotation.every_days
        if rotation.mode == "swap_shifts":
            names = SHIFT_NAMES[: self.scenario.shifts.per_day]
            return post, names[(names.index(shift) + period) % len(names)], slot
        n = self.scenario.n_posts
        return (post - 1 + period) % n + 1, shift, slot

    def _build(self, day: int) -> dict[tuple[int, str, int], Assignment]:
        s = self.scenario
        w = s.workers
        assignments: dict[tuple[int, str, int], Assignment] = {}
        absent: list[tuple[tuple[int, str, int], Person]] = []
        for shift in s.shift_names:
            for post in range(1, s.n_posts + 1):
                for slot in range(1, w.per_post + 1):
                    person = _slot_person(s, post, shift, slot, day)
                    where = self._crew_slot((post, shift, slot), day)
                    away = w.absence_rate > 0 and stream(
                        s.seed, Stream.ABSENCE, person.key, day
                    ).random() < w.absence_rate  # fmt: skip
                    if away:
                        absent.append((where, person))
                    else:
                        assignments[where] = Assignment(person, *where)
        order = stream(s.seed, Stream.FLOATERS, day).permutation(len(self.floaters))
        free = [self.floaters[k] for k in order]
        for where, person in sorted(absent, key=lambda a: (s.shift_names.index(a[0][1]), a[0])):
            if free:
                assignments[where] = Assignment(free.pop(0), *where, covering=person.id)
        return assignments

    def day(self, day: int) -> dict[tuple[int, str, int], Assignment]:
        """The day's assignments by ``(post, shift, slot)`` (a missing slot: nobody)."""
        while len(self._days) < day:
            d = len(self._days) + 1
            built = self._build(d)
            self._days.append(built)
            for a in built.values():
                self._worked[a.person.id][a.post].append(d)
        return self._days[day - 1]

    def workers_at(self, post: int, shift: str, day: int) -> list[Assignment]:
        """The assignments of one post-shift, by slot."""
        assignments = self.day(day)
        slots = range(1, self.scenario.workers.per_post + 1)
        return [assignments[key] for key in ((post, shift, s) for s in slots) if key in assignments]

    def days_at(self, person: Person, post: int, day: int) -> int:
        """Days ``person`` worked ``post`` before ``day`` (the learning curve's n)."""
        self.day(day)
        worked = self._worked[person.id][post]
        return sum(1 for d in worked if d < day)

    def effective(self, a: Assignment, day: int) -> Traits:
        """The person's traits on this shift at this post (see the module docstring), with its
        own, its experience there and the roster's facts."""
        w = self.scenario.workers
        person = a.person
        n = self.days_at(person, a.post, day)
        skill = person.skill
        if w.learning_days > 0:
            known = _home_experience(person, a.post)
            skill *= 1 - (1 - LEARNING_START) * math.exp(-(n + known) / w.learning_days)
        offpost = person.offpost_rate
        if w.variation > 0:
            rng = stream(self.scenario.seed, Stream.VARIATION, person.key, day)
            jitter = rng.standard_normal(2)
            skill *= 1 + w.variation * jitter[0]
            offpost *= 1 + w.variation * jitter[1]
        return Traits(
            skill=float(max(skill, MIN_SKILL)),
            offpost_rate=float(min(max(offpost, 0.0), MAX_OFFPOST)),
            plateau_skill=person.skill,
            plateau_offpost_rate=person.offpost_rate,
            days_at_post=n,
            floater=person.home is None,
            covering=a.covering,
        )


def _home_experience(person: Person, post: int) -> float:
    """Days of experience before day 1: the day-1 crew knows its home post (fully learned)."""
    at_home = person.home is not None and person.home[0] == post and person.from_day == 1
    return math.inf if at_home else 0.0


_ROSTERS: OrderedDict[str, Roster] = OrderedDict()
_KEPT = 8


def roster(scenario: Scenario) -> Roster:
    """The scenario's roster, cached per process (keyed by the scenario's content)."""
    key = scenario.model_dump_json()
    if key not in _ROSTERS:
        _ROSTERS[key] = Roster(scenario)
        while len(_ROSTERS) > _KEPT:
            _ROSTERS.popitem(last=False)
    return _ROSTERS[key]
