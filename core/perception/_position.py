"""Worker position: foot heatmaps accumulated with forgetting, peak looked up in post polygons."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core._errors import ModelInputError
from core.perception._heatmaps import decode_heatmaps


def accumulate_heatmaps(heatmaps: np.ndarray, alpha: float) -> np.ndarray:
    """``X_t = alpha * x_t + (1 - alpha) * X_{t-1}`` with ``X_0 = x_0`` (MODEL.md, Step 3).

    Vectorised over pixels; a loop over time (the recursion).

    Args:
        heatmaps: ``(T, H, W)`` foot heatmaps, one per sample.
        alpha: weight of the newest heatmap, in (0, 1].

    Returns:
        ``(T, H, W)`` float32 accumulated heatmaps.
    """
    x = np.asarray(heatmaps, dtype=np.float32)
    if x.ndim != 3:
        raise ModelInputError(f"`heatmaps` must have shape (T, H, W), got {x.shape}")
    if not 0 < alpha <= 1:
        raise ModelInputError(f"`alpha` must be in (0, 1], got {alpha!r}")
    out = np.empty_like(x)
    if len(x):
        out[0] = x[0]
    for t in range(1, len(x)):
        np.multiply(out[t - 1], 1 - alpha, out=out[t])
        out[t] += alpha * x[t]
    return out


def area_of(points: np.ndarray, polygons: Sequence[np.ndarray]) -> np.ndarray:
    """Area id of each point: ``i`` for the first post polygon ``i`` (1-based) containing it.

    Points on a polygon's edge count as inside; points in no polygon, or NaN, get 0.

    Args:
        points: ``(N, 2)`` points ``(x, y)``.
        polygons: post polygons ``(k, 2)`` for posts ``1..n``, in the points' coordinates.

    Returns:
        ``(N,)`` int64 area ids.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ModelInputError(f"`points` must have shape (N, 2), got {pts.shape}")
    polys = [np.asarray(p, dtype=np.float32).reshape(-1, 1, 2) for p in polygons]
    for i, p in enumerate(polys):
        if len(p) < 3:
            raise ModelInputError(f"`polygons[{i}]` must have >= 3 vertices, got {len(p)}")
    ids = np.zeros(len(pts), dtype=np.int64)
    for n, (x, y) in enumerate(pts):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        for i, poly in enumerate(polys, start=1):
            if cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0:
                ids[n] = i
                break
    return ids


def track_positions(
    foot_maps: np.ndarray,
    polygons: Sequence[np.ndarray],
    *,
    alpha: float,
    grid_stride: int = 1,
) -> np.ndarray:
    """A worker's position record: accumulate, take each peak, look it up in the posts.

    Args:
        foot_maps: ``(T, H, W)`` foot heatmaps on a frame-aligned grid.
        polygons: post polygons in frame pixels.
        alpha: accumulation weight of the newest heatmap.
        grid_stride: frame pixels per grid pixel (see ``foot_heatmaps``).

    Returns:
        ``(T,)`` int64 area ids (0 also while nothing has been seen yet).
    """
    peaks, conf = decode_heatmaps(accumulate_heatmaps(foot_maps, alpha))
    points = np.where((conf > 0)[:, None], peaks * grid_stride + (grid_stride - 1) / 2, np.nan)
    return area_of(points, polygons)
