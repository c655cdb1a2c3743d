"""Random plausible worker poses in a camera frame: keypoint-network training data."""

from __future__ import annotations

import numpy as np

from core import N_KEYPOINTS
from sim._drawing import KEYPOINT
from sim._errors import CameraError
from sim.camera import FRAME_HEIGHT, FRAME_WIDTH


def sample_poses(
    n: int,
    *,
    rng: np.random.Generator,
    height_px: tuple[float, float] = (75.0, 150.0),
    margin_px: float = 10.0,
) -> np.ndarray:
    """Random plausible standing, working and walking poses at random places and scales.

    A 2-D kinematic figure: lean of the torso, shoulder and elbow angles of the arms (from
    hanging down to reaching forward and up), hip and knee angles of the legs (stance to
    stride), a turn that narrows the shoulders and hips, and a facing (towards the camera,
    the worker's right on the image's left, or away from it).

    Returns:
        ``(n, 14, 2)`` float32 keypoints inside the frame (``margin_px`` from its edges).
    """
    if n < 0:
        raise CameraError(f"`n` must be >= 0, got {n}")
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
    lo, hi = kp.min(axis=1), kp.max(axis=1)
    span = hi - lo
    x = rng.uniform(margin_px, np.maximum(FRAME_WIDTH - margin_px - span[:, 0], margin_px + 1))
    y = rng.uniform(margin_px, np.maximum(FRAME_HEIGHT - margin_px - span[:, 1], margin_px + 1))
    kp += (np.stack([x, y], axis=-1) - lo)[:, None, :]
    return kp.astype(np.float32)


def _direction(angle: np.ndarray) -> np.ndarray:
    """Unit vectors at ``angle`` radians from straight down, turning towards +x."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)
