"""What a worker wears in a camera frame: the colours and the work-wear texture.

Real work-wear is not flat colour: cloth folds, seams and pockets, and on high-visibility
clothing bands of reflective tape round the torso, sleeves and trouser legs. Every part of a
figure (each limb, the torso, hands, head, shoes) is painted from a texture tile of its
worker's :class:`Appearance` (folds, fabric grain, seams, and tape for ``hi_vis``); the tiles'
geometry (`TEXELS`, `LIMBS`, `TORSO_TEX`, `MARGIN`, `ROUND`) is what :mod:`sim.figure` maps
onto the parts. Texture tiles are cached per appearance (:func:`wear`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from sim._drawing import ONE, SHIFT
from sim.layout import PERSON_HEIGHT_PX
from sim.seeding import Stream, stream

_HI_VIS = ((30, 235, 210), (20, 130, 245))
"""BGR base colours of high-visibility shirts: fluorescent yellow, orange."""
_RIGHT_SHADE = 0.72
"""Brightness of a figure's right-side limbs, so that left and right can be told apart."""


@dataclass(frozen=True)
class Appearance:
    """How one worker looks: BGR colours of shirt, trousers and skin, and the work-wear texture.

    Attributes:
        shirt: BGR colour of the shirt (torso and sleeves).
        trousers: BGR colour of the trousers.
        skin: BGR colour of face, neck and gloved hands.
        texture: seed of the texture pattern (folds, grain, seams, pockets).
        hi_vis: high-visibility clothing: reflective tape on torso, sleeves and trouser legs.
    """

    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]
    texture: int = 0
    hi_vis: bool = False


def random_appearance(rng: np.random.Generator) -> Appearance:
    """A random worker appearance: work-wear colours and texture, half of it high-visibility
    (a fluorescent yellow or orange shirt with reflective tape), skin tones."""
    shirt = tuple(int(c) for c in rng.integers(30, 240, size=3))
    trousers = tuple(int(c) for c in rng.integers(20, 160, size=3))
    tone = rng.uniform(0.45, 1.0)
    skin = (int(120 * tone + 30), int(160 * tone + 30), int(200 * tone + 40))
    hi_vis = bool(rng.random() < 0.5)
    if hi_vis:
        base = _HI_VIS[int(rng.integers(len(_HI_VIS)))]
        shirt = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in base)
    return Appearance(
        shirt=shirt,  # type: ignore[arg-type]
        trousers=trousers,  # type: ignore[arg-type]
        skin=skin,
        texture=int(rng.integers(2**31)),
        hi_vis=hi_vis,
    )


TEXELS = PERSON_HEIGHT_PX
"""Texels per figure height: one texel per pixel of a standing worker at a post."""
_TAPE = np.array([205.0, 212.0, 208.0], dtype=np.float32)
"""BGR colour of reflective tape."""
LIMBS: dict[str, tuple[float, float, tuple[float, ...]]] = {
    "upper_arm": (0.17, 0.045, ()),
    "forearm": (0.16, 0.045, (0.55,)),
    "thigh": (0.25, 0.06, ()),
    "shin": (0.24, 0.06, (0.35, 0.7)),
    "neck": (0.11, 0.04, ()),
}
"""Limb tiles: length and width as fractions of the figure height, hi-vis tape positions
along the limb (fractions of its length)."""
TORSO_TEX = (24, 32)
"""Columns (shoulder to shoulder) and rows (shoulders to hips) of the torso tile's body."""
MARGIN = 6
"""Texels of tile beyond a part's outline (limb caps, the neck above the shoulder line)."""
ROUND = {"hand": 0.03, "head": 0.065, "shoe": 0.035}
"""Radii of the round parts as fractions of the figure height."""


def _line_mask(
    shape: tuple[int, int], lines: list[tuple[float, float, float, float]]
) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    for x0, y0, x1, y1 in lines:
        p0 = (round(x0 * ONE), round(y0 * ONE))
        p1 = (round(x1 * ONE), round(y1 * ONE))
        cv2.line(mask, p0, p1, 255, 1, cv2.LINE_AA, SHIFT)
    return cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 0.5)


def _fabric(
    rng: np.random.Generator,
    shape: tuple[int, int],
    colour: tuple[int, int, int],
    *,
    folds: tuple[float, float],
    seams: list[tuple[float, float, float, float]] = (),  # type: ignore[assignment]
    tape: list[tuple[float, float, float, float]] = (),  # type: ignore[assignment]
    tape_width: float = 3.0,
) -> np.ndarray:
    """A float32 BGR tile: colour shaded by folds and grain, darker seams, reflective tape.

    ``folds`` are the blur sigmas (rows, columns) of the fold pattern; seams and tape are
    line segments ``(x0, y0, x1, y1)`` in tile coordinates.
    """
    noise = rng.standard_normal((2, *shape), dtype=np.float32)
    fold = cv2.GaussianBlur(noise[0], (0, 0), sigmaX=folds[1], sigmaY=folds[0])
    grain = cv2.GaussianBlur(noise[1], (0, 0), 0.7)
    # Blurred unit white noise has variance 1 / (4 pi sx sy): scale both to unit variance.
    fold *= np.float32(0.12 * np.sqrt(4 * np.pi * folds[0] * folds[1]))
    grain *= np.float32(np.sqrt(4 * np.pi * 0.7 * 0.7))
    shade = 1 + fold + 0.06 * grain
    if seams:
        shade *= 1 - 0.35 * _line_mask(shape, list(seams))
    tile = shade[..., None] * np.asarray(colour, dtype=np.float32)
    if tape:
        band = np.zeros(shape, dtype=np.uint8)
        for x0, y0, x1, y1 in tape:
            p0 = (round(x0 * ONE), round(y0 * ONE))
            p1 = (round(x1 * ONE), round(y1 * ONE))
            cv2.line(band, p0, p1, 255, max(1, round(tape_width)), cv2.LINE_AA, SHIFT)
        t = cv2.GaussianBlur(band.astype(np.float32) / 255, (0, 0), 0.5)[..., None]
        tile = tile * (1 - t) + t * _TAPE * (1 + 0.04 * grain[..., None])
    return np.clip(tile, 0, 255).astype(np.float32)


