"""Workers: SimPy processes that clock in, work in task cycles, take breaks and wander off.

SimPy runs only the state changes (clock-in at the post terminal, work bouts, walks, stays,
breaks); the per-second arrays are filled afterwards, vectorised per state segment.

**Time budget.** A worker's off-post excursions add up to exactly ``offpost_rate`` × its
working time (shift time after clock-in, breaks excluded), split into about one excursion per
``excursion_s`` (default `EXCURSION_MEAN_S`); each excursion walks through the aisle (area 0)
to the aisle itself or to another post (half the time; nearer posts likelier; or the areas of
the worker's ``destinations`` in proportion to their weights), stays, and walks back.

**Motion** (pixels of the camera of the area the worker is in, see `sim.layout`). At work, the
arm keypoints circle at ``WORK_FREQ_HZ × skill`` turns per second with per-keypoint radii
`WORK_RADIUS_PX` (wrists fast, trunk and head slow, feet nearly still), the radius modulated
by ±`TASK_MODULATION` over a task cycle of ``TASK_CYCLE_S / skill`` seconds; the angular step
of each second is jittered by a factor ``1 + irregularity · N(0, 1)`` with irregularity
``IRREGULARITY + IRREGULARITY_PER_SKILL · max(0, 1 - skill)``. A circle keeps the per-second
speed steady, so that per-second speeds compare well with a history mean. Standing idle (a
visit, the aisle, a break) sways by `SWAY_RADIUS_PX`; walking crosses the image at
``WALK_SPEED_M_S × PX_PER_M`` px/s.

**Measurement noise** (signal fidelity, fitted to the pixel path: docs/calibration.md). A
still keypoint (true speed ≤ `MOVING_PX_S`) is the true one plus i.i.d. Gaussian jitter of
`KEYPOINT_JITTER_PX` px per coordinate per frame, its speed ``|Δ measured keypoint| ×
rate_hz`` (≈ 0.8 px/s at 1 Hz). A moving keypoint's speed carries the pixel path's error:
``(v + 1) · exp(r) − 1`` (at least 0) with ``r`` drawn per second from that keypoint's
quantiles of ``log((pixel speed + 1) / (true speed + 1))`` in `speed_error.json` (fitted
with the shipped keypoint network by ``bench_calibration.py --fit``; the file names the
weights' sha256). Measured positions switch area a uniform
`POSITION_LAG_MIN_S`..`POSITION_LAG_MAX_S` seconds after the true switch (the lag of the
foot-heatmap accumulation at α = 0.05).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from core import N_KEYPOINTS, WorkerShift
from sim._errors import ScenarioError
from sim.layout import (
    AISLE_SPOT_PX,
    CAMERA_SIZE,
    PX_PER_M,
    SKELETON_PX,
    VISIT_SPOT_PX,
    WALK_SPEED_M_S,
    WORK_SPOT_PX,
    walk_seconds,
)
from sim.scenario import Scenario
from sim.seeding import Stream, stream
from sim.workforce import Assignment, Roster, Traits, roster

if TYPE_CHECKING:
    from types import ModuleType

MANAGEMENT_RATE = 0.10
"""A worker with ``offpost_rate`` at or above this truly needs management."""
TRAINING_SKILL = 0.8
"""A worker with ``skill`` at or below this truly needs training."""

CLOCK_IN_S = 3.0
EXCURSION_MEAN_S = 240.0
MIN_STAY_S = 10.0
WORK_FREQ_HZ = 0.15
TASK_CYCLE_S = 30.0
TASK_MODULATION = 0.2
IRREGULARITY = 0.05
IRREGULARITY_PER_SKILL = 0.5
SWAY_RADIUS_PX = 2.0
SWAY_FREQ_HZ = 0.05
KEYPOINT_JITTER_PX = 0.45
"""Fitted to the pixel path: a still keypoint reads 0.77 px/s there (docs/calibration.md)."""
MOVING_PX_S = 1.0
"""Keypoints truly faster than this (px/s) carry the pixel path's speed error."""
SPEED_ERROR_FILE = Path(__file__).with_name("speed_error.json")
"""Per-keypoint quantiles of the pixel path's log speed ratio (see the module docstring)."""
POSITION_LAG_MIN_S = 12.0
POSITION_LAG_MAX_S = 14.0
"""Fitted to the pixel path's area-switch lag at α = 0.05 (ln 2 / −ln(1 − α) ≈ 13.5 s)."""

