"""Equipment, safety facilities, environment sensors and the true hazard level of each post.

**Causes** of faults in one post-shift (each fault records its cause and culprits):

- *unattended post*: a worker whose off-post fraction ``f`` (true, breaks excluded) exceeds
  `TOLERATED_OFFPOST` leaves its post with a fault with probability
  ``1 - exp(-UNATTENDED_RATE · (f - TOLERATED_OFFPOST))``;
- *visits*: such a worker causes a fault at each other post it visited with probability
  ``1 - exp(-VISIT_RATE · dwell_there / working_s)``;
- *low skill*: a worker with ``skill < SKILLED`` causes a fault at its own post with
  probability ``1 - exp(-CLUMSY_RATE · (SKILLED - skill))`` and at the next post in the
  process with half that rate;
- *equipment*: ``Poisson(fault_rate)`` random faults per post-shift, and the scenario's
  scheduled faults;
- *environment*: a reading ``z = |x - mean| / sd`` band-widths from normal (scheduled
  excursions included) is a hazard of level ``min(4, ceil((z - 3) / 2))`` when ``z > 3``.

Worker-caused faults draw severity 2, 3, 4 with probabilities `WORKER_SEVERITY`, so that most
are detectable (a lone level-3 post crosses the model's ``D > 0.5``); random equipment faults
draw 1..4 with `RANDOM_SEVERITY`. The kind then follows from the severity, so that the photo
shows the level: a displacement of `DISPLACEMENT_PX` for that severity, or the missing
facility of that severity (sign 1, cover 2, rail 3, guard 4), with equal chance. Scheduled
faults use the given severity or the kind's. Faults are those of the shift that ends
(equipment is repaired at each change).

**True hazard level** of a post at the shift change: the maximum severity of its faults
(environment hazards included), 0 with none; hence in 0..4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.registry import FAULT_KINDS
from sim.scenario import QUANTITIES, Scenario
from sim.seeding import stream
from sim.workers import WorkerSummary

TOLERATED_OFFPOST = 0.05
UNATTENDED_RATE = 3.0
VISIT_RATE = 8.0
SKILLED = 0.9
CLUMSY_RATE = 2.0
ENV_NORMAL_Z = 3.0
WORKER_SEVERITY = {2: 0.2, 3: 0.5, 4: 0.3}
RANDOM_SEVERITY = {1: 0.35, 2: 0.3, 3: 0.2, 4: 0.15}
DISPLACEMENT_PX = {1: 3.0, 2: 8.0, 3: 15.0, 4: 25.0}
"""Equipment shift in the post photo by the severity of a ``displaced`` fault."""
CAUSES: tuple[str, ...] = ("worker", "equipment", "environment")


@dataclass(frozen=True)
class Fault:
    """One hazard of a post-shift and what caused it."""

    kind: str
    severity: int
    cause: str
    culprits: tuple[str, ...] = ()
    culprit_posts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.severity <= 4:
            raise ValueError(f'"severity" must be in 1..4, got {self.severity!r}')
        if self.cause not in CAUSES:
            raise ValueError(f'"cause" must be one of {CAUSES}, got {self.cause!r}')
        if (self.cause == "worker") != bool(self.culprits):
            raise ValueError(f'"culprits" must be given exactly for cause "worker": {self!r}')


@dataclass(frozen=True)
class PostState:
    """A post at a shift change: equipment, facilities, environment and the true level.

    Attributes:
        displacement_px: equipment shift ``(dx, dy)`` in the post photo.
        missing: safety facilities missing, from `sim.registry.FACILITIES`.
        environment: ``(3,)`` [temperature_c, humidity_pct, pressure_kpa].
    """

    post: int
    faults: tuple[Fault, ...]
    displacement_px: tuple[float, float]
    missing: frozenset[str]
    environment: np.ndarray
    true_level: int

    @property
    def culprits(self) -> tuple[str, ...]:
        """Worker ids that caused any fault here (each once, in fault order)."""
        return tuple(dict.fromkeys(w for f in self.faults for w in f.culprits))

    @property
    def equipment_cause(self) -> bool:
        """True when some fault has no human cause."""
        return any(f.cause != "worker" for f in self.faults)


def simulate_post_states(
    scenario: Scenario, *, day: int, shift: str, workers: Sequence[WorkerSummary]
) -> tuple[PostState, ...]:
    """States of all posts at the end of a shift (index ``post - 1``).

    Args:
        workers: summaries of all workers of that shift (all posts), for the human causes.
    """
    shift_index = scenario.check_post_shift(post=1, day=day, shift=shift)
    caused: dict[int, list[tuple[float, WorkerSummary]]] = {}
    for w in workers:
        for post, rate in fault_rates(w, scenario.n_posts).items():
            caused.setdefault(post, []).append((rate, w))
    return tuple(
        _post_state(
            scenario,
            post=post,
            day=day,
            shift=shift,
            causes=caused.get(post, []),
            rng=stream(scenario.seed, post, day, shift_index, "equipment"),
        )
        for post in range(1, scenario.n_posts + 1)
    )


def fault_rates(w: WorkerSummary, n_posts: int) -> dict[int, float]:
    """Fault hazard rates a worker puts on posts (probability ``1 - exp(-rate)``)."""
    rates: dict[int, float] = {}
    excess = w.offpost_fraction - TOLERATED_OFFPOST
    if excess > 0:
        rates[w.post] = UNATTENDED_RATE * excess
        for area, seconds in w.dwell.items():
            if area not in (0, w.post) and w.working_s > 0:
                rates[area] = VISIT_RATE * seconds / w.working_s
    if w.skill < SKILLED:
        clumsy = CLUMSY_RATE * (SKILLED - w.skill)
        rates[w.post] = rates.get(w.post, 0.0) + clumsy
        if w.post < n_posts:
            rates[w.post + 1] = rates.get(w.post + 1, 0.0) + clumsy / 2
    return rates


def _post_state(
    scenario: Scenario,
    *,
    post: int,
    day: int,
    shift: str,
    causes: list[tuple[float, WorkerSummary]],
    rng: np.random.Generator,
) -> PostState:
    faults: list[Fault] = []
    for rate, w in sorted(causes, key=lambda c: c[1].worker):
        if rng.random() < 1 - math.exp(-rate):
            severity = _draw(rng, WORKER_SEVERITY)
            faults.append(
                Fault(
                    kind=_kind_of(severity, rng),
                    severity=severity,
                    cause="worker",
                    culprits=(w.worker,),
                    culprit_posts=(w.post,),
                )
            )
    for _ in range(rng.poisson(scenario.equipment.fault_rate)):
        severity = _draw(rng, RANDOM_SEVERITY)
        faults.append(Fault(kind=_kind_of(severity, rng), severity=severity, cause="equipment"))
    for f in scenario.equipment.faults:
        if (f.post, f.day, f.shift) == (post, day, shift):
            severity = f.severity or FAULT_KINDS.get(f.kind).severity
            faults.append(Fault(kind=f.kind, severity=severity, cause="equipment"))

    env = scenario.environment
    bands = [getattr(env, q) for q in QUANTITIES]
    reading = np.array([b.mean + b.sd * rng.standard_normal() for b in bands])
    for x in env.excursions:
        if (x.post, x.day, x.shift) == (post, day, shift):
            for k, q in enumerate(QUANTITIES):
                value = getattr(x, q)
                if value is not None:
                    reading[k] = value
    for q, band, value in zip(QUANTITIES, bands, reading, strict=True):
        level = environment_level(value, mean=band.mean, sd=band.sd)
        if level:
            faults.append(Fault(kind=f"{q}_excursion", severity=level, cause="environment"))

    displacement = np.zeros(2)
    for f in faults:
        if f.kind == "displaced":
            angle = rng.uniform(0, 2 * math.pi)
            displacement += DISPLACEMENT_PX[f.severity] * np.array([np.cos(angle), np.sin(angle)])
    facilities = [FAULT_KINDS.get(f.kind).facility for f in faults if f.kind in FAULT_KINDS]
    return PostState(
        post=post,
        faults=tuple(faults),
        displacement_px=(float(displacement[0]), float(displacement[1])),
        missing=frozenset(f for f in facilities if f is not None),
        environment=reading,
        true_level=max((f.severity for f in faults), default=0),
    )


def _kind_of(severity: int, rng: np.random.Generator) -> str:
    """A fault kind that shows ``severity`` in the photo (see the module docstring)."""
    kinds = [
        name
        for name in FAULT_KINDS.names
        if FAULT_KINDS.get(name).facility is None or FAULT_KINDS.get(name).severity == severity
    ]
    return str(rng.choice(kinds))


def environment_level(value: float, *, mean: float, sd: float) -> int:
    """Hazard level 0..4 of a reading: ``min(4, ceil((z - 3) / 2))`` beyond ``z = 3``."""
    if sd <= 0:
        return 0 if value == mean else 4
    z = abs(value - mean) / sd
    return 0 if z <= ENV_NORMAL_Z else min(4, math.ceil((z - ENV_NORMAL_Z) / 2))


def _draw(rng: np.random.Generator, table: dict[int, float]) -> int:
    return int(rng.choice(list(table), p=list(table.values())))
