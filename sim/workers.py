"""Workers: who works a post-shift, and what the simulator gives of each of them.

:func:`simulate_workers` runs each worker's routine over the shift as a SimPy process
(`sim.routine`), fills the per-second true motion from its state segments (`sim.motion`) and
measures it as perception would (`sim.measurement`); a :class:`SimWorker` holds what
perception gives and the ground truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import simpy

from core import WorkerShift
from sim._errors import ScenarioError
from sim.measurement import measure
from sim.motion import true_motion
from sim.routine import EXCURSION_MEAN_S, ShiftClock, Worker, WorkerSpec
from sim.scenario import Scenario
from sim.seeding import stream
from sim.workforce import Assignment, Roster, roster

MANAGEMENT_RATE = 0.10
"""A worker with ``offpost_rate`` at or above this truly needs management."""
TRAINING_SKILL = 0.8
"""A worker with ``skill`` at or below this truly needs training."""


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
    """Fill the per-second arrays of one worker from its state segments."""
    spec = worker.spec
    motion = true_motion(
        worker.segments, times=times, rate=rate, skill=spec.skill, fatigue=fatigue, rng=worker.rng
    )
    positions, speeds = measure(motion, rng=worker.rng, rate=rate)
    return SimWorker(
        record=WorkerShift(
            worker=spec.worker, post=worker.post, positions=positions, speeds=speeds
        ),
        profile=spec.profile,
        offpost_rate=spec.offpost_rate,
        skill=spec.skill,
        needs_management=spec.offpost_rate >= MANAGEMENT_RATE,
        needs_training=spec.skill <= TRAINING_SKILL,
        true_positions=motion.area,
        keypoints=motion.keypoints(worker.post) if keypoints else None,
        rate_hz=rate,
        working=working,
        spec=spec,
    )
