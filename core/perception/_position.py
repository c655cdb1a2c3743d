"""Worker position: foot heatmaps accumulated with forgetting, peak looked up in post polygons."""

from __future__ import annotations

from collections.abc import Sequence

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

    Points on a polygon's edge count as inside; points in no polygon, or NaN, get 0. The
    test is vectorised over points (crossing number, plus an on-edge test), with the result
    of ``cv2.pointPolygonTest(poly, point, False) >= 0``.

    Args:
        points: ``(N, 2)`` points ``(x, y)``.
        polygons: post polygons ``(k, 2)`` for posts ``1..n``, in the points' coordinates.

    Returns:
        ``(N,)`` int64 area ids.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ModelInputError(f"`points` must have shape (N, 2), got {pts.shape}")
    polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in polygons]
    for i, p in enumerate(polys):
        if len(p) < 3:
            raise ModelInputError(f"`polygons[{i}]` must have >= 3 vertices, got {len(p)}")
    ids = np.zeros(len(pts), dtype=np.int64)
    x, y = pts[:, :1], pts[:, 1:]
    for i, poly in enumerate(polys, start=1):
        x0, y0 = poly[:, 0], poly[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cross = (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)
            on_edge = (
                (cross == 0)
                & (np.minimum(x0, x1) <= x) & (x <= np.maximum(x0, x1))
                & (np.minimum(y0, y1) <= y) & (y <= np.maximum(y0, y1))
            )  # fmt: skip
            spans = (y0 > y) != (y1 > y)
            x_cut = x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1.0, y1 - y0)
            inside = (spans & (x < x_cut)).sum(axis=1) % 2 == 1
        found = (inside | on_edge.any(axis=1)) & (ids == 0)
        ids[found] = i
    return ids


class FloorAccumulator:
    """``X_t = alpha * x_t + (1 - alpha) * X_{t-1}`` chunk by chunk on a floor canvas whose
    new heatmap covers one tile of it (MODEL.md Step 3).

    Equivalent to :func:`accumulate_heatmaps` over canvases that are zero outside the tile,
    without building them; the state carries over from one call to the next.

    Args:
        shape: ``(H, W)`` of the canvas.
        alpha: weight of the newest heatmap, in (0, 1].
    """

    def __init__(self, shape: tuple[int, int], *, alpha: float) -> None:
        if not 0 < alpha <= 1:
            raise ModelInputError(f"`alpha` must be in (0, 1], got {alpha!r}")
        self.alpha = np.float32(alpha)
        self.state: np.ndarray | None = None
        self._shape = shape

    def accumulate(self, heatmaps: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Accumulate ``(n, h, w)`` heatmaps, each placed at its column of the canvas.

        Returns:
            ``(n, H, W)`` float32 accumulated canvases (``X_0`` is the first heatmap).
        """
        hm = np.asarray(heatmaps, dtype=np.float32)
        n, h, w = hm.shape
        out = np.zeros((n, *self._shape), dtype=np.float32)
        keep, add = 1 - self.alpha, self.alpha * hm
        for i, col in enumerate(np.asarray(columns, dtype=np.int64)):
            if i:
                np.multiply(out[i - 1], keep, out=out[i])
            elif self.state is not None:
                np.multiply(self.state, keep, out=out[0])
            else:
                out[0, :h, col : col + w] = hm[0]
                continue
            out[i, :h, col : col + w] += add[i]
        if n:
            self.state = out[-1]
        return out


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
        grid_stride: frame pixels per grid pixel (see ``PersonHeatmaps.feet``).

    Returns:
        ``(T,)`` int64 area ids (0 also while nothing has been seen yet).
    """
    peaks, conf = decode_heatmaps(accumulate_heatmaps(foot_maps, alpha))
    points = np.where((conf > 0)[:, None], peaks * grid_stride + (grid_stride - 1) / 2, np.nan)
    return area_of(points, polygons)