WORK_RADIUS_PX: np.ndarray = np.array(
    # head neck r_sh r_el r_wr l_sh l_el l_wr r_hip r_kn r_an l_hip l_kn l_an
    [4.0, 4.0, 5.0, 12.0, 20.0, 5.0, 12.0, 20.0, 4.0, 3.0, 2.0, 4.0, 3.0, 2.0],
    dtype=np.float32,
)
_ARM_SIGN = np.array([1, 1, 1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1, -1], dtype=np.float32)
_SIGNED_RADIUS = (WORK_RADIUS_PX * _ARM_SIGN)[None, :, None]

WORK, IDLE, WALK = 0, 1, 2
"""Motion modes of a state segment."""


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


def resolve_worker(scenario: Scenario, *, post: int, shift: str, slot: int, day: int) -> WorkerSpec:
    """Who works ``(post, shift, slot)`` on ``day`` (the roster of ``sim.workforce``), with the
    shift's effective traits; raises ``ScenarioError`` when the slot is empty that day."""
    r = roster(scenario)
    found = [a for a in r.workers_at(post, shift, day) if a.slot == slot]
    if not found:
        raise ScenarioError(f"post {post} {shift} slot {slot} has nobody on day {day}")
    return _spec(r, found[0], day)


def _spec(r: Roster, a: Assignment, day: int) -> WorkerSpec:
    person = a.person
    return WorkerSpec(
        **asdict(r.effective(a, day)),
        worker=person.id,
        profile=person.profile,
        excursion_s=person.excursion_s or EXCURSION_MEAN_S,
        destinations=person.destinations,
    )


@dataclass(frozen=True)
class WorkerSummary:
    """What cross-post causes need of one worker-shift (traits: the shift's effective ones).

    Attributes:
        dwell: true seconds per visited area (0 = aisle, breaks included).
        working_s: seconds of the shift outside breaks.
        offpost_s: true seconds outside the own post, breaks excluded.
    """

    worker: str
    post: int
    dwell: dict[int, float]
    profile: str
    offpost_rate: float
    skill: float
    needs_management: bool
    needs_training: bool
    working_s: float
    offpost_s: float
    spec: WorkerSpec | None = None
    """Who the worker is and how (plateau traits, experience, floater)."""

    @property
    def offpost_fraction(self) -> float:
        """Measured-from-truth fraction of working time off the own post."""
        return self.offpost_s / self.working_s if self.working_s > 0 else 0.0


@dataclass(frozen=True)
class SimWorker:
    """One simulated worker-shift: what perception gives, plus the ground truth.

    ``offpost_rate`` and ``skill`` are the shift's effective traits (the labels follow them);
    ``spec`` holds the person's plateau traits, experience at the post and floater status.
    """

    record: WorkerShift
    profile: str
    offpost_rate: float
    skill: float
    needs_management: bool
    needs_training: bool
    true_positions: np.ndarray
    keypoints: np.ndarray | None
    rate_hz: float = 1.0
    working: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)
    """``(T,)`` True outside scheduled breaks."""
    spec: WorkerSpec | None = None
    """Who the worker is and how (see :class:`WorkerSpec`)."""

    def summary(self) -> WorkerSummary:
        """The compact summary used for cross-post causes."""
        areas, counts = np.unique(self.true_positions, return_counts=True)
        off = (self.true_positions != self.record.post) & self.working
        return WorkerSummary(
            worker=self.record.worker,
            post=self.record.post,
            dwell={int(a): float(c) / self.rate_hz for a, c in zip(areas, counts, strict=True)},
            profile=self.profile,
            offpost_rate=self.offpost_rate,
            skill=self.skill,
            needs_management=self.needs_management,
            needs_training=self.needs_training,
            working_s=float(self.working.sum()) / self.rate_hz,
            offpost_s=float(off.sum()) / self.rate_hz,
            spec=self.spec,
        )


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
        self.segments: list[tuple[float, int, int]] = []
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


