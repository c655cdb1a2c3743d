"""What perception would measure of a worker's true motion (the signal fidelity), with a noise
model fitted to the pixel path (docs/calibration.md).

A still keypoint (true speed ≤ `MOVING_PX_S`) is the true one plus i.i.d. Gaussian jitter of
`KEYPOINT_JITTER_PX` px per coordinate per frame, its speed ``|Δ measured keypoint| ×
rate_hz`` (≈ 0.8 px/s at 1 Hz). A moving keypoint's speed carries the pixel path's error:
``(v + 1) · exp(r) − 1`` (at least 0) with ``r`` drawn per second from that keypoint's
quantiles of ``log((pixel speed + 1) / (true speed + 1))`` in `speed_error.json` (fitted
with the shipped keypoint network by ``bench_calibration.py --fit``; the file names the
weights' sha256). Measured positions switch area a uniform
`POSITION_LAG_MIN_S`..`POSITION_LAG_MAX_S` seconds after the true switch (the lag of the
foot-heatmap accumulation at α = 0.05).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core import N_KEYPOINTS
from sim.motion import SIGNED_RADIUS, Motion
from sim.seeding import Stream, stream

if TYPE_CHECKING:
    from types import ModuleType

KEYPOINT_JITTER_PX = 0.45
"""Fitted to the pixel path: a still keypoint reads 0.77 px/s there (docs/calibration.md)."""
MOVING_PX_S = 1.0
"""Keypoints truly faster than this (px/s) carry the pixel path's speed error."""
SPEED_ERROR_FILE = Path(__file__).with_name("speed_error.json")
"""Per-keypoint quantiles of the pixel path's log speed ratio (see the module docstring)."""
POSITION_LAG_MIN_S = 12.0
POSITION_LAG_MAX_S = 14.0
"""Fitted to the pixel path's area-switch lag at α = 0.05 (ln 2 / −ln(1 − α) ≈ 13.5 s)."""


def measure(
    motion: Motion, *, rng: np.random.Generator, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """The measured ``(T,)`` positions and ``(T, 14)`` keypoint speeds of a true motion."""
    n = motion.area.size
    noise_start = np.stack([_jitter_offsets(rng, n), _jitter_offsets(rng, n)])
    positions = _measured_positions(motion.area, rng, rate)
    factors, factor_start = _speed_error_draws(rng, n)
    speeds = np.empty((N_KEYPOINTS, n), dtype=np.float32)
    _kernels().keypoint_speeds(
        SIGNED_RADIUS.reshape(N_KEYPOINTS), np.ascontiguousarray(motion.move),
        np.ascontiguousarray(motion.turn), _noise_steps(_noise_table_size(n)), noise_start,
        np.float32(KEYPOINT_JITTER_PX), np.float32(rate), factors, factor_start,
        np.float32(MOVING_PX_S), speeds,
    )  # fmt: skip
    return positions, np.ascontiguousarray(speeds.T)


@functools.cache
def _noise_steps(size: int) -> np.ndarray:
    """Successive differences of a fixed table of ``size + 1`` standard normals (float32)."""
    table = stream(Stream.NOISE_STEPS).standard_normal(size + 1, dtype=np.float32)
    return np.diff(table)


@functools.cache
def speed_error() -> tuple[np.ndarray, np.ndarray]:
    """The quantile levels ``(q,)`` and per-keypoint quantiles ``(14, q)`` of the pixel
    path's log speed ratio (`SPEED_ERROR_FILE`)."""
    table = json.loads(SPEED_ERROR_FILE.read_text(encoding="utf-8"))
    levels = np.asarray(table["levels"], dtype=np.float64)
    quantiles = np.asarray(table["quantiles"], dtype=np.float64)
    if quantiles.shape != (N_KEYPOINTS, levels.size) or np.any(np.diff(quantiles) < 0):
        raise ValueError(f"{SPEED_ERROR_FILE}: `quantiles` must be 14 sorted rows of `levels`")
    return levels, quantiles


_ERROR_STEPS = 4096
"""Points of each keypoint's inverse CDF of the speed error (its quantiles interpolated)."""
_ERROR_TABLE_SIZE = 1 << 18


@functools.cache
def _speed_factors(
    levels: tuple[float, ...], quantiles: tuple[tuple[float, ...], ...], size: int
) -> np.ndarray:
    """``(14, size)`` fixed float32 draws of each keypoint's factor ``exp(r)``: its inverse
    CDF (the quantiles interpolated at `_ERROR_STEPS` probabilities) at seeded uniform
    indices."""
    u = (np.arange(_ERROR_STEPS) + 0.5) / _ERROR_STEPS
    factors = np.exp([np.interp(u, levels, q) for q in quantiles]).astype(np.float32)
    index = stream(Stream.SPEED_FACTORS).integers(0, _ERROR_STEPS, (N_KEYPOINTS, size))
    return np.take_along_axis(factors, index, axis=1)


def _speed_error_draws(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel path's speed error for a shift of n samples: each keypoint's factors are a
    window of its fixed table of draws (``(14, size)``) at a random offset (as for the jitter,
    :func:`_jitter_offsets`): i.i.d. in time, for 14 draws a shift. Returns the table and the
    ``(14,)`` offsets (see the module docstring)."""
    levels, quantiles = speed_error()
    size = max(_ERROR_TABLE_SIZE, 1 << (2 * n).bit_length())
    table = _speed_factors(tuple(levels), tuple(map(tuple, quantiles)), size)
    return table, rng.integers(0, size - n + 1, size=N_KEYPOINTS)


def _jitter_offsets(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(14,)`` offsets into the fixed table of jitter steps (:func:`_noise_steps`): each
    keypoint's frame-to-frame change of one coordinate's jitter is a window of it.

    I.i.d. Gaussian in time like fresh draws, but drawing 14 offsets instead of ``14 n``
    normals is what makes a shift cost milliseconds.
    """
    return rng.integers(0, _noise_table_size(n) - n + 1, size=N_KEYPOINTS)


def _noise_table_size(n: int) -> int:
    return max(_NOISE_TABLE_SIZE, 1 << (2 * n).bit_length())


_NOISE_TABLE_SIZE = 1 << 21


def _kernels() -> ModuleType:
    """The compiled loops (:mod:`sim._kernels`), imported on first use."""
    import sim._kernels

    return sim._kernels


def _measured_positions(area: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """True areas with each switch delayed by a uniform lag in `POSITION_LAG_MIN_S`..`MAX_S`."""
    change = np.flatnonzero(np.diff(area)) + 1
    if change.size == 0:
        return area.copy()
    low, high = round(POSITION_LAG_MIN_S * rate), round(POSITION_LAG_MAX_S * rate)
    lag = rng.integers(low, high + 1, size=change.size)
    limit = np.append(change[1:], area.size)
    moved = np.minimum(change + lag, limit)
    runs = np.append(area[0], area[change])
    return np.repeat(runs, np.diff(np.concatenate([[0], moved, [area.size]])))
