"""What the simulator's drawing code shares: OpenCV's fixed-point sub-pixel coordinates, and
the keypoints' indices by name (figures, poses)."""

from __future__ import annotations

from core import KEYPOINTS

SHIFT = 4
"""Fractional bits of OpenCV's sub-pixel drawing."""
ONE = 1 << SHIFT
"""One pixel in OpenCV's fixed-point coordinates."""
KEYPOINT = {name: i for i, name in enumerate(KEYPOINTS)}
"""Index of each keypoint name in ``core.KEYPOINTS``."""
