"""The simulator's per-sample loops, compiled (numba): a worker-shift's 14 keypoint speeds in
one pass instead of a dozen numpy passes over ``(14, T)`` arrays.

Float32 throughout, operation by operation as the numpy form it replaces (no fused
multiply-adds, no reassociation), so a shift's speeds are bit-identical to it. Compiled on first
use and cached beside this module.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def keypoint_speeds(
    radius: np.ndarray,
    move: np.ndarray,
    turn: np.ndarray,
    noise: np.ndarray,
    noise_start: np.ndarray,
    jitter_px: np.float32,
    rate: np.float32,
    factors: np.ndarray,
    factor_start: np.ndarray,
    moving: np.float32,
    out: np.ndarray,
) -> None:
    """Measured keypoint speeds ``out (14, T)`` (px/s) of a worker-shift's motion.

    Per keypoint k and sample t: the true displacement ``radius_k · turn_t + move_t``; the
    measured one adds frame-to-frame jitter ``noise[noise_start[c, k] + t] · jitter_px`` per
    coordinate c; the speed is its length times ``rate``. A keypoint truly faster than
    ``moving`` reads ``max(0, (true + 1) · factors[k, factor_start[k] + t] − 1)`` instead.

    Args:
        radius: ``(14,)`` signed arm-circle radii.
        move, turn: ``(2, T)`` body and arm-circle displacement per sample (x, y).
        noise: the fixed table of jitter steps; ``noise_start``: ``(2, 14)`` window offsets.
        factors: ``(14, size)`` fixed draws of the speed-error factor; ``factor_start``:
            ``(14,)`` window offsets.
    """
    T = move.shape[1]
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for k in range(radius.shape[0]):  # keypoint by keypoint: every array read in order
        r = radius[k]
        x0, y0, f0 = noise_start[0, k], noise_start[1, k], factor_start[k]
        for t in range(T):
            tx = r * turn[0, t] + move[0, t]
            ty = r * turn[1, t] + move[1, t]
            dx = noise[x0 + t] * jitter_px + tx
            dy = noise[y0 + t] * jitter_px + ty
            speed = np.sqrt(dx * dx + dy * dy) * rate
            true = np.sqrt(tx * tx + ty * ty) * rate
            error = max((true + one) * factors[k, f0 + t] - one, zero)
            out[k, t] = error if true > moving else speed
