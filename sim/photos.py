"""A post terminal's equipment photos at shift changes, and each post's standard photo.

Each post has its own layout, fixed by the post number: a machine body (with a panel and a
dial), a cover on top of it and a guard on its side, which move with the machine when it is
displaced, and a floor rail and a wall sign, which stay put. A missing safety facility
(``"guard"``, ``"rail"``, ``"cover"``, ``"sign"``) is simply not drawn. Photos are
``PHOTO_WIDTH x PHOTO_HEIGHT`` BGR ``uint8`` images.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sim._drawing import ONE, SHIFT
from sim._errors import CameraError
from sim.registry import FACILITIES
from sim.seeding import Stream, stream

PHOTO_WIDTH = 160
PHOTO_HEIGHT = 120


@dataclass(frozen=True)
class _Layout:
    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    horizon: int
    body: tuple[float, float, float, float]
    body_colour: tuple[int, int, int]
    cover_colour: tuple[int, int, int]
    guard_right: bool
    rail_y: float
    sign_centre: tuple[float, float]


def _layout(post: int) -> _Layout:
    if isinstance(post, bool) or not isinstance(post, (int, np.integer)) or post < 1:
        raise CameraError(f"`post` must be an int >= 1, got {post!r}")
    rng = stream([int(post), Stream.POST_LOOK])

    def colour(lo: int, hi: int) -> tuple[int, int, int]:
        return tuple(int(c) for c in rng.integers(lo, hi, size=3))  # type: ignore[return-value]

    horizon = int(rng.integers(45, 60))
    w, h = rng.uniform(45, 70), rng.uniform(40, 55)
    x0 = rng.uniform(35, PHOTO_WIDTH - 35 - w)
    base = rng.uniform(95, 105)
    return _Layout(
        wall=colour(120, 220),
        floor=colour(60, 140),
        horizon=horizon,
        body=(x0, base - h, x0 + w, base),
        body_colour=colour(30, 200),
        cover_colour=colour(30, 230),
        guard_right=bool(rng.random() < 0.5),
        rail_y=float(rng.uniform(106, 112)),
        sign_centre=(float(rng.choice([18.0, PHOTO_WIDTH - 18.0])), float(rng.uniform(15, 30))),
    )


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * ONE), round(y * ONE)


def _rect(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour, thick=-1) -> None:
    pts = np.array([_pt(x0, y0), _pt(x1, y0), _pt(x1, y1), _pt(x0, y1)], dtype=np.int32)
    if thick < 0:
        cv2.fillConvexPoly(img, pts, colour, cv2.LINE_AA, SHIFT)
    else:
        cv2.polylines(img, [pts], True, colour, thick, cv2.LINE_AA, SHIFT)


def render_equipment_photo(
    post: int,
    *,
    displacement_px: tuple[float, float] = (0.0, 0.0),
    missing: frozenset[str] = frozenset(),
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The terminal's photo of a post's equipment at a shift change.

    Args:
        post: post number (1..n); fixes the layout.
        displacement_px: ``(dx, dy)`` shift of the machine from its standard place.
        missing: safety facilities that are missing, a subset of :data:`sim.registry.FACILITIES`.
        rng: lighting and sensor-noise randomisation; a clean photo when None.

    Returns:
        ``(PHOTO_HEIGHT, PHOTO_WIDTH, 3)`` uint8 BGR photo.
    """
    unknown = set(missing) - set(FACILITIES)
    if unknown:
        raise CameraError(f"`missing` must be a subset of {FACILITIES}, got {sorted(unknown)}")
    lay = _layout(post)
    dx, dy = (float(v) for v in displacement_px)
    img = np.empty((PHOTO_HEIGHT, PHOTO_WIDTH, 3), dtype=np.uint8)
    img[: lay.horizon] = lay.wall
    img[lay.horizon :] = lay.floor
    if "sign" not in missing:
        cx, cy = lay.sign_centre
        tri = np.array([_pt(cx, cy - 10), _pt(cx + 11, cy + 8), _pt(cx - 11, cy + 8)], np.int32)
        cv2.fillConvexPoly(img, tri, (0, 215, 255), cv2.LINE_AA, SHIFT)
        cv2.polylines(img, [tri], True, (0, 0, 0), 2, cv2.LINE_AA, SHIFT)
        _rect(img, cx - 1, cy - 4, cx + 1, cy + 4, (0, 0, 0))
    x0, y0, x1, y1 = lay.body
    x0, y0, x1, y1 = x0 + dx, y0 + dy, x1 + dx, y1 + dy
    _rect(img, x0, y0, x1, y1, lay.body_colour)
    _rect(
        img, x0 + 6, y0 + 8, x0 + (x1 - x0) * 0.55, y1 - 10, tuple(c // 2 for c in lay.body_colour)
    )
    cv2.circle(img, _pt(x1 - 12, y0 + 14), 6 * ONE, (235, 235, 235), -1, cv2.LINE_AA, SHIFT)
    if "cover" not in missing:
        _rect(img, x0 - 3, y0 - 9, x1 + 3, y0, lay.cover_colour)
    if "guard" not in missing:
        gx0 = x1 if lay.guard_right else x0 - 16
        _rect(img, gx0, y0 + 6, gx0 + 16, y1 - 4, (40, 40, 40), 2)
        for k in range(1, 4):
            gx = gx0 + 4 * k
            cv2.line(img, _pt(gx, y0 + 6), _pt(gx, y1 - 4), (40, 40, 40), 1, cv2.LINE_AA, SHIFT)
    if "rail" not in missing:
        y = lay.rail_y
        _rect(img, 10, y - 2, PHOTO_WIDTH - 10, y + 2, (30, 200, 240))
        for px in np.linspace(14, PHOTO_WIDTH - 14, 5):
            _rect(img, px - 1.5, y, px + 1.5, y + 10, (30, 200, 240))
    if rng is None:
        return img
    gain, offset, sigma = rng.uniform(0.9, 1.1), rng.uniform(-8, 8), rng.uniform(0.5, 3.0)
    noisy = img.astype(np.float32) * gain + offset
    noisy += sigma * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def standard_photo(post: int) -> np.ndarray:
    """The post's stored standard photo: machine in place, every facility present, clean."""
    return render_equipment_photo(post)
