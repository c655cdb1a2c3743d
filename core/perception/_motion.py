"""Keypoint motion: detections fused with pyramidal Lucas-Kanade flow, speeds in px/s.

A detector localises a keypoint to a pixel or two, independently in each frame; the
difference of two detections is as noisy as the motion of a slowly circling elbow.
Lucas-Kanade measures how the image content under a point moves, sub-pixel on textured
content, but it measures the motion of the material under the point it is given: a point a
pixel off along a limb moves at that place's speed, not the joint's. So :class:`KeypointTracker`
carries a *fused* position per keypoint (a fixed point of the body's surface once tracked):
each frame it tracks the fused positions by LK (starting from the detections' motion as the
initial flow), takes their displacement as the motion, and pulls them a fraction ``blend``
towards the new detections, which averages the detection noise over about ``1 / blend``
frames while LK keeps the fused point on the same material. Where LK is lost or ends farther
than ``gate_px`` from the detection (occlusion, a texture-less patch, a jump), the keypoint
falls back to the detection and its difference. LK runs on the worker's region of the frame
only (the fused points and the guesses with the pyramid's reach around them).
"""

from __future__ import annotations

import cv2
import numpy as np

from core._errors import ModelInputError
from core._types import N_KEYPOINTS

_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
LK_WIN_SIZE = 7
"""Side of the Lucas-Kanade window (px): small, so the window sees the joint, not a limb
(limbs next to a joint move at other speeds)."""
LK_MAX_LEVEL = 1
"""Pyramid levels above the image: the detections' motion is the initial flow, so the
pyramid only has to bridge the detection error."""
LK_GATE_PX = 8.0
"""Largest accepted distance between the tracked point and the detection."""
LK_BLEND = 0.2
"""Weight of the new detection in the fused keypoint position."""


def to_gray(frames: np.ndarray) -> np.ndarray:
    """``(..., H, W, 3)`` BGR or ``(..., H, W)`` grey uint8 frames to grey (OpenCV's weights)."""
    f = np.asarray(frames)
    if f.dtype != np.uint8:
        raise ModelInputError(f"`frames` must be uint8, got {f.dtype}")
    if f.shape[-1] != 3:
        return f
    if f.ndim == 3:
        return cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
    flat = f.reshape(-1, *f.shape[-3:])
    out = np.empty(flat.shape[:-1], dtype=np.uint8)
    for i, frame in enumerate(flat):
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY, dst=out[i])
    return out.reshape(f.shape[:-1])


