"""The workforce as the worker ids show it: rotation, crews, newcomers, floaters, absences.

The simulator's roster (``sim.workforce``) is the model: every crew slot ``(post, shift,
slot)`` has a person, who may be replaced by a newcomer from some day; crews rotate
(``swap_shifts`` or ``next_post`` every k days, periods counted from day 1); a crew member
is absent on a day with some probability, and floaters cover absences anywhere.

- **Rotation.** Each candidate (none; each mode and period k) maps every observed
  worker-shift back to a *home* (the post and shift it would be on day 1). The candidate under
  which people keep one home the most (the share of worker-shifts at each person's commonest
  home) wins; a rotation must beat none by `ROTATION_MARGIN`.
- **Crew and floaters.** A person with at least `CREW_SHARE` of their worker-shifts at one
  home, and at least two there, is crew of that home; everyone else is a floater.
- **Slots.** A home's crew in order of first appearance: a person whose days overlap those
  of every earlier slot holder takes a new slot; one who comes after a slot's holder takes
  over that slot (a newcomer, from the first day seen). The first holder of a slot holds it
  from day 1.
- **Absences.** A crew member's days in its slot (from its first day to its successor's) on
  which it was not seen at its home.
- **Experience.** Per worker-shift, the days the person had worked that post before; the
  first holders of day 1 at their home post have worked it long before (infinite).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from harness.records._tables import WorkerShiftKey

ROTATION_MARGIN = 0.05
"""How much more of the worker-shifts a rotation must keep at one home than no rotation."""
CREW_SHARE = 0.8
"""Share of a person's worker-shifts at one home that makes the person crew of that home."""

Home = tuple[int, str]
"""A crew's post and shift on day 1."""


@dataclass(frozen=True)
class Rotation:
    """The crews' rotation: ``mode`` None for none."""

    mode: str | None
    every_days: int | None
    kept: float
    """Share of worker-shifts at their person's commonest home under this rotation."""
    kept_without: float
    """The same without rotation."""


@dataclass(frozen=True)
class Tenure:
    """A crew member's hold of a slot."""

    worker: str
    post: int
    shift: str
    slot: int
    from_day: int
    until_day: int | None
    """The successor's first day (exclusive), None to the end."""
    first_seen: int
    present: int
    """Days seen at the home in the tenure."""
    expected: int
    """Days of the tenure."""
    elsewhere: int
    """Worker-shifts seen away from the home (the simulator's crews never are)."""


@dataclass(frozen=True)
class RosterFit:
    """The workforce fitted to the worker ids."""

    rotation: Rotation
    per_post: int
    crew: tuple[Tenure, ...]
    floaters: tuple[str, ...]
    experience: dict[WorkerShiftKey, float]
    """Per worker-shift: days the person had worked that post before (inf: long before)."""

    @property
    def absent(self) -> int:
        """Crew days absent."""
        return sum(t.expected - t.present for t in self.crew)

    @property
    def expected(self) -> int:
        """Crew days expected."""
        return sum(t.expected for t in self.crew)


def home_of(
    post: int,
    shift: str,
    day: int,
    *,
    mode: str | None,
    every: int | None,
    shifts: tuple[str, ...],
    posts: int,
) -> Home:
    """Where the crew working ``(post, shift)`` on ``day`` worked on day 1 (inverse of
    ``sim.workforce.Roster._crew_slot``)."""
    if mode is None or every is None:
        return post, shift
    period = (day - 1) // every
    if mode == "swap_shifts":
        return post, shifts[(shifts.index(shift) - period) % len(shifts)]
    return (post - 1 - period) % posts + 1, shift