def simulate_workers(
    scenario: Scenario, *, post: int, day: int, shift: str, keypoints: bool = False
) -> list[SimWorker]:
    """Simulate the workers of one post-shift (stream keyed by ``(seed, post, day, shift)``).

    Args:
        keypoints: also return the true ``(T, 14, 2)`` keypoints (for the pixel fidelity).
    """
    shift_index = scenario.check_post_shift(post=post, day=day, shift=shift)
    env = simpy.Environment()
    clock = ShiftClock(env, breaks=scenario.shifts.breaks)
    terminal = simpy.Resource(env, capacity=1)
    length_s = scenario.shifts.length_s
    r = roster(scenario)
    workers = [
        Worker(
            env,
            spec=_spec(r, a, day),
            post=post,
            n_posts=scenario.n_posts,
            length_s=length_s,
            clock=clock,
            terminal=terminal,
            rng=stream(scenario.seed, post, day, shift_index, "workers", a.slot),
        )
        for a in r.workers_at(post, shift, day)
    ]
    env.run(until=length_s)
    rate, n_samples = scenario.shifts.rate_hz, scenario.samples_per_shift
    times = np.arange(n_samples) / rate
    working = np.ones(n_samples, dtype=bool)
    for start, end in scenario.shifts.breaks:
        working &= ~((times >= start) & (times < end))
    fatigue = getattr(scenario.workers.fatigue, shift)
    return [
        _render(w, times=times, rate=rate, working=working, keypoints=keypoints, fatigue=fatigue)
        for w in workers
    ]


def _render(
    worker: Worker,
    *,
    times: np.ndarray,
    rate: float,
    working: np.ndarray,
    keypoints: bool,
    fatigue: float = 0.0,
) -> SimWorker:
    """Fill the per-second arrays of one worker from its state segments.

    ``fatigue`` slows the work motion linearly to ``1 − fatigue`` of its speed at the end.
    """
    spec, rng, n = worker.spec, worker.rng, times.size
    starts = np.array([s[0] for s in worker.segments])
    first = np.clip(np.ceil(starts * rate - 1e-9).astype(np.int64), 0, n)
    lengths = np.diff(np.append(first, n))
    area = np.repeat(np.array([s[1] for s in worker.segments], dtype=np.int16), lengths)
    mode = np.repeat(np.array([s[2] for s in worker.segments], dtype=np.int8), lengths)
    tau = (times - np.repeat(starts, lengths)).astype(np.float32)

    dt = np.float32(1.0 / rate)
    irregularity = IRREGULARITY + IRREGULARITY_PER_SKILL * max(0.0, 1.0 - spec.skill)
    omega = 2 * math.pi * WORK_FREQ_HZ * spec.skill
    jitter = rng.standard_normal(n, dtype=np.float32)
    step = (omega * dt) * (1 + np.float32(irregularity) * jitter)
    if fatigue:
        step *= (1 - fatigue * times / times.size / dt).astype(np.float32)
    phase = np.cumsum(step, dtype=np.float32) + np.float32(rng.uniform(0, 2 * math.pi))
    cycle = np.float32(2 * math.pi * spec.skill / TASK_CYCLE_S)
    cycle0 = np.float32(rng.uniform(0, 2 * math.pi))
    walk_x0 = np.repeat(rng.uniform(0, CAMERA_SIZE[0], size=len(worker.segments)), lengths)
    t32 = times.astype(np.float32)

    # The motion over (t − dt, t] of each sample: within a segment the state at t − dt is the
    # previous sample's; only each segment's first sample needs its own evaluation at t − dt.
    # Offsets from the standing spot: the spot is constant within a segment, so the motion is
    # the same without it (and the same whether or not keypoints are asked for).
    origin = np.zeros((n, 2), np.float32)
    body, arm = _motion(mode, origin, walk_x0, tau, phase, t32, cycle, cycle0)
    body0, arm0 = np.empty_like(body), np.empty_like(arm)
    body0[1:], arm0[1:] = body[:-1], arm[:-1]
    heads = first[first < n]
    body0[heads], arm0[heads] = _motion(
        mode[heads], origin[heads], walk_x0[heads], tau[heads] - dt, phase[heads] - step[heads],
        t32[heads] - dt, cycle, cycle0,
    )  # fmt: skip
    move, turn = (body - body0).T, (arm - arm0).T
    noise_start = np.stack([_jitter_offsets(rng, n), _jitter_offsets(rng, n)])
    positions = _measured_positions(area, rng, rate)
    factors, factor_start = _speed_error_draws(rng, n)
    speeds = np.empty((N_KEYPOINTS, n), dtype=np.float32)
    _kernels().keypoint_speeds(
        _SIGNED_RADIUS.reshape(N_KEYPOINTS), np.ascontiguousarray(move),
        np.ascontiguousarray(turn), _noise_steps(_noise_table_size(n)), noise_start,
        np.float32(KEYPOINT_JITTER_PX), np.float32(rate), factors, factor_start,
        np.float32(MOVING_PX_S), speeds,
    )  # fmt: skip

    record = WorkerShift(
        worker=spec.worker,
        post=worker.post,
        positions=positions,
        speeds=np.ascontiguousarray(speeds.T),
    )
    return SimWorker(
        record=record,
        profile=spec.profile,
        offpost_rate=spec.offpost_rate,
        skill=spec.skill,
        needs_management=spec.offpost_rate >= MANAGEMENT_RATE,
        needs_training=spec.skill <= TRAINING_SKILL,
        true_positions=area,
        keypoints=_pose(_placed(body, _spots(area, mode, worker.post), mode), arm)
        if keypoints
        else None,
        rate_hz=rate,
        working=working,
        spec=spec,
    )


