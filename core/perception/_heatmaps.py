"""Gaussian heatmap targets and sub-pixel peak decoding."""

from __future__ import annotations

import numpy as np

from core._errors import ModelInputError


def render_heatmaps(points: np.ndarray, *, size: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian heatmaps (peak 1) centred on ``points``.

    Args:
        points: ``(..., K, 2)`` peak positions ``(x, y)`` in heatmap pixels (NaN: all zero).
        size: ``(height, width)`` of each heatmap.
        sigma: standard deviation in heatmap pixels.

    Returns:
        ``(..., K, height, width)`` float32 heatmaps.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim < 1 or pts.shape[-1] != 2:
        raise ModelInputError(f"`points` must have shape (..., 2), got {pts.shape}")
    if sigma <= 0:
        raise ModelInputError(f"`sigma` must be > 0, got {sigma!r}")
    h, w = size
    gx = np.exp(-((np.arange(w, dtype=np.float32) - pts[..., 0:1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((np.arange(h, dtype=np.float32) - pts[..., 1:2]) ** 2) / (2 * sigma**2))
    return np.nan_to_num(gy[..., :, None] * gx[..., None, :]).astype(np.float32)


def decode_heatmaps(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Peak of each heatmap with sub-pixel refinement.

    The refinement fits a parabola to the logarithm of the heatmap along x and y through the
    arg-max and its two neighbours, which is exact for a Gaussian peak; the offset is clipped
    to half a pixel and skipped at the border.

    Args:
        heatmaps: ``(..., H, W)`` heatmaps.

    Returns:
        ``(..., 2)`` float32 peak positions ``(x, y)`` in heatmap pixels and ``(...)``
        float32 confidences (the heatmap's maximum).
    """
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim < 2 or hm.shape[-1] < 1 or hm.shape[-2] < 1:
        raise ModelInputError(f"`heatmaps` must have shape (..., H, W), got {hm.shape}")
    lead, (h, w) = hm.shape[:-2], hm.shape[-2:]
    grid = hm.reshape(-1, h, w)
    rows = np.arange(len(grid))
    idx = grid.reshape(len(grid), -1).argmax(axis=1)
    y, x = np.divmod(idx, w)
    conf = grid[rows, y, x]
    dx = _parabola_offset(grid, rows, y, x, axis=1, n=w)
    dy = _parabola_offset(grid, rows, y, x, axis=0, n=h)
    coords = np.stack([x + dx, y + dy], axis=-1).astype(np.float32)
    return coords.reshape(*lead, 2), conf.reshape(lead).astype(np.float32)


def _parabola_offset(
    grid: np.ndarray, rows: np.ndarray, y: np.ndarray, x: np.ndarray, *, axis: int, n: int
) -> np.ndarray:
    """Vertex offset of the parabola through the log heatmap at the peak and its neighbours
    along ``axis`` (logarithms taken of those three values only)."""
    pos = x if axis == 1 else y
    inside = (pos > 0) & (pos < n - 1)
    lo, hi = np.clip(pos - 1, 0, n - 1), np.clip(pos + 1, 0, n - 1)
    if axis == 1:
        vals = np.stack([grid[rows, y, x], grid[rows, y, lo], grid[rows, y, hi]])
    else:
        vals = np.stack([grid[rows, y, x], grid[rows, lo, x], grid[rows, hi, x]])
    f0, fm, fp = np.log(np.maximum(vals, 1e-6))
    curv = fm - 2 * f0 + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(inside & (curv < 0), 0.5 * (fm - fp) / curv, 0.0)
    return np.clip(np.nan_to_num(off), -0.5, 0.5)
