"""Top-down person crops: square crops around boxes and the maps between crop and frame."""

from __future__ import annotations

import cv2
import numpy as np

from core._errors import ModelInputError

CROP_PAD = 1.15
"""A crop's side is the box's longer side times this factor."""


def crop_transforms(boxes: np.ndarray, *, size: int) -> np.ndarray:
    """Square crop geometry of each box: ``(M, 3)`` rows ``(cx, cy, s)``.

    A crop pixel ``u`` maps to the frame point ``c + (u - (size - 1) / 2) * s`` (pixel
    centres at integer coordinates on both sides).
    """
    b = np.asarray(boxes, dtype=np.float32)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ModelInputError(f"`boxes` must have shape (M, 4) as (x0, y0, x1, y1), got {b.shape}")
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * CROP_PAD
    if (side <= 0).any() or not np.isfinite(side).all():
        raise ModelInputError("`boxes` must be finite with x1 > x0 or y1 > y0")
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, side / size], axis=1)


def to_crop(points: np.ndarray, transforms: np.ndarray, *, size: int) -> np.ndarray:
    """Frame points ``(M, K, 2)`` to crop pixels of the crops ``transforms`` describe."""
    t = np.asarray(transforms, dtype=np.float32)[:, None, :]
    return (np.asarray(points, dtype=np.float32) - t[..., :2]) / t[..., 2:] + (size - 1) / 2


def from_crop(points: np.ndarray, transforms: np.ndarray, *, size: int) -> np.ndarray:
    """Crop pixels ``(M, K, 2)`` back to frame points."""
    t = np.asarray(transforms, dtype=np.float32)[:, None, :]
    return (np.asarray(points, dtype=np.float32) - (size - 1) / 2) * t[..., 2:] + t[..., :2]


def crop_matrix(transform: np.ndarray, *, size: int) -> np.ndarray:
    """The 2x3 affine matrix from frame to crop pixels of one ``(cx, cy, s)`` transform."""
    cx, cy, s = (float(v) for v in transform)
    half = (size - 1) / 2
    return np.array([[1 / s, 0, half - cx / s], [0, 1 / s, half - cy / s]], dtype=np.float64)


def crop_boxes(
    frames: np.ndarray, boxes: np.ndarray, *, frame_index: np.ndarray | None = None, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a ``size x size`` square crop around each box.

    Args:
        frames: ``(N, H, W, 3)`` uint8 frames.
        boxes: ``(M, 4)`` boxes ``(x0, y0, x1, y1)``.
        frame_index: ``(M,)`` frame of each box; ``arange(M)`` (one box per frame) when None.
        size: crop side in pixels.

    Returns:
        ``(M, size, size, 3)`` uint8 crops (black outside the frame) and their ``(M, 3)``
        transforms (see :func:`crop_transforms`).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ModelInputError(
            f"`frames` must be uint8 (N, H, W, 3), got {frames.dtype} {frames.shape}"
        )
    transforms = crop_transforms(boxes, size=size)
    index = np.arange(len(transforms)) if frame_index is None else np.asarray(frame_index)
    if index.shape != (len(transforms),) or (
        len(index) and not 0 <= index.min() <= index.max() < len(frames)
    ):
        raise ModelInputError(
            f"`frame_index` must have shape ({len(transforms)},) with values in "
            f"[0, {len(frames)}), got {index!r}"
        )
    crops = np.empty((len(transforms), size, size, 3), dtype=np.uint8)
    for m, (t, f) in enumerate(zip(transforms, index, strict=True)):
        crops[m] = cv2.warpAffine(
            frames[f],
            crop_matrix(t, size=size),
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
    return crops, transforms
