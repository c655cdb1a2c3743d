"""The safety-hazard tracking model (MODEL.md): arrays and small dataclasses in and out."""

from __future__ import annotations

from core._errors import ModelInputError
from core._params import DIRECTIONS, ModelParams
from core._types import (
    FOOT_KEYPOINTS,
    KEYPOINTS,
    LEVEL_NAMES,
    N_KEYPOINTS,
    PostHistory,
    WorkerShift,
)

__all__ = [
    "DIRECTIONS",
    "FOOT_KEYPOINTS",
    "KEYPOINTS",
    "LEVEL_NAMES",
    "N_KEYPOINTS",
    "ModelInputError",
    "ModelParams",
    "PostHistory",
    "WorkerShift",
]
