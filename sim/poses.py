"""Random plausible worker poses in a camera frame: keypoint-network training data."""

from __future__ import annotations

import math

import numpy as np

from core import N_KEYPOINTS
from sim._drawing import KEYPOINT
from sim._errors import CameraError
from sim.layout import CAMERA_SIZE
from sim.motion import TASK_MODULATION, pose

MARGIN_PX = 10.0
"""Frame pixels kept free between a sampled pose and the frame's edges."""
WORK_SCALE = (0.7, 1.4)
"""Range of the factor that scales a pose of the motion model (its figure is about 105 px tall)."""


def sample_poses(
    n: int,
    *,
    rng: np.random.Generator,
    height_px: tuple[float, float] = (75.0, 150.0),
    margin_px: float = MARGIN_PX,
) -> np.ndarray:
    """Random plausible standing, working and walking poses at random places and scales.

    A 2-D kinematic figure: lean of the torso, shoulder and elbow angles of the arms (from
    hanging down to reaching forward and up), hip and knee angles of the legs (stance to
    stride), a turn that narrows the shoulders and hips, and a facing (towards the camera,
    the worker's right on the image's left, or away from it).

    Returns:
        ``(n, 14, 2)`` float32 keypoints inside the frame (``margin_px`` from its edges).
    """
    _check_n(n)
    h = rng.uniform(*height_px, size=n)
    turn = rng.uniform(0.35, 1.0, size=n) * np.where(rng.random(n) < 0.25, -1.0, 1.0)
    lean = rng.normal(0.0, 0.12, size=n) + np.where(
        rng.random(n) < 0.3, rng.uniform(-0.5, 0.5, size=n), 0.0
    )
    kp = np.zeros((n, N_KEYPOINTS, 2))
    up = np.stack([np.sin(lean), -np.cos(lean)], axis=-1)  # torso direction, hips -> neck
    across = np.stack([np.cos(lean), np.sin(lean)], axis=-1) * turn[:, None]
    hip_c = np.zeros((n, 2))
    neck = hip_c + up * (0.29 * h)[:, None]
    kp[:, KEYPOINT["neck"]] = neck
    head_tilt = lean + rng.normal(0.0, 0.2, size=n)
    kp[:, KEYPOINT["head"]] = (
        neck + np.stack([np.sin(head_tilt), -np.cos(head_tilt)], -1) * (0.11 * h)[:, None]
    )
    # The worker's right is on the image's left when facing the camera (turn > 0).
    for side, sign in (("r", -1.0), ("l", 1.0)):
        shoulder = neck + sign * across * (0.11 * h)[:, None] + up * (-0.02 * h)[:, None]
        hip = hip_c + sign * across * (0.07 * h)[:, None]
        kp[:, KEYPOINT[f"{side}_shoulder"]] = shoulder
        kp[:, KEYPOINT[f"{side}_hip"]] = hip
        arm = rng.uniform(-0.4, 2.6, size=n) * sign * np.sign(turn) + rng.normal(0, 0.15, n)
        fore = arm + rng.uniform(0.0, 2.0, size=n) * sign * np.sign(turn)
        elbow = shoulder + _direction(arm) * (0.17 * h)[:, None]
        kp[:, KEYPOINT[f"{side}_elbow"]] = elbow
        kp[:, KEYPOINT[f"{side}_wrist"]] = elbow + _direction(fore) * (0.16 * h)[:, None]
        thigh = rng.normal(0.0, 0.25, size=n) + sign * 0.05
        shin = thigh - rng.uniform(0.0, 0.6, size=n) * np.sign(rng.normal(size=n))
        knee = hip + _direction(thigh) * (0.25 * h)[:, None]
        kp[:, KEYPOINT[f"{side}_knee"]] = knee
        kp[:, KEYPOINT[f"{side}_ankle"]] = knee + _direction(shin) * (0.24 * h)[:, None]
    return _placed(kp, rng=rng, margin_px=margin_px, x_first=True)


def sample_work_poses(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Poses of the simulator's motion model (`sim.motion`).

    The work cycle's arm circles at a random phase and radius (a still pose one time in
    seven), the figure scaled by a factor in :data:`WORK_SCALE` and placed at random in the
    camera image. The circles stretch and shorten the limbs, which a kinematic figure never does.

    Returns:
        ``(n, 14, 2)`` float32 keypoints inside the frame (:data:`MARGIN_PX` from its edges).
    """
    _check_n(n)
    phase = rng.uniform(0.0, 2 * math.pi, size=n)
    radius = rng.uniform(1 - TASK_MODULATION, 1 + TASK_MODULATION, size=n)
    radius *= rng.random(n) >= 1 / 7
    arm = np.stack([np.cos(phase), np.sin(phase)], axis=-1) * radius[:, None]
    kp = pose(np.zeros((n, 2), np.float32), arm.astype(np.float32))
    kp *= rng.uniform(*WORK_SCALE, size=n)[:, None, None]
    return _placed(kp, rng=rng, margin_px=MARGIN_PX, x_first=False)


def _check_n(n: int) -> None:
    if n < 0:
        raise CameraError(f"`n` must be >= 0, got {n}")


def _placed(
    kp: np.ndarray, *, rng: np.random.Generator, margin_px: float, x_first: bool
) -> np.ndarray:
    """``(n, 14, 2)`` poses moved to random places in the frame, ``margin_px`` from its edges,
    as float32: each pose's top-left corner uniform where the pose fits. ``x_first`` draws
    every pose's x before the y's, else pose by pose (the two samplers' orders, kept so that
    their poses stay the same)."""
    lo = kp.min(axis=1)
    size = np.array(CAMERA_SIZE, dtype=np.float64)
    high = np.maximum(size - margin_px - (kp.max(axis=1) - lo), margin_px + 1)
    corner = rng.uniform(margin_px, high.T).T if x_first else rng.uniform(margin_px, high)
    return (kp + (corner - lo)[:, None, :]).astype(np.float32)


def _direction(angle: np.ndarray) -> np.ndarray:
    """Unit vectors at ``angle`` radians from straight down, turning towards +x."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)
