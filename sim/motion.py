"""The motion model: how a worker's keypoints truly move, in pixels of the camera of the area
the worker is in (see `sim.layout`).

At work, the arm keypoints circle at ``WORK_FREQ_HZ × skill`` turns per second with
per-keypoint radii `WORK_RADIUS_PX` (wrists fast, trunk and head slow, feet nearly still), the
radius modulated by ±`TASK_MODULATION` over a task cycle of ``TASK_CYCLE_S / skill`` seconds;
the angular step of each second is jittered by a factor ``1 + irregularity · N(0, 1)`` with
irregularity ``IRREGULARITY + IRREGULARITY_PER_SKILL · max(0, 1 - skill)``, and fatigue slows
it linearly over the shift. A circle keeps the per-second speed steady, so that per-second
speeds compare well with a history mean. Standing idle (a visit, the aisle, a break) sways by
`SWAY_RADIUS_PX`; walking crosses the image at ``WALK_SPEED_M_S × PX_PER_M`` px/s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.layout import (
    AISLE_SPOT_PX,
    CAMERA_SIZE,
    PX_PER_M,
    SKELETON_PX,
    VISIT_SPOT_PX,
    WALK_SPEED_M_S,
    WORK_SPOT_PX,
)

WORK_FREQ_HZ = 0.15
TASK_CYCLE_S = 30.0
TASK_MODULATION = 0.2
IRREGULARITY = 0.05
IRREGULARITY_PER_SKILL = 0.5
SWAY_RADIUS_PX = 2.0
SWAY_FREQ_HZ = 0.05

WORK_RADIUS_PX: np.ndarray = np.array(
    # head neck r_sh r_el r_wr l_sh l_el l_wr r_hip r_kn r_an l_hip l_kn l_an
    [4.0, 4.0, 5.0, 12.0, 20.0, 5.0, 12.0, 20.0, 4.0, 3.0, 2.0, 4.0, 3.0, 2.0],
    dtype=np.float32,
)
_ARM_SIGN = np.array([1, 1, 1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1, -1], dtype=np.float32)
SIGNED_RADIUS = (WORK_RADIUS_PX * _ARM_SIGN)[None, :, None]
"""``(1, 14, 1)`` each keypoint's `WORK_RADIUS_PX`, negative on the left (mirrored circles)."""

WORK, IDLE, WALK = 0, 1, 2
"""Motion modes of a state segment."""

Segment = tuple[float, int, int]
"""``(start_s, area, mode)`` of a state a worker enters."""


@dataclass(frozen=True)
class Motion:
    """A worker's true motion over a shift, one row per sample.

    Attributes:
        area: ``(T,)`` the area the worker is in.
        mode: ``(T,)`` the motion mode (`WORK`, `IDLE`, `WALK`).
        body: ``(T, 2)`` whole-body offset from the standing spot (feet, sway; a walker's x).
        arm: ``(T, 2)`` arm-circle offset, scaled per keypoint by `SIGNED_RADIUS`.
        move: ``(2, T)`` the body's change over each sample's interval ``(t − dt, t]``.
        turn: ``(2, T)`` the arm circle's change over the same.
    """

    area: np.ndarray
    mode: np.ndarray
    body: np.ndarray
    arm: np.ndarray
    move: np.ndarray
    turn: np.ndarray

    def keypoints(self, post: int) -> np.ndarray:
        """``(T, 14, 2)`` true keypoint pixels of a worker whose own post is ``post``."""
        return pose(_placed(self.body, _spots(self.area, self.mode, post), self.mode), self.arm)


def true_motion(
    segments: Sequence[Segment],
    *,
    times: np.ndarray,
    rate: float,
    skill: float,
    fatigue: float,
    rng: np.random.Generator,
) -> Motion:
    """The per-sample motion of a worker from its state segments (in time order) at sample
    ``times``; ``fatigue`` slows the work motion linearly to ``1 − fatigue`` of its speed at
    the end."""
    n = times.size
    starts = np.array([s[0] for s in segments])
    first = np.clip(np.ceil(starts * rate - 1e-9).astype(np.int64), 0, n)
    lengths = np.diff(np.append(first, n))
    area = np.repeat(np.array([s[1] for s in segments], dtype=np.int16), lengths)
    mode = np.repeat(np.array([s[2] for s in segments], dtype=np.int8), lengths)
    tau = (times - np.repeat(starts, lengths)).astype(np.float32)

    dt = np.float32(1.0 / rate)
    irregularity = IRREGULARITY + IRREGULARITY_PER_SKILL * max(0.0, 1.0 - skill)
    omega = 2 * math.pi * WORK_FREQ_HZ * skill
    jitter = rng.standard_normal(n, dtype=np.float32)
    step = (omega * dt) * (1 + np.float32(irregularity) * jitter)
    if fatigue:
        step *= (1 - fatigue * times / times.size / dt).astype(np.float32)
    phase = np.cumsum(step, dtype=np.float32) + np.float32(rng.uniform(0, 2 * math.pi))
    cycle = np.float32(2 * math.pi * skill / TASK_CYCLE_S)
    cycle0 = np.float32(rng.uniform(0, 2 * math.pi))
    walk_x0 = np.repeat(rng.uniform(0, CAMERA_SIZE[0], size=len(segments)), lengths)
    t32 = times.astype(np.float32)

    # The motion over (t − dt, t] of each sample: within a segment the state at t − dt is the
    # previous sample's; only each segment's first sample needs its own evaluation at t − dt.
    # Offsets from the standing spot: the spot is constant within a segment, so the motion is
    # the same without it (and the same whether or not keypoints are asked for).
    origin = np.zeros((n, 2), np.float32)
    body, arm = _offsets(mode, origin, walk_x0, tau, phase, t32, cycle, cycle0)
    body0, arm0 = np.empty_like(body), np.empty_like(arm)
    body0[1:], arm0[1:] = body[:-1], arm[:-1]
    heads = first[first < n]
    body0[heads], arm0[heads] = _offsets(
        mode[heads], origin[heads], walk_x0[heads], tau[heads] - dt, phase[heads] - step[heads],
        t32[heads] - dt, cycle, cycle0,
    )  # fmt: skip
    return Motion(area, mode, body, arm, move=(body - body0).T, turn=(arm - arm0).T)


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


def _offsets(
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


def pose(body: np.ndarray, arm: np.ndarray) -> np.ndarray:
    """``(T, 14, 2)`` true keypoint pixels from the body and arm offsets."""
    return SKELETON_PX[None] + body[:, None, :] + SIGNED_RADIUS * arm[:, None, :]
