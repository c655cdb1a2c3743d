"""The shift's time as the records show it: the breaks, the working samples, the excursions;
and the twin's line and shifts.

- **Breaks**: the spans where at least `BREAK_SHARE` of all worker-shifts are in area 0 at
  the same sample, at least `MIN_BREAK_S` long, moved back by the signal fidelity's mean
  position lag (so that the twin's *measured* breaks fall where the records' do).
- **Excursions**: runs off the post in working time of at least `MIN_BOUT_S`; a run's
  destination is the area besides the aisle it spent most samples in (0: only the aisle).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.records.fit._estimate import SECONDS_FILES, Fitting
from harness.records.fit._measure import ShiftMeasure
from sim.measurement import POSITION_LAG_MAX_S, POSITION_LAG_MIN_S

BREAK_SHARE = 0.5
"""Share of worker-shifts in area 0 at one sample that makes it a break."""
MIN_BREAK_S = 10.0
"""Shortest break found."""
LAG_S = (POSITION_LAG_MIN_S + POSITION_LAG_MAX_S) / 2
"""The signal fidelity's mean lag of a measured area change behind the true one."""
MIN_BOUT_S = 5.0
"""Shortest off-post run counted as an excursion (shorter ones are the areas' jitter)."""


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


def fit_line(fitting: Fitting, clock: Clock) -> dict[str, Any]:
    """The twin's ``line`` and ``shifts`` sections: the records' posts and correlation, the shift,
    and the breaks of ``clock`` (an estimate each)."""
    m = fitting.m
    chain = np.abs(np.arange(m.posts)[:, None] - np.arange(m.posts)[None, :]) <= 1
    correlation: Any = "chain" if np.array_equal(m.G, chain.astype(float)) else m.G.tolist()
    breaks = clock.true_breaks(m.length_s)
    for (a, b), (start, end) in zip(clock.breaks, breaks, strict=False):
        fitting.add(
            "break",
            start,
            (start, end),
            unit="s",
            records=f"{SECONDS_FILES}: area",
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
