"""Stand-ins of a real plant's perception sources besides the cameras' frames: a person
detector (:func:`detect_boxes`) and the clock-in identity (:func:`identify`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core import N_KEYPOINTS
from sim._errors import CameraError


def detect_boxes(
    keypoints: np.ndarray,
    *,
    rng: np.random.Generator,
    miss_rate: float = 0.0,
    jitter: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Person-detector stand-in: boxes around the drawn figures, with misses and jitter.

    Args:
        keypoints: ``(..., 14, 2)`` true keypoints.
        rng: random source of misses and jitter.
        miss_rate: probability that a person is not detected, in [0, 1].
        jitter: standard deviation of the box centre shift and of the log box size, as a
            fraction of the box size.

    Returns:
        ``(..., 4)`` float32 boxes ``(x0, y0, x1, y1)`` and an ``(...)`` bool detected mask.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim < 2 or kp.shape[-2:] != (N_KEYPOINTS, 2):
        raise CameraError(f"`keypoints` must have shape (..., {N_KEYPOINTS}, 2), got {kp.shape}")
    if not 0 <= miss_rate <= 1:
        raise CameraError(f"`miss_rate` must be in [0, 1], got {miss_rate!r}")
    if jitter < 0:
        raise CameraError(f"`jitter` must be >= 0, got {jitter!r}")
    lo, hi = kp.min(axis=-2), kp.max(axis=-2)
    height = np.maximum(hi[..., 1] - lo[..., 1], 1.0)
    pad = np.stack([0.08 * height, 0.09 * height], axis=-1)
    lo, hi = lo - pad, hi + pad * np.array([1.0, 0.4], dtype=np.float32)
    centre, size = (lo + hi) / 2, hi - lo
    shape = centre.shape
    centre = centre + jitter * size * rng.standard_normal(shape).astype(np.float32)
    size = size * np.exp(jitter * rng.standard_normal(shape)).astype(np.float32)
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=-1).astype(np.float32)
    detected = (rng.random(shape[:-1]) >= miss_rate) & ~np.isnan(boxes).any(axis=-1)
    return boxes, detected


def identify(
    true_ids: Sequence[str],
    *,
    rng: np.random.Generator,
    error_rate: float = 0.0,
    pool: Sequence[str] | None = None,
) -> list[str]:
    """Clock-in identity stand-in: each id is replaced by another from ``pool`` at ``error_rate``.

    ``pool`` defaults to the distinct ``true_ids``; an id with no alternative stays correct.
    """
    if not 0 <= error_rate <= 1:
        raise CameraError(f"`error_rate` must be in [0, 1], got {error_rate!r}")
    candidates = sorted(set(pool if pool is not None else true_ids))
    out = []
    for wid in true_ids:
        others = [c for c in candidates if c != wid]
        wrong = others and rng.random() < error_rate
        out.append(others[int(rng.integers(len(others)))] if wrong else wid)
    return out
