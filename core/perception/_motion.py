"""Keypoint motion: pyramidal Lucas-Kanade refinement of detected keypoints, speeds in px/s."""

from __future__ import annotations

import cv2
import numpy as np

from core._errors import ModelInputError
from core._types import N_KEYPOINTS

_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)


def to_gray(frames: np.ndarray) -> np.ndarray:
    """``(..., H, W, 3)`` BGR or ``(..., H, W)`` grey uint8 frames to grey."""
    f = np.asarray(frames)
    if f.dtype != np.uint8:
        raise ModelInputError(f"`frames` must be uint8, got {f.dtype}")
    if f.shape[-1] != 3:
        return f
    return (f @ np.array([0.114, 0.587, 0.299], dtype=np.float32)).round().astype(np.uint8)


def lk_track(
    prev_gray: np.ndarray,
    next_gray: np.ndarray,
    points: np.ndarray,
    *,
    win_size: int = 21,
    max_level: int = 3,
    initial: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Move ``points`` from ``prev_gray`` to ``next_gray`` with ``cv2.calcOpticalFlowPyrLK``.

    Args:
        prev_gray: ``(H, W)`` uint8 image the points are in.
        next_gray: ``(H, W)`` uint8 image to find them in.
        points: ``(K, 2)`` float points ``(x, y)``; NaN points are not tracked.
        win_size: side of the square search window at each pyramid level.
        max_level: number of pyramid levels above the image (0: no pyramid).
        initial: ``(K, 2)`` first guesses in ``next_gray`` (e.g. the next detections);
            NaN rows fall back to the points themselves.

    Returns:
        ``(K, 2)`` float32 tracked points and a ``(K,)`` bool status (False: lost or NaN).
    """
    prev_gray, next_gray = np.asarray(prev_gray), np.asarray(next_gray)
    if prev_gray.ndim != 2 or prev_gray.shape != next_gray.shape or prev_gray.dtype != np.uint8:
        raise ModelInputError(
            f"`prev_gray` and `next_gray` must be uint8 (H, W) images of one size, got "
            f"{prev_gray.dtype} {prev_gray.shape} and {next_gray.dtype} {next_gray.shape}"
        )
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ModelInputError(f"`points` must have shape (K, 2), got {pts.shape}")
    valid = np.isfinite(pts).all(axis=1)
    out = np.full_like(pts, np.nan)
    status = np.zeros(len(pts), dtype=bool)
    if not valid.any():
        return out, status
    start = pts[valid].reshape(-1, 1, 2)
    guess = start.copy()
    if initial is not None:
        init = np.asarray(initial, dtype=np.float32)[valid].reshape(-1, 1, 2)
        guess = np.where(np.isfinite(init), init, start).astype(np.float32)
    moved, ok, _ = cv2.calcOpticalFlowPyrLK(
        prev_gray,
        next_gray,
        start,
        guess.copy(),
        winSize=(win_size, win_size),
        maxLevel=max_level,
        criteria=_CRITERIA,
        flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
    )
    out[valid] = moved.reshape(-1, 2)
    status[valid] = ok.reshape(-1).astype(bool)
    out[~status] = np.nan
    return out, status


def keypoint_speeds(
    frames: np.ndarray,
    keypoints: np.ndarray,
    *,
    rate_hz: float,
    win_size: int = 21,
    max_level: int = 3,
    gate_px: float = 8.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Speed and direction of each keypoint of one worker over a frame sequence.

    Detection and optical flow combine as follows: for each ``t >= 1`` the keypoints
    detected in frame ``t - 1`` are tracked by Lucas-Kanade into frame ``t``, starting from
    the keypoints detected in frame ``t`` as the initial flow. Where LK converges within
    ``gate_px`` of that detection, its displacement is used (sub-pixel, texture-based);
    otherwise (lost, or drifted along a textureless limb) the detection difference is. Speed
    at ``t`` is ``|displacement| * rate_hz``, the motion over ``(t - 1, t]``; row 0 repeats
    row 1. Missing detections (NaN) give speed 0 and direction NaN.

    Args:
        frames: ``(T, H, W, 3)`` BGR or ``(T, H, W)`` grey uint8 frames of the worker's camera.
        keypoints: ``(T, 14, 2)`` detected keypoints of the worker (NaN when not detected).
        rate_hz: frames per second.
        win_size: LK window side.
        max_level: LK pyramid levels.
        gate_px: largest accepted distance between the LK result and the detection.

    Returns:
        ``(T, 14)`` float32 speeds in px/s and ``(T, 14)`` float32 directions in radians
        (``atan2(dy, dx)`` in image axes, y down).
    """
    gray = to_gray(frames)
    kp = np.asarray(keypoints, dtype=np.float32)
    if gray.ndim != 3 or kp.shape != (len(gray), N_KEYPOINTS, 2):
        raise ModelInputError(
            f"`keypoints` must have shape (T, {N_KEYPOINTS}, 2) matching {len(gray)} frames, "
            f"got {kp.shape}"
        )
    if rate_hz <= 0:
        raise ModelInputError(f"`rate_hz` must be > 0, got {rate_hz!r}")
    n = len(kp)
    disp = np.full((n, N_KEYPOINTS, 2), np.nan, dtype=np.float32)
    for t in range(1, n):
        tracked, ok = lk_track(
            gray[t - 1], gray[t], kp[t - 1], win_size=win_size, max_level=max_level, initial=kp[t]
        )
        use_lk = ok & (np.linalg.norm(tracked - kp[t], axis=1) <= gate_px)
        disp[t] = np.where(use_lk[:, None], tracked, kp[t]) - kp[t - 1]
    if n > 1:
        disp[0] = disp[1]
    speeds = np.nan_to_num(np.linalg.norm(disp, axis=-1) * rate_hz).astype(np.float32)
    directions = np.arctan2(disp[..., 1], disp[..., 0]).astype(np.float32)
    return speeds, directions