def _limb_tile(
    rng: np.random.Generator, name: str, colour: tuple[int, int, int], *, hi_vis: bool
) -> np.ndarray:
    frac_len, frac_w, bands = LIMBS[name]
    length, width = round(frac_len * TEXELS), round(frac_w * TEXELS)
    rows, cols = width + 2 * MARGIN, length + 2 * MARGIN
    lo, hi = MARGIN + 0.5, MARGIN + width - 1.5
    seams = [(0.0, lo, cols - 1.0, lo), (0.0, hi, cols - 1.0, hi)]
    tape = [(MARGIN + f * length, 0.0, MARGIN + f * length, rows - 1.0) for f in bands]
    return _fabric(
        rng, (rows, cols), colour, folds=(2.5, 1.0), seams=seams, tape=tape if hi_vis else []
    )


def _torso_tile(
    rng: np.random.Generator, colour: tuple[int, int, int], *, hi_vis: bool
) -> np.ndarray:
    w, h = TORSO_TEX
    m = MARGIN
    rows, cols = h + 2 * m, w + 2 * m
    mid = m + w / 2 - 0.5
    side = m + (0.2 if rng.random() < 0.5 else 0.62) * w
    top = m + h * 0.35
    seams = [
        (mid, 0.0, mid, rows - 1.0),
        (m, m + 0.85 * h, m + w, m + 0.85 * h),
        (side, top, side + 0.2 * w, top),
        (side, top, side, top + 0.22 * h),
        (side + 0.2 * w, top, side + 0.2 * w, top + 0.22 * h),
        (side, top + 0.22 * h, side + 0.2 * w, top + 0.22 * h),
    ]
    tape = [
        (0.0, m + 0.55 * h, cols - 1.0, m + 0.55 * h),
        (0.0, m + 0.78 * h, cols - 1.0, m + 0.78 * h),
        (m + 0.25 * w, 0.0, m + 0.25 * w, m + 0.55 * h),
        (m + 0.75 * w, 0.0, m + 0.75 * w, m + 0.55 * h),
    ]
    return _fabric(
        rng, (rows, cols), colour, folds=(1.2, 2.5), seams=seams, tape=tape if hi_vis else []
    )


def _round_tile(rng: np.random.Generator, name: str, colour: tuple[int, int, int]) -> np.ndarray:
    side = 2 * round(ROUND[name] * TEXELS) + 2 * MARGIN + 1
    c = (side - 1) / 2
    seams = {
        "hand": [(c - 4.0, c - 1.0, c + 4.0, c - 1.0)],  # glove cuff
        "head": [(c - 8.0, c - 2.0, c + 8.0, c - 2.0)],  # helmet rim
        "shoe": [(c - 5.0, c + 1.5, c + 5.0, c + 1.5)],  # sole
    }[name]
    return _fabric(rng, (side, side), colour, folds=(1.5, 1.5), seams=seams)


@functools.lru_cache(maxsize=512)
def wear(look: Appearance) -> dict[str, np.ndarray]:
    """Texture tiles of every part of a worker (cached per appearance); the worker's right
    side is a shade darker, as in the flat colours of the figure."""
    rng = stream([look.texture, Stream.WEAR])
    hi_vis = look.hi_vis
    tiles = {
        "upper_arm": _limb_tile(rng, "upper_arm", look.shirt, hi_vis=hi_vis),
        "forearm": _limb_tile(rng, "forearm", look.shirt, hi_vis=hi_vis),
        "thigh": _limb_tile(rng, "thigh", look.trousers, hi_vis=hi_vis),
        "shin": _limb_tile(rng, "shin", look.trousers, hi_vis=hi_vis),
        "hand": _round_tile(rng, "hand", look.skin),
        "shoe": _round_tile(rng, "shoe", (40, 40, 50)),
    }
    sided = {
        f"{s}_{k}": v * (_RIGHT_SHADE if s == "r" else 1.0) for k, v in tiles.items() for s in "rl"
    }
    sided["neck"] = _limb_tile(rng, "neck", look.skin, hi_vis=False)
    sided["torso"] = _torso_tile(rng, look.shirt, hi_vis=hi_vis)
    sided["head"] = _round_tile(rng, "head", look.skin)
    return sided
