"""A worker's routine over a shift, as SimPy processes: clock-in at the post terminal, work
bouts, excursions off the post and breaks. SimPy runs only these state changes; the
per-second arrays are filled afterwards (`sim.motion`, `sim.measurement`).

**Time budget.** A worker's off-post excursions add up to exactly ``offpost_rate`` × its
working time (shift time after clock-in, breaks excluded), split into about one excursion per
``excursion_s`` (default `EXCURSION_MEAN_S`); each excursion walks through the aisle (area 0)
to the aisle itself or to another post (half the time; nearer posts likelier; or the areas of
the worker's ``destinations`` in proportion to their weights), stays, and walks back.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from sim.layout import walk_seconds
from sim.motion import IDLE, WALK, WORK, Segment
from sim.workforce import Traits

CLOCK_IN_S = 3.0
EXCURSION_MEAN_S = 240.0
MIN_STAY_S = 10.0


@dataclass(frozen=True, kw_only=True)
class WorkerSpec(Traits):
    """Who works a slot on a shift and how: id, profile, the shift's traits (:class:`Traits`)
    and where its excursions go."""

    worker: str
    profile: str
    excursion_s: float = EXCURSION_MEAN_S
    """Mean seconds of one excursion off the post, walks included."""
    destinations: tuple[tuple[int, float], ...] | None = None
    """``(area, weight)`` of where excursions go; None: the aisle half the time, else another
    post, nearer posts likelier."""


class ShiftClock:
    """The shift's schedule: fires an event at the end of every scheduled break.

    Args:
        env: the SimPy environment (time in seconds since clock-in).
        breaks: ``[start, end]`` pairs, sorted and non-overlapping.
    """

    def __init__(self, env: simpy.Environment, *, breaks: list[list[float]]) -> None:
        if any(not 0 <= s < e for s, e in breaks):
            raise ValueError(f'"breaks" must be [start, end] pairs with 0 ≤ start < end: {breaks}')
        self.env = env
        self.breaks = [(float(s), float(e)) for s, e in breaks]
        self._over = [env.event() for _ in self.breaks]
        env.process(self._run())

    def _run(self) -> Generator[simpy.Event, Any, None]:
        for (_, end), over in zip(self.breaks, self._over, strict=True):
            yield self.env.timeout(end - self.env.now)
            over.succeed()

    def next_break(self) -> tuple[float, simpy.Event | None]:
        """Seconds until the next break starts (0 inside one) and the event of its end."""
        now = self.env.now
        for (start, end), over in zip(self.breaks, self._over, strict=True):
            if end > now:
                return max(0.0, start - now), over
        return math.inf, None

    def break_left(self) -> float:
        """Seconds of breaks still to come (or under way) from now."""
        now = self.env.now
        return sum(max(0.0, e - max(s, now)) for s, e in self.breaks)


class Worker:
    """A worker at its post, as a SimPy process recording its state segments.

    Args:
        env: the SimPy environment.
        spec: who the worker is.
        post: the worker's own post (1..n).
        n_posts: posts on the line.
        length_s: shift length.
        clock: the shift's break schedule.
        terminal: the post's clock-in terminal (a capacity-1 resource).
        rng: the worker's own random stream.
    """

    def __init__(
        self,
        env: simpy.Environment,
        *,
        spec: WorkerSpec,
        post: int,
        n_posts: int,
        length_s: float,
        clock: ShiftClock,
        terminal: simpy.Resource,
        rng: np.random.Generator,
    ) -> None:
        if not 1 <= post <= n_posts:
            raise ValueError(f'"post" must be in 1..{n_posts}, got {post!r}')
        if not 0 <= spec.offpost_rate < 1:
            raise ValueError(f'"spec.offpost_rate" must be in [0, 1), got {spec.offpost_rate!r}')
        if length_s <= 0:
            raise ValueError(f'"length_s" must be > 0, got {length_s!r}')
        self.env, self.spec, self.post, self.n_posts = env, spec, post, n_posts
        self.length_s, self.clock, self.terminal, self.rng = length_s, clock, terminal, rng
        self.segments: list[Segment] = []
        """``(start_s, area, mode)`` of every state entered, in time order."""
        env.process(self._run())

    def _enter(self, area: int, mode: int) -> None:
        self.segments.append((float(self.env.now), area, mode))

    def _run(self) -> Generator[simpy.Event, Any, None]:
        self._enter(self.post, IDLE)
        with self.terminal.request() as turn:
            yield turn
            yield self.env.timeout(CLOCK_IN_S)
        working_s = max(0.0, self.length_s - self.env.now - self.clock.break_left())
        dests, stays, gaps = self._plan(working_s)
        for dest, stay, gap in zip(dests, stays, gaps, strict=False):
            yield from self._spend(gap, self.post, WORK)
            walk = walk_seconds(self.post, dest)
            yield from self._spend(walk, 0, WALK)
            yield from self._spend(stay, dest, IDLE)
            yield from self._spend(walk, 0, WALK)
        yield from self._spend(gaps[-1], self.post, WORK)

    def _plan(self, working_s: float) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Excursion destinations, stays and the work bouts before each."""
        budget = self.spec.offpost_rate * working_s
        count = max(1, round(budget / self.spec.excursion_s)) if budget > 0 else 0
        others = np.array([p for p in range(1, self.n_posts + 1) if p != self.post])
        dests: list[int] = []
        if self.spec.destinations is not None:
            areas = np.array([a for a, _ in self.spec.destinations])
            weights = np.array([w for _, w in self.spec.destinations], dtype=np.float64)
            dests = [int(a) for a in self.rng.choice(areas, size=count, p=weights / weights.sum())]
        else:
            for _ in range(count):
                if others.size and self.rng.random() < 0.5:
                    weights = 1.0 / np.abs(others - self.post)
                    dests.append(int(self.rng.choice(others, p=weights / weights.sum())))
                else:
                    dests.append(0)
        fixed = [2 * walk_seconds(self.post, d) + MIN_STAY_S for d in dests]
        while dests and sum(fixed) > budget:
            dests.pop()
            fixed.pop()
        walks = np.array(fixed) - MIN_STAY_S
        spare = budget - sum(fixed)
        stays = MIN_STAY_S + spare * self.rng.dirichlet(np.full(len(dests), 4.0)) if dests else []
        off = sum(walks) + (np.sum(stays) if dests else 0.0)
        gaps = (working_s - off) * self.rng.dirichlet(np.full(len(dests) + 1, 2.0))
        return dests, np.asarray(stays), gaps

    def _spend(self, seconds: float, area: int, mode: int) -> Generator[simpy.Event, Any, None]:
        """Spend ``seconds`` of working time in one state, stepping out for breaks."""
        while True:
            self._enter(area, mode)
            until, over = self.clock.next_break()
            step = min(seconds, until)
            if step > 0:
                yield self.env.timeout(step)
            seconds -= step
            if seconds <= 1e-9 or over is None:
                return
            self._enter(0, IDLE)
            yield over
