"""Plain data types shared by the model, the simulator and the harness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEYPOINTS: tuple[str, ...] = (
    "head",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
)
"""The 14 body keypoints, in the order of every ``(..., 14)`` speed or keypoint array."""

N_KEYPOINTS = len(KEYPOINTS)
FOOT_KEYPOINTS: tuple[int, int] = (KEYPOINTS.index("r_ankle"), KEYPOINTS.index("l_ankle"))
"""Indices of the foot keypoints whose heatmaps give a worker's position."""

LEVEL_NAMES: tuple[str, ...] = ("safe", "minor", "medium", "major", "danger")
"""Hazard level names by class index d = 0..4."""


@dataclass(frozen=True)
class WorkerShift:
    """What perception gives for one worker over one shift.

    Attributes:
        worker: worker id (from the clock-in terminal).
        post: the post (1..n) the worker clocked in at.
        positions: ``(T,)`` ints, area id per sample (0 = no post).
        speeds: ``(T, 14)`` keypoint speeds in pixels per second of the post camera.
    """

    worker: str
    post: int
    positions: np.ndarray
    speeds: np.ndarray


@dataclass(frozen=True)
class PostHistory:
    """A post's history database: ``m`` past worker-shift records (see :func:`core.in_database`).

    Attributes:
        positions: ``(m, T)`` area ids.
        speeds: ``(m, T, 14)`` keypoint speeds (px/s).
    """

    positions: np.ndarray
    speeds: np.ndarray

    @property
    def m(self) -> int:
        """Number of history records."""
        return int(self.positions.shape[0])
