"""A worker's figure in a camera frame, painted part by part from its work-wear (:mod:`sim.wear`).

Each part's texture tile is fixed to the part: an affine map for a limb (along it from one
keypoint to the other, stretching with it), a homography for the torso (shoulders and hips),
a similarity for the round parts (turning with the limb they end). The texture therefore
moves exactly with the keypoints that carry it, as cloth does with the body, which is what
gives optical flow (Lucas-Kanade) something to lock on to; flat colour would leave it the
aperture problem on every limb.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from sim._drawing import KEYPOINT, ONE, SHIFT
from sim.wear import LIMBS, MARGIN, ROUND, TEXELS, TORSO_TEX, Appearance, wear

_TORSO = ("r_shoulder", "l_shoulder", "l_hip", "r_hip")


def _paint(
    canvas: np.ndarray,
    tile: np.ndarray,
    warp: np.ndarray,
    box: tuple[float, float, float, float],
    draw_mask: Callable[[np.ndarray, np.ndarray], None],
) -> None:
    """Paint ``tile`` mapped by ``warp`` (2x3 affine or 3x3 homography, tile to canvas) into
    a float32 ``canvas`` inside the part's mask, which ``draw_mask(mask, origin)`` draws (255
    inside, anti-aliased, in fixed-point canvas coordinates less ``origin``)."""
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1 = min(canvas.shape[1], int(np.ceil(box[2])) + 1)
    y1 = min(canvas.shape[0], int(np.ceil(box[3])) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    size = (x1 - x0, y1 - y0)
    if warp.shape == (2, 3):
        m = warp.copy()
        m[:, 2] -= (x0, y0)
        tex = cv2.warpAffine(tile, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        move = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
        tex = cv2.warpPerspective(
            tile, move @ warp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    mask = np.zeros((size[1], size[0]), dtype=np.uint8)
    draw_mask(mask, np.array([x0 * ONE, y0 * ONE], dtype=np.int32))
    roi = canvas[y0:y1, x0:x1]
    tex -= roi
    tex *= mask[..., None]
    tex *= np.float32(1 / 255)
    roi += tex


def _limb_warp(a: np.ndarray, b: np.ndarray, tile: np.ndarray, scale: float) -> np.ndarray:
    """Affine tile-to-frame map of a limb tile: columns along ``a -> b`` (stretching with the
    limb), rows across it at ``scale`` pixels per texel."""
    rows, cols = tile.shape[:2]
    length = cols - 2 * MARGIN
    d = b - a
    norm = float(np.hypot(*d))
    e = d / norm if norm > 1e-3 else np.array([0.0, 1.0])
    s = max(norm, 1e-3) / length
    n = np.array([-e[1], e[0]])
    rc = (rows - 1) / 2
    origin = a - MARGIN * s * e - rc * scale * n
    return np.array([[s * e[0], scale * n[0], origin[0]], [s * e[1], scale * n[1], origin[1]]])


def _round_warp(
    centre: np.ndarray, towards: np.ndarray, tile: np.ndarray, scale: float
) -> np.ndarray:
    """Similarity tile-to-frame map of a round tile centred on ``centre``, its rows along the
    direction from ``towards`` to ``centre`` (a hand turns with its forearm)."""
    d = centre - towards
    norm = float(np.hypot(*d))
    e = d / norm if norm > 1e-3 else np.array([0.0, 1.0])
    p = np.array([e[1], -e[0]])
    c = (tile.shape[0] - 1) / 2
    origin = centre - c * scale * (p + e)
    return np.array(
        [[scale * p[0], scale * e[0], origin[0]], [scale * p[1], scale * e[1], origin[1]]]
    )


def draw_figure(img: np.ndarray, kp: np.ndarray, look: Appearance) -> None:
    """Paint one worker, keypoints ``kp`` ``(14, 2)``, into ``img`` in its work-wear: legs and
    shoes, the torso, the neck, arms and hands, the head (back to front)."""
    hips = (kp[KEYPOINT["r_hip"]] + kp[KEYPOINT["l_hip"]]) / 2
    height = max(float(np.linalg.norm(kp[KEYPOINT["neck"]] - hips)) / 0.29, 20.0)
    scale = height / TEXELS
    tiles = wear(look)
    reach = 0.07 * height + 3
    x0, y0 = (max(0, int(np.floor(v))) for v in kp.min(axis=0) - reach)
    x1 = min(img.shape[1], int(np.ceil(kp[:, 0].max() + reach)) + 1)
    y1 = min(img.shape[0], int(np.ceil(kp[:, 1].max() + reach)) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    canvas = img[y0:y1, x0:x1].astype(np.float32)
    kp64 = kp.astype(np.float64) - (x0, y0)
    hips = hips.astype(np.float64) - (x0, y0)

    def limb(a: str, b: str, tile: str, width: float) -> None:
        pa, pb = kp64[KEYPOINT[a]], kp64[KEYPOINT[b]]
        thickness = max(1, round(width * height))
        r = thickness / 2 + 2
        box = (min(pa[0], pb[0]) - r, min(pa[1], pb[1]) - r, max(pa[0], pb[0]) + r,
               max(pa[1], pb[1]) + r)  # fmt: skip
        sa, sb = np.round(pa * ONE).astype(np.int32), np.round(pb * ONE).astype(np.int32)

        def mask(m: np.ndarray, origin: np.ndarray) -> None:
            cv2.line(m, sa - origin, sb - origin, 255, thickness, cv2.LINE_AA, SHIFT)

        _paint(canvas, tiles[tile], _limb_warp(pa, pb, tiles[tile], scale), box, mask)

    def disc(centre: str, towards: np.ndarray, tile: str, radius: float) -> None:
        c = kp64[KEYPOINT[centre]]
        r = radius * height
        box = (c[0] - r - 2, c[1] - r - 2, c[0] + r + 2, c[1] + r + 2)
        sc = np.round(c * ONE).astype(np.int32)

        def mask(m: np.ndarray, origin: np.ndarray) -> None:
            cv2.circle(m, sc - origin, round(r * ONE), 255, -1, cv2.LINE_AA, SHIFT)

        _paint(canvas, tiles[tile], _round_warp(c, towards, tiles[tile], scale), box, mask)

    for side in ("r", "l"):
        limb(f"{side}_hip", f"{side}_knee", f"{side}_thigh", 0.06)
        limb(f"{side}_knee", f"{side}_ankle", f"{side}_shin", 0.06)
    for side in ("r", "l"):
        disc(f"{side}_ankle", kp64[KEYPOINT[f"{side}_knee"]], f"{side}_shoe", ROUND["shoe"])
    _draw_torso(canvas, kp64, hips, tiles["torso"], height)
    limb("neck", "head", "neck", LIMBS["neck"][1])
    for side in ("r", "l"):
        limb(f"{side}_shoulder", f"{side}_elbow", f"{side}_upper_arm", LIMBS["upper_arm"][1])
        limb(f"{side}_elbow", f"{side}_wrist", f"{side}_forearm", LIMBS["forearm"][1])
    for side in ("r", "l"):
        disc(f"{side}_wrist", kp64[KEYPOINT[f"{side}_elbow"]], f"{side}_hand", ROUND["hand"])
    disc("head", kp64[KEYPOINT["neck"]], "head", ROUND["head"])
    img[y0:y1, x0:x1] = canvas + np.float32(0.5)


def _draw_torso(
    canvas: np.ndarray, kp: np.ndarray, hips: np.ndarray, tile: np.ndarray, height: float
) -> None:
    """The shirt's torso: the shoulder-hip quadrilateral and a band from the neck to the hips,
    textured by the homography that takes the tile's body to the quadrilateral."""
    corners = np.stack([kp[KEYPOINT[n]] for n in _TORSO])
    w, h = TORSO_TEX
    m = MARGIN
    src = np.array([[m, m], [m + w, m], [m + w, m + h], [m, m + h]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    band = max(1, round(0.12 * height))
    pts = np.vstack([corners, kp[KEYPOINT["neck"]][None], hips[None]])
    r = band / 2 + 2
    box = (*(pts.min(axis=0) - r), *(pts.max(axis=0) + r))
    quad = np.round(corners * ONE).astype(np.int32)
    neck = np.round(kp[KEYPOINT["neck"]] * ONE).astype(np.int32)
    mid = np.round(hips * ONE).astype(np.int32)

    def mask(mk: np.ndarray, origin: np.ndarray) -> None:
        cv2.fillConvexPoly(mk, quad - origin, 255, cv2.LINE_AA, SHIFT)
        cv2.line(mk, neck - origin, mid - origin, 255, band, cv2.LINE_AA, SHIFT)

    _paint(canvas, tile, warp, box, mask)  # type: ignore[arg-type]