def _lk(
    prev_gray: np.ndarray,
    next_gray: np.ndarray,
    start: np.ndarray,
    guess: np.ndarray,
    *,
    win_size: int,
    max_level: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.calcOpticalFlowPyrLK`` of finite ``(K, 2)`` points from initial guesses."""
    moved, ok, _ = cv2.calcOpticalFlowPyrLK(
        prev_gray,
        next_gray,
        np.ascontiguousarray(start, dtype=np.float32).reshape(-1, 1, 2),
        np.array(guess, dtype=np.float32).reshape(-1, 1, 2),  # a copy: OpenCV writes into it
        winSize=(win_size, win_size),
        maxLevel=max_level,
        criteria=_CRITERIA,
        flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
    )
    return moved.reshape(-1, 2), ok.reshape(-1).astype(bool)


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

    A general tracker (wide window and pyramid, for motion without a first guess); the
    keypoint tracker uses the narrower `LK_WIN_SIZE` and `LK_MAX_LEVEL` from detections.

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
    _check_lk_settings(win_size, max_level)
    valid = np.isfinite(pts).all(axis=1)
    out = np.full_like(pts, np.nan)
    status = np.zeros(len(pts), dtype=bool)
    if not valid.any():
        return out, status
    start = pts[valid]
    guess = start
    if initial is not None:
        init = np.asarray(initial, dtype=np.float32)[valid]
        guess = np.where(np.isfinite(init), init, start)
    moved, ok = _lk(prev_gray, next_gray, start, guess, win_size=win_size, max_level=max_level)
    out[valid] = moved
    status[valid] = ok
    out[~status] = np.nan
    return out, status


def _check_lk_settings(win_size: int, max_level: int) -> None:
    if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3:
        raise ModelInputError(f"`win_size` must be an int >= 3, got {win_size!r}")
    if isinstance(max_level, bool) or not isinstance(max_level, int) or not 0 <= max_level <= 6:
        raise ModelInputError(f"`max_level` must be an int in [0, 6], got {max_level!r}")


class KeypointTracker:
    """Fused keypoints of one worker in one camera, frame by frame (see the module docstring).

    Args:
        win_size: LK window side (px).
        max_level: LK pyramid levels.
        gate_px: largest accepted distance between the LK result and the detection.
        blend: weight of the new detection in the fused position, in (0, 1] (1: the
            detections themselves, LK only measuring their motion).
    """

    def __init__(
        self,
        *,
        win_size: int = LK_WIN_SIZE,
        max_level: int = LK_MAX_LEVEL,
        gate_px: float = LK_GATE_PX,
        blend: float = LK_BLEND,
    ) -> None:
        _check_lk_settings(win_size, max_level)
        if not gate_px > 0:
            raise ModelInputError(f"`gate_px` must be > 0, got {gate_px!r}")
        if not 0 < blend <= 1:
            raise ModelInputError(f"`blend` must be in (0, 1], got {blend!r}")
        self.win_size, self.max_level, self.gate_px, self.blend = (
            win_size, max_level, float(gate_px), float(blend),
        )  # fmt: skip
        self._reach = (win_size // 2 + 2) * 2**max_level
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (a new camera, a new worker)."""
        self._gray: np.ndarray | None = None
        self._fused = np.full((N_KEYPOINTS, 2), np.nan, dtype=np.float32)
        self._detected = self._fused.copy()

    def update(self, frame: np.ndarray, detections: np.ndarray) -> np.ndarray:
        """Feed the next frame and its ``(14, 2)`` detections (NaN: not detected).

        ``frame`` is a uint8 ``(H, W, 3)`` BGR or ``(H, W)`` grey image.

        Returns:
            ``(14, 2)`` float32 displacement of each keypoint since the previous frame (NaN
            on the first frame after a reset, and where a detection is missing).
        """
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        det = np.asarray(detections, dtype=np.float32)
        prev_gray, prev, prev_det = self._gray, self._fused, self._detected
        self._gray, self._fused, self._detected = gray, det, det
        if prev_gray is None:
            return np.full((N_KEYPOINTS, 2), np.nan, dtype=np.float32)
        step = det - prev_det
        valid = ~np.isnan(step + prev).any(axis=1)
        if not valid.all():
            if not valid.any():
                return np.where(valid[:, None], step, np.nan)
            disp, fused = self._track(prev_gray, gray, prev[valid], det[valid], step[valid])
            self._fused = det.copy()
            self._fused[valid] = fused
            out = np.full((N_KEYPOINTS, 2), np.nan, dtype=np.float32)
            out[valid] = disp
            return out
        disp, self._fused = self._track(prev_gray, gray, prev, det, step)
        return disp

    def _track(
        self,
        prev_gray: np.ndarray,
        gray: np.ndarray,
        start: np.ndarray,
        det: np.ndarray,
        step: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Displacements and fused positions of finite points (LK on the points' region)."""
        guess = start + step
        lo = np.minimum(start.min(axis=0), guess.min(axis=0))
        hi = np.maximum(start.max(axis=0), guess.max(axis=0))
        h, w = gray.shape
        x0, y0 = max(0, int(lo[0]) - self._reach), max(0, int(lo[1]) - self._reach)
        x1, y1 = min(w, int(hi[0]) + self._reach + 2), min(h, int(hi[1]) + self._reach + 2)
        origin = np.array([x0, y0], dtype=np.float32)
        moved, ok = _lk(
            prev_gray[y0:y1, x0:x1],
            gray[y0:y1, x0:x1],
            start - origin,
            guess - origin,
            win_size=self.win_size,
            max_level=self.max_level,
        )
        moved += origin
        off = moved - det
        ok &= np.einsum("ij,ij->i", off, off) <= self.gate_px**2
        use = ok[:, None]
        disp = np.where(use, moved - start, step)
        fused = np.where(use, moved - self.blend * off, det)
        return disp, fused


def keypoint_speeds(
    frames: np.ndarray,
    keypoints: np.ndarray,
    *,
    rate_hz: float,
    win_size: int = LK_WIN_SIZE,
    max_level: int = LK_MAX_LEVEL,
    gate_px: float = LK_GATE_PX,
    blend: float = LK_BLEND,
) -> tuple[np.ndarray, np.ndarray]:
    """Speed and direction of each keypoint of one worker over a frame sequence of one camera.

    The motion over ``(t - 1, t]`` comes from :class:`KeypointTracker`; speed at ``t`` is
    ``|displacement| * rate_hz``; row 0 repeats row 1. Missing detections (NaN) give speed 0
    and direction NaN.

    Args:
        frames: ``(T, H, W, 3)`` BGR or ``(T, H, W)`` grey uint8 frames of the worker's camera.
        keypoints: ``(T, 14, 2)`` detected keypoints of the worker (NaN when not detected).
        rate_hz: frames per second.
        win_size: LK window side.
        max_level: LK pyramid levels.
        gate_px: largest accepted distance between the LK result and the detection.
        blend: weight of a new detection in the fused keypoint.

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
    if not rate_hz > 0:
        raise ModelInputError(f"`rate_hz` must be > 0, got {rate_hz!r}")
    tracker = KeypointTracker(win_size=win_size, max_level=max_level, gate_px=gate_px, blend=blend)
    disp = np.stack([tracker.update(g, k) for g, k in zip(gray, kp, strict=True)])
    if len(disp) > 1:
        disp[0] = disp[1]
    speeds = np.nan_to_num(np.linalg.norm(disp, axis=-1) * rate_hz).astype(np.float32)
    directions = np.arctan2(disp[..., 1], disp[..., 0]).astype(np.float32)
    return speeds, directions