def _placed(body: np.ndarray, spot: np.ndarray, mode: np.ndarray) -> np.ndarray:
    """Body offsets put at their standing spots (a walker's x is already its own)."""
    placed = body + spot
    walking = mode == WALK
    placed[walking, 0] = body[walking, 0]
    return placed


def _spots(area: np.ndarray, mode: np.ndarray, post: int) -> np.ndarray:
    """``(T, 2)`` feet position in the area's camera when standing."""
    spot = np.empty((area.size, 2), dtype=np.float32)
    spot[:] = VISIT_SPOT_PX
    spot[area == post] = WORK_SPOT_PX
    spot[area == 0] = AISLE_SPOT_PX
    spot[mode == WALK, 1] = AISLE_SPOT_PX[1]
    return spot


def _motion(
    mode: np.ndarray,
    spot: np.ndarray,
    walk_x0: np.ndarray,
    tau: np.ndarray,
    phase: np.ndarray,
    t: np.ndarray,
    cycle: np.float32,
    cycle0: np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-body offset ``(T, 2)`` (feet, sway) and arm-circle offset ``(T, 2)`` at times ``t``."""
    body = spot.copy()
    walking = mode == WALK
    span = np.float32(CAMERA_SIZE[0] - 80)
    u = (walk_x0[walking] + WALK_SPEED_M_S * PX_PER_M * tau[walking]) % (2 * span)
    body[walking, 0] = 40 + span - np.abs(u - span)
    working = (mode == WORK).astype(np.float32)
    radius = working * (1 + np.float32(TASK_MODULATION) * np.sin(cycle * t + cycle0))
    arm = np.stack([np.cos(phase) * radius, np.sin(phase) * radius], axis=-1)
    sway_phase = np.float32(2 * math.pi * SWAY_FREQ_HZ) * t
    sway = (1 - working) * np.float32(SWAY_RADIUS_PX)
    body[:, 0] += np.cos(sway_phase) * sway
    body[:, 1] += np.sin(sway_phase) * sway
    return body, arm


def _pose(body: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """``(T, 14, 2)`` true keypoint pixels from the body and arm offsets."""
    return SKELETON_PX[None] + body[:, None, :] + _SIGNED_RADIUS * arm[:, None, :]


def sample_work_poses(
    n: int,
    *,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.7, 1.4),
    margin_px: float = 10.0,
) -> np.ndarray:
    """Poses of this module's motion model, for keypoint-network training data.

    The work cycle's arm circles at a random phase and radius (a still pose one time in
    seven), the figure scaled by a factor in ``scale`` and placed at random in the camera
    image. The circles stretch and shorten the limbs, which a kinematic figure never does.

    Returns:
        ``(n, 14, 2)`` float32 keypoints inside the ``CAMERA_SIZE`` image.
    """
    if n < 0:
        raise ValueError(f"`n` must be >= 0, got {n}")
    phase = rng.uniform(0.0, 2 * math.pi, size=n)
    radius = rng.uniform(1 - TASK_MODULATION, 1 + TASK_MODULATION, size=n)
    radius *= rng.random(n) >= 1 / 7
    arm = np.stack([np.cos(phase), np.sin(phase)], axis=-1) * radius[:, None]
    kp = _pose(np.zeros((n, 2), np.float32), arm.astype(np.float32))
    kp *= rng.uniform(*scale, size=n)[:, None, None]
    lo, span = kp.min(axis=1), np.ptp(kp, axis=1)
    size = np.array(CAMERA_SIZE, dtype=np.float64)
    corner = rng.uniform(margin_px, np.maximum(size - margin_px - span, margin_px + 1))
    return (kp + (corner - lo)[:, None, :]).astype(np.float32)


@functools.cache
def _noise_steps(size: int) -> np.ndarray:
    """Successive differences of a fixed table of ``size + 1`` standard normals (float32)."""
    table = stream(Stream.NOISE_STEPS).standard_normal(size + 1, dtype=np.float32)
    return np.diff(table)


@functools.cache
def speed_error() -> tuple[np.ndarray, np.ndarray]:
    """The quantile levels ``(q,)`` and per-keypoint quantiles ``(14, q)`` of the pixel
    path's log speed ratio (`SPEED_ERROR_FILE`)."""
    table = json.loads(SPEED_ERROR_FILE.read_text(encoding="utf-8"))
    levels = np.asarray(table["levels"], dtype=np.float64)
    quantiles = np.asarray(table["quantiles"], dtype=np.float64)
    if quantiles.shape != (N_KEYPOINTS, levels.size) or np.any(np.diff(quantiles) < 0):
        raise ValueError(f"{SPEED_ERROR_FILE}: `quantiles` must be 14 sorted rows of `levels`")
    return levels, quantiles