def _kept(person: np.ndarray, home: np.ndarray) -> float:
    """Share of worker-shifts at their person's commonest home (``home``: codes)."""
    width = int(home.max()) + 1
    pairs, counts = np.unique(person * width + home, return_counts=True)
    best = np.zeros(int(person.max()) + 1, dtype=np.int64)
    np.maximum.at(best, pairs // width, counts)
    return float(best.sum() / len(person))


def fit_rotation(
    keys: list[WorkerShiftKey], *, shifts: tuple[str, ...], posts: int, days: int
) -> Rotation:
    """The rotation under which people keep one home the most (see the module docstring)."""
    if not keys:
        return Rotation(None, None, 0.0, 0.0)
    day = np.array([k[0] for k in keys], dtype=np.int64)
    shift = np.array([shifts.index(k[1]) for k in keys], dtype=np.int64)
    post = np.array([k[2] for k in keys], dtype=np.int64)
    names = {w: i for i, w in enumerate(sorted({k[3] for k in keys}))}
    person = np.array([names[k[3]] for k in keys], dtype=np.int64)
    S = len(shifts)
    plain = _kept(person, post * S + shift)
    best = Rotation(None, None, plain, plain)
    modes = [m for m, ok in (("swap_shifts", S == 2), ("next_post", posts > 1)) if ok]
    for mode in modes:
        for every in range(1, days):
            period = (day - 1) // every
            if mode == "swap_shifts":
                home = post * S + (shift - period) % S
            else:
                home = ((post - 1 - period) % posts + 1) * S + shift
            kept = _kept(person, home)
            if kept >= plain + ROTATION_MARGIN and kept > best.kept:
                best = Rotation(mode, every, kept, plain)
    return best


def fit_roster(
    keys: list[WorkerShiftKey], *, shifts: tuple[str, ...], posts: int, days: int
) -> RosterFit:
    """The rotation, crews, slots, floaters and experience of the worker-shifts ``keys``."""
    keys = sorted(keys, key=lambda k: (k[0], shifts.index(k[1]), k[2], k[3]))
    rotation = fit_rotation(keys, shifts=shifts, posts=posts, days=days)

    def home(k: WorkerShiftKey) -> Home:
        return home_of(
            k[2],
            k[1],
            k[0],
            mode=rotation.mode,
            every=rotation.every_days,
            shifts=shifts,
            posts=posts,
        )

    seen: dict[str, list[WorkerShiftKey]] = defaultdict(list)
    for k in keys:
        seen[k[3]].append(k)
    crew_of: dict[Home, list[str]] = defaultdict(list)
    floaters = []
    for worker, found in seen.items():
        (top, count), *_ = Counter(home(k) for k in found).most_common(1)
        if count >= 2 and count >= CREW_SHARE * len(found):
            crew_of[top].append(worker)
        else:
            floaters.append(worker)
    crew: list[Tenure] = []
    for (post, shift), workers in sorted(crew_of.items(), key=lambda h: (h[0][0], h[0][1])):
        days_at = {w: sorted({k[0] for k in seen[w] if home(k) == (post, shift)}) for w in workers}
        ordered = sorted(workers, key=lambda w: (days_at[w][0], w))
        slots: list[list[str]] = []
        for w in ordered:
            free = next((s for s in slots if days_at[s[-1]][-1] < days_at[w][0]), None)
            if free is None:
                slots.append([w])
            else:
                free.append(w)
        for slot, holders in enumerate(slots, start=1):
            for i, w in enumerate(holders):
                start = 1 if i == 0 else days_at[w][0]
                until = days_at[holders[i + 1]][0] if i + 1 < len(holders) else None
                end = days if until is None else until - 1
                present = sum(1 for d in days_at[w] if start <= d <= end)
                elsewhere = sum(1 for k in seen[w] if home(k) != (post, shift))
                crew.append(
                    Tenure(
                        w,
                        post,
                        shift,
                        slot,
                        start,
                        until,
                        days_at[w][0],
                        present,
                        end - start + 1,
                        elsewhere,
                    )
                )
    per_post = max(
        [max(Counter((k[0], k[1], k[2]) for k in keys).values(), default=1)]
        + [t.slot for t in crew]
    )
    home_post = {t.worker: t.post for t in crew if t.from_day == 1}
    worked: dict[tuple[str, int], int] = defaultdict(int)
    experience: dict[WorkerShiftKey, float] = {}
    for _, group in itertools.groupby(keys, key=lambda k: k[0]):
        today = list(group)
        for k in today:
            at_home = home_post.get(k[3]) == k[2]
            experience[k] = math.inf if at_home else float(worked[(k[3], k[2])])
        for worker_post in {(k[3], k[2]) for k in today}:
            worked[worker_post] += 1
    return RosterFit(rotation, per_post, tuple(crew), tuple(sorted(floaters)), experience)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