_ERROR_STEPS = 4096
"""Points of each keypoint's inverse CDF of the speed error (its quantiles interpolated)."""
_ERROR_TABLE_SIZE = 1 << 18


@functools.cache
def _speed_factors(
    levels: tuple[float, ...], quantiles: tuple[tuple[float, ...], ...], size: int
) -> np.ndarray:
    """``(14, size)`` fixed float32 draws of each keypoint's factor ``exp(r)``: its inverse
    CDF (the quantiles interpolated at `_ERROR_STEPS` probabilities) at seeded uniform
    indices."""
    u = (np.arange(_ERROR_STEPS) + 0.5) / _ERROR_STEPS
    factors = np.exp([np.interp(u, levels, q) for q in quantiles]).astype(np.float32)
    index = stream(Stream.SPEED_FACTORS).integers(0, _ERROR_STEPS, (N_KEYPOINTS, size))
    return np.take_along_axis(factors, index, axis=1)


def _speed_error_draws(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel path's speed error for a shift of n samples: each keypoint's factors are a
    window of its fixed table of draws (``(14, size)``) at a random offset (as for the jitter,
    :func:`_jitter_offsets`): i.i.d. in time, for 14 draws a shift. Returns the table and the
    ``(14,)`` offsets (see the module docstring)."""
    levels, quantiles = speed_error()
    size = max(_ERROR_TABLE_SIZE, 1 << (2 * n).bit_length())
    table = _speed_factors(tuple(levels), tuple(map(tuple, quantiles)), size)
    return table, rng.integers(0, size - n + 1, size=N_KEYPOINTS)


def _jitter_offsets(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(14,)`` offsets into the fixed table of jitter steps (:func:`_noise_steps`): each
    keypoint's frame-to-frame change of one coordinate's jitter is a window of it.

    I.i.d. Gaussian in time like fresh draws, but drawing 14 offsets instead of ``14 n``
    normals is what makes a shift cost milliseconds.
    """
    return rng.integers(0, _noise_table_size(n) - n + 1, size=N_KEYPOINTS)


def _noise_table_size(n: int) -> int:
    return max(_NOISE_TABLE_SIZE, 1 << (2 * n).bit_length())


_NOISE_TABLE_SIZE = 1 << 21


def _kernels() -> ModuleType:
    """The compiled loops (:mod:`sim._kernels`), imported on first use."""
    import sim._kernels

    return sim._kernels


def _measured_positions(area: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """True areas with each switch delayed by a uniform lag in `POSITION_LAG_MIN_S`..`MAX_S`."""
    change = np.flatnonzero(np.diff(area)) + 1
    if change.size == 0:
        return area.copy()
    low, high = round(POSITION_LAG_MIN_S * rate), round(POSITION_LAG_MAX_S * rate)
    lag = rng.integers(low, high + 1, size=change.size)
    limit = np.append(change[1:], area.size)
    moved = np.minimum(change + lag, limit)
    runs = np.append(area[0], area[change])
    return np.repeat(runs, np.diff(np.concatenate([[0], moved, [area.size]])))
