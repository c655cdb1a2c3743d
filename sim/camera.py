"""A post's fixed camera: OpenCV rendering of the floor, equipment and articulated workers.

Convention shared with the simulator: every post camera gives a ``FRAME_WIDTH x FRAME_HEIGHT``
(320 x 240) BGR ``uint8`` image; keypoints are float32 pixel coordinates ``(..., 14, 2)`` as
``(x, y)`` in ``core.KEYPOINTS`` order, with pixel centres at integer coordinates (OpenCV's
convention); a standing worker is about 110 px tall. A worker whose keypoints are NaN is not
in view and is not drawn.

**Work-wear texture.** Real work-wear is not flat colour: cloth folds, seams and pockets,
and on high-visibility clothing bands of reflective tape round the torso, sleeves and
trouser legs. Every part of a figure (each limb, the torso, hands, head, shoes) is painted
from a texture tile of its worker's :class:`Appearance` (folds, fabric grain, seams, and tape
for ``hi_vis``) that is fixed to the part: an affine map for a limb (along it from one
keypoint to the other, stretching with it), a homography for the torso (shoulders and hips),
a similarity for the round parts (turning with the limb they end). The texture therefore
moves exactly with the keypoints that carry it, as cloth does with the body, which is what
gives optical flow (Lucas-Kanade) something to lock on to; flat colour would leave it the
aperture problem on every limb. Texture tiles are cached per appearance.

Besides frames, this module gives the stand-ins of a real plant's other perception sources:
a person detector (:func:`detect_boxes`) and the clock-in identity (:func:`identify`), and a
random-pose sampler (:func:`sample_poses`) that makes keypoint-network training data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from core import KEYPOINTS, N_KEYPOINTS
from sim._errors import SimError
from sim.layout import CAMERA_SIZE, PERSON_HEIGHT_PX
from sim.seeding import stream

FRAME_WIDTH, FRAME_HEIGHT = CAMERA_SIZE
"""Every camera image, as the layout defines it (:data:`sim.layout.CAMERA_SIZE`)."""
STANDING_HEIGHT_PX = PERSON_HEIGHT_PX
"""Height of a standing worker at a post's work spot (:data:`sim.layout.PERSON_HEIGHT_PX`)."""

_K = {name: i for i, name in enumerate(KEYPOINTS)}
_ARMS = (
    ("r_shoulder", "r_elbow"),
    ("r_elbow", "r_wrist"),
    ("l_shoulder", "l_elbow"),
    ("l_elbow", "l_wrist"),
)
_LEGS = (("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("l_hip", "l_knee"), ("l_knee", "l_ankle"))
_TORSO = ("r_shoulder", "l_shoulder", "l_hip", "r_hip")
_SHIFT = 4  # fractional bits of OpenCV's sub-pixel drawing
_ONE = 1 << _SHIFT
_HI_VIS = ((30, 235, 210), (20, 130, 245))
"""BGR base colours of high-visibility shirts: fluorescent yellow, orange."""
_RIGHT_SHADE = 0.72
"""Brightness of a figure's right-side limbs, so that left and right can be told apart."""


class CameraError(SimError):
    """Bad input to the camera or photo renderers; names the argument, expected and got."""


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


@dataclass(frozen=True)
class Scene:
    """The static part of a camera view.

    Attributes:
        floor: BGR floor colour.
        areas: post floor polygons ``(k, 2)`` in pixels, outlined on the floor.
        equipment: equipment blocks ``(x0, y0, x1, y1)``; a block's bottom edge is where it
            stands, so it hides workers standing behind it.
        equipment_colour: BGR colour of the blocks' front faces.
    """

    floor: tuple[int, int, int] = (150, 150, 145)
    areas: tuple[np.ndarray, ...] = ()
    equipment: tuple[tuple[int, int, int, int], ...] = ()
    equipment_colour: tuple[int, int, int] = (90, 110, 120)


def random_scene(
    rng: np.random.Generator, *, areas: Sequence[np.ndarray] = (), n_equipment: int = 2
) -> Scene:
    """A random floor colour and ``n_equipment`` equipment blocks around the given areas."""
    floor = tuple(int(c) for c in rng.integers(80, 200, size=3))
    blocks = []
    for _ in range(n_equipment):
        w, h = rng.integers(30, 80), rng.integers(30, 70)
        x0 = int(rng.integers(0, FRAME_WIDTH - w))
        y1 = int(rng.integers(h + 10, FRAME_HEIGHT))
        blocks.append((x0, y1 - int(h), x0 + int(w), y1))
    colour = tuple(int(c) for c in rng.integers(40, 200, size=3))
    return Scene(
        floor=floor,  # type: ignore[arg-type]
        areas=tuple(np.asarray(a, dtype=np.float32) for a in areas),
        equipment=tuple(blocks),
        equipment_colour=colour,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Randomisation:
    """Domain randomisation of rendered frames; each range is sampled per frame."""

    gain: tuple[float, float] = (0.7, 1.3)
    """Lighting gain on pixel values."""
    offset: tuple[float, float] = (-25.0, 25.0)
    """Lighting offset added to pixel values."""
    noise_sigma: tuple[float, float] = (0.0, 6.0)
    """Standard deviation of the Gaussian sensor noise, in grey levels."""
    blur_prob: float = 0.3
    """Probability of a Gaussian blur (3x3 or 5x5 kernel)."""
    occlusion_prob: float = 0.15
    """Probability, per worker in view, of an extra equipment block in front of the legs."""


NO_RANDOMISATION = Randomisation(
    gain=(1.0, 1.0), offset=(0.0, 0.0), noise_sigma=(0.0, 0.0), blur_prob=0.0, occlusion_prob=0.0
)
"""Clean frames: no lighting change, noise, blur or extra occlusion."""


@dataclass(frozen=True)
class _Block:
    box: tuple[int, int, int, int]
    colour: tuple[int, int, int] = field(default=(90, 110, 120))


def render_frames(
    keypoints: np.ndarray | Sequence[np.ndarray],
    *,
    appearances: Sequence[Appearance],
    rng: np.random.Generator,
    scene: Scene | None = None,
    randomisation: Randomisation = Randomisation(),
) -> np.ndarray:
    """Render one camera frame per sample.

    Args:
        keypoints: ``(N, P, 14, 2)`` array, or N arrays ``(P_i, 14, 2)``: the workers in view
            in each frame (NaN rows are out of view and not drawn).
        appearances: one per worker slot ``p < P``.
        rng: the source of all randomness (domain randomisation).
        scene: the static view; a plain floor when None.
        randomisation: lighting, noise, blur and occlusion ranges.

    Returns:
        ``(N, 240, 320, 3)`` BGR ``uint8`` frames.
    """
    frames_kp = _as_frame_list(keypoints)
    n_slots = max((len(k) for k in frames_kp), default=0)
    if len(appearances) < n_slots:
        raise CameraError(
            f"`appearances` must have one entry per worker slot ({n_slots}), got {len(appearances)}"
        )
    scene = scene or Scene()
    background = _background(scene)
    noise_bank = rng.standard_normal((FRAME_HEIGHT + 32, FRAME_WIDTH + 32, 3), dtype=np.float32)
    out = np.empty((len(frames_kp), FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)
    blocks = [_Block(b, scene.equipment_colour) for b in scene.equipment]
    for i, people in enumerate(frames_kp):
        img = background.copy()
        extra = _occluders(people, rng, randomisation.occlusion_prob)
        _draw_depth_ordered(img, people, appearances, blocks + extra)
        out[i] = _degrade(img, rng, randomisation, noise_bank)
    return out


def _as_frame_list(keypoints: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    frames = [np.asarray(k, dtype=np.float32) for k in keypoints]
    for i, k in enumerate(frames):
        if k.ndim != 3 or k.shape[1:] != (N_KEYPOINTS, 2):
            raise CameraError(
                f"`keypoints[{i}]` must have shape (P, {N_KEYPOINTS}, 2), got {k.shape}"
            )
    return frames


def _background(scene: Scene) -> np.ndarray:
    img = np.empty((FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)
    img[:] = scene.floor
    tile = tuple(int(c * 0.9) for c in scene.floor)
    for x in range(0, FRAME_WIDTH, 40):
        cv2.line(img, (x, 0), (x, FRAME_HEIGHT - 1), tile, 1)
    for y in range(0, FRAME_HEIGHT, 40):
        cv2.line(img, (0, y), (FRAME_WIDTH - 1, y), tile, 1)
    for area in scene.areas:
        pts = np.round(area * _ONE).astype(np.int32)
        cv2.polylines(img, [pts], True, (0, 200, 230), 2, cv2.LINE_AA, _SHIFT)
    return img


def _occluders(people: np.ndarray, rng: np.random.Generator, prob: float) -> list[_Block]:
    blocks = []
    for person in people:
        if prob <= 0 or np.isnan(person).any() or rng.random() >= prob:
            continue
        knee_y = float(person[[_K["r_knee"], _K["l_knee"]], 1].mean())
        foot_y = float(person[[_K["r_ankle"], _K["l_ankle"]], 1].max())
        cx = float(person[:, 0].mean()) + rng.uniform(-20, 20)
        w = rng.uniform(20, 50)
        top = knee_y + rng.uniform(-10, 15)
        box = (int(cx - w / 2), int(top), int(cx + w / 2), int(foot_y + rng.uniform(3, 12)))
        blocks.append(_Block(box, tuple(int(c) for c in rng.integers(40, 200, size=3))))
    return blocks


def _draw_depth_ordered(
    img: np.ndarray,
    people: np.ndarray,
    appearances: Sequence[Appearance],
    blocks: list[_Block],
) -> None:
    """Paint workers and blocks from the back (small bottom y) to the front."""
    items: list[tuple[float, int, object]] = []
    for p, person in enumerate(people):
        if not np.isnan(person).any():
            foot_y = float(person[[_K["r_ankle"], _K["l_ankle"]], 1].max())
            items.append((foot_y, 1, p))
    items.extend((float(b.box[3]), 0, b) for b in blocks)
    for _, kind, item in sorted(items, key=lambda it: (it[0], it[1])):
        if kind == 1:
            _draw_figure(img, people[item], appearances[item])  # type: ignore[index]
        else:
            _draw_block(img, item)  # type: ignore[arg-type]


def _draw_block(img: np.ndarray, block: _Block) -> None:
    x0, y0, x1, y1 = block.box
    top = tuple(min(255, int(c * 1.25) + 10) for c in block.colour)
    depth = max(3, (y1 - y0) // 5)
    cv2.rectangle(img, (x0, y0 - depth), (x1, y0), top, -1)
    cv2.rectangle(img, (x0, y0), (x1, y1), block.colour, -1)
    cv2.rectangle(img, (x0, y0 - depth), (x1, y1), tuple(c // 2 for c in block.colour), 1)


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(c * factor) for c in colour)  # type: ignore[return-value]


# Work-wear texture. Every part of a figure is painted from a texture tile that is fixed to
# the part (limb, torso, hand, head, shoe) by an affine or perspective map, so the texture
# moves, turns and stretches with the keypoints that carry the part.

_TEXELS = STANDING_HEIGHT_PX
"""Texels per figure height: one texel per pixel of a standing worker at a post."""
_TAPE = np.array([205.0, 212.0, 208.0], dtype=np.float32)
"""BGR colour of reflective tape."""
_LIMBS: dict[str, tuple[float, float, tuple[float, ...]]] = {
    "upper_arm": (0.17, 0.045, ()),
    "forearm": (0.16, 0.045, (0.55,)),
    "thigh": (0.25, 0.06, ()),
    "shin": (0.24, 0.06, (0.35, 0.7)),
    "neck": (0.11, 0.04, ()),
}
"""Limb tiles: length and width as fractions of the figure height, hi-vis tape positions
along the limb (fractions of its length)."""
_TORSO_TEX = (24, 32)
"""Columns (shoulder to shoulder) and rows (shoulders to hips) of the torso tile's body."""
_MARGIN = 6
"""Texels of tile beyond a part's outline (limb caps, the neck above the shoulder line)."""
_ROUND = {"hand": 0.03, "head": 0.065, "shoe": 0.035}
"""Radii of the round parts as fractions of the figure height."""


def _line_mask(
    shape: tuple[int, int], lines: list[tuple[float, float, float, float]]
) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    for x0, y0, x1, y1 in lines:
        p0 = (round(x0 * _ONE), round(y0 * _ONE))
        p1 = (round(x1 * _ONE), round(y1 * _ONE))
        cv2.line(mask, p0, p1, 255, 1, cv2.LINE_AA, _SHIFT)
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
            p0 = (round(x0 * _ONE), round(y0 * _ONE))
            p1 = (round(x1 * _ONE), round(y1 * _ONE))
            cv2.line(band, p0, p1, 255, max(1, round(tape_width)), cv2.LINE_AA, _SHIFT)
        t = cv2.GaussianBlur(band.astype(np.float32) / 255, (0, 0), 0.5)[..., None]
        tile = tile * (1 - t) + t * _TAPE * (1 + 0.04 * grain[..., None])
    return np.clip(tile, 0, 255).astype(np.float32)


def _limb_tile(
    rng: np.random.Generator, name: str, colour: tuple[int, int, int], *, hi_vis: bool
) -> np.ndarray:
    frac_len, frac_w, bands = _LIMBS[name]
    length, width = round(frac_len * _TEXELS), round(frac_w * _TEXELS)
    rows, cols = width + 2 * _MARGIN, length + 2 * _MARGIN
    lo, hi = _MARGIN + 0.5, _MARGIN + width - 1.5
    seams = [(0.0, lo, cols - 1.0, lo), (0.0, hi, cols - 1.0, hi)]
    tape = [(_MARGIN + f * length, 0.0, _MARGIN + f * length, rows - 1.0) for f in bands]
    return _fabric(
        rng, (rows, cols), colour, folds=(2.5, 1.0), seams=seams, tape=tape if hi_vis else []
    )


def _torso_tile(
    rng: np.random.Generator, colour: tuple[int, int, int], *, hi_vis: bool
) -> np.ndarray:
    w, h = _TORSO_TEX
    m = _MARGIN
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
    side = 2 * round(_ROUND[name] * _TEXELS) + 2 * _MARGIN + 1
    c = (side - 1) / 2
    seams = {
        "hand": [(c - 4.0, c - 1.0, c + 4.0, c - 1.0)],  # glove cuff
        "head": [(c - 8.0, c - 2.0, c + 8.0, c - 2.0)],  # helmet rim
        "shoe": [(c - 5.0, c + 1.5, c + 5.0, c + 1.5)],  # sole
    }[name]
    return _fabric(rng, (side, side), colour, folds=(1.5, 1.5), seams=seams)


@functools.lru_cache(maxsize=512)
def _wear(look: Appearance) -> dict[str, np.ndarray]:
    """Texture tiles of every part of a worker (cached per appearance); the worker's right
    side is a shade darker, as in the flat colours of the figure."""
    rng = stream([look.texture, 0x7E7])
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
    draw_mask(mask, np.array([x0 * _ONE, y0 * _ONE], dtype=np.int32))
    roi = canvas[y0:y1, x0:x1]
    tex -= roi
    tex *= mask[..., None]
    tex *= np.float32(1 / 255)
    roi += tex


def _limb_warp(a: np.ndarray, b: np.ndarray, tile: np.ndarray, scale: float) -> np.ndarray:
    """Affine tile-to-frame map of a limb tile: columns along ``a -> b`` (stretching with the
    limb), rows across it at ``scale`` pixels per texel."""
    rows, cols = tile.shape[:2]
    length = cols - 2 * _MARGIN
    d = b - a
    norm = float(np.hypot(*d))
    e = d / norm if norm > 1e-3 else np.array([0.0, 1.0])
    s = max(norm, 1e-3) / length
    n = np.array([-e[1], e[0]])
    rc = (rows - 1) / 2
    origin = a - _MARGIN * s * e - rc * scale * n
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


def _draw_figure(img: np.ndarray, kp: np.ndarray, look: Appearance) -> None:
    hips = (kp[_K["r_hip"]] + kp[_K["l_hip"]]) / 2
    height = max(float(np.linalg.norm(kp[_K["neck"]] - hips)) / 0.29, 20.0)
    scale = height / _TEXELS
    tiles = _wear(look)
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
        pa, pb = kp64[_K[a]], kp64[_K[b]]
        thickness = max(1, round(width * height))
        r = thickness / 2 + 2
        box = (min(pa[0], pb[0]) - r, min(pa[1], pb[1]) - r, max(pa[0], pb[0]) + r,
               max(pa[1], pb[1]) + r)  # fmt: skip
        sa, sb = np.round(pa * _ONE).astype(np.int32), np.round(pb * _ONE).astype(np.int32)

        def mask(m: np.ndarray, origin: np.ndarray) -> None:
            cv2.line(m, sa - origin, sb - origin, 255, thickness, cv2.LINE_AA, _SHIFT)

        _paint(canvas, tiles[tile], _limb_warp(pa, pb, tiles[tile], scale), box, mask)

    def disc(centre: str, towards: np.ndarray, tile: str, radius: float) -> None:
        c = kp64[_K[centre]]
        r = radius * height
        box = (c[0] - r - 2, c[1] - r - 2, c[0] + r + 2, c[1] + r + 2)
        sc = np.round(c * _ONE).astype(np.int32)

        def mask(m: np.ndarray, origin: np.ndarray) -> None:
            cv2.circle(m, sc - origin, round(r * _ONE), 255, -1, cv2.LINE_AA, _SHIFT)

        _paint(canvas, tiles[tile], _round_warp(c, towards, tiles[tile], scale), box, mask)

    for side in ("r", "l"):
        limb(f"{side}_hip", f"{side}_knee", f"{side}_thigh", 0.06)
        limb(f"{side}_knee", f"{side}_ankle", f"{side}_shin", 0.06)
    for side in ("r", "l"):
        disc(f"{side}_ankle", kp64[_K[f"{side}_knee"]], f"{side}_shoe", _ROUND["shoe"])
    _draw_torso(canvas, kp64, hips, tiles["torso"], height)
    limb("neck", "head", "neck", _LIMBS["neck"][1])
    for side in ("r", "l"):
        limb(f"{side}_shoulder", f"{side}_elbow", f"{side}_upper_arm", _LIMBS["upper_arm"][1])
        limb(f"{side}_elbow", f"{side}_wrist", f"{side}_forearm", _LIMBS["forearm"][1])
    for side in ("r", "l"):
        disc(f"{side}_wrist", kp64[_K[f"{side}_elbow"]], f"{side}_hand", _ROUND["hand"])
    disc("head", kp64[_K["neck"]], "head", _ROUND["head"])
    img[y0:y1, x0:x1] = canvas + np.float32(0.5)


def _draw_torso(
    canvas: np.ndarray, kp: np.ndarray, hips: np.ndarray, tile: np.ndarray, height: float
) -> None:
    """The shirt's torso: the shoulder-hip quadrilateral and a band from the neck to the hips,
    textured by the homography that takes the tile's body to the quadrilateral."""
    corners = np.stack([kp[_K[n]] for n in _TORSO])
    w, h = _TORSO_TEX
    m = _MARGIN
    src = np.array([[m, m], [m + w, m], [m + w, m + h], [m, m + h]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    band = max(1, round(0.12 * height))
    pts = np.vstack([corners, kp[_K["neck"]][None], hips[None]])
    r = band / 2 + 2
    box = (*(pts.min(axis=0) - r), *(pts.max(axis=0) + r))
    quad = np.round(corners * _ONE).astype(np.int32)
    neck = np.round(kp[_K["neck"]] * _ONE).astype(np.int32)
    mid = np.round(hips * _ONE).astype(np.int32)

    def mask(mk: np.ndarray, origin: np.ndarray) -> None:
        cv2.fillConvexPoly(mk, quad - origin, 255, cv2.LINE_AA, _SHIFT)
        cv2.line(mk, neck - origin, mid - origin, 255, band, cv2.LINE_AA, _SHIFT)

    _paint(canvas, tile, warp, box, mask)  # type: ignore[arg-type]


def _degrade(
    img: np.ndarray, rng: np.random.Generator, rand: Randomisation, noise_bank: np.ndarray
) -> np.ndarray:
    gain = rng.uniform(*rand.gain)
    offset = rng.uniform(*rand.offset)
    sigma = rng.uniform(*rand.noise_sigma)
    blur = rng.random() < rand.blur_prob
    out = img.astype(np.float32)
    if blur:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    out = out * gain + offset
    if sigma > 0:
        dy, dx = rng.integers(0, 32, size=2)
        out += sigma * noise_bank[dy : dy + FRAME_HEIGHT, dx : dx + FRAME_WIDTH]
    return np.clip(out, 0, 255).astype(np.uint8)


def detect_boxes(
    keypoints: np.ndarray,
    *,
    rng: np.random.Generator,
    miss_rate: float = 0.0,
    jitter: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Person-detector stand-in: boxes around the drawn figures, with misses and jitter.

    Args:
        keypoints: ``(..., 14, 2)`` true keypoints.
        rng: random source of misses and jitter.
        miss_rate: probability that a person is not detected, in [0, 1].
        jitter: standard deviation of the box centre shift and of the log box size, as a
            fraction of the box size.

    Returns:
        ``(..., 4)`` float32 boxes ``(x0, y0, x1, y1)`` and an ``(...)`` bool detected mask.
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim < 2 or kp.shape[-2:] != (N_KEYPOINTS, 2):
        raise CameraError(f"`keypoints` must have shape (..., {N_KEYPOINTS}, 2), got {kp.shape}")
    if not 0 <= miss_rate <= 1:
        raise CameraError(f"`miss_rate` must be in [0, 1], got {miss_rate!r}")
    if jitter < 0:
        raise CameraError(f"`jitter` must be >= 0, got {jitter!r}")
    lo, hi = kp.min(axis=-2), kp.max(axis=-2)
    height = np.maximum(hi[..., 1] - lo[..., 1], 1.0)
    pad = np.stack([0.08 * height, 0.09 * height], axis=-1)
    lo, hi = lo - pad, hi + pad * np.array([1.0, 0.4], dtype=np.float32)
    centre, size = (lo + hi) / 2, hi - lo
    shape = centre.shape
    centre = centre + jitter * size * rng.standard_normal(shape).astype(np.float32)
    size = size * np.exp(jitter * rng.standard_normal(shape)).astype(np.float32)
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=-1).astype(np.float32)
    detected = (rng.random(shape[:-1]) >= miss_rate) & ~np.isnan(boxes).any(axis=-1)
    return boxes, detected


def identify(
    true_ids: Sequence[str],
    *,
    rng: np.random.Generator,
    error_rate: float = 0.0,
    pool: Sequence[str] | None = None,
) -> list[str]:
    """Clock-in identity stand-in: each id is replaced by another from ``pool`` at ``error_rate``.

    ``pool`` defaults to the distinct ``true_ids``; an id with no alternative stays correct.
    """
    if not 0 <= error_rate <= 1:
        raise CameraError(f"`error_rate` must be in [0, 1], got {error_rate!r}")
    candidates = sorted(set(pool if pool is not None else true_ids))
    out = []
    for wid in true_ids:
        others = [c for c in candidates if c != wid]
        wrong = others and rng.random() < error_rate
        out.append(others[int(rng.integers(len(others)))] if wrong else wid)
    return out


def sample_poses(
    n: int,
    *,
    rng: np.random.Generator,
    height_px: tuple[float, float] = (75.0, 150.0),
    margin_px: float = 10.0,
) -> np.ndarray:
    """Random plausible standing, working and walking poses at random places and scales.

    A 2-D kinematic figure: lean of the torso, shoulder and elbow angles of the arms (from
    hanging down to reaching forward and up), hip and knee angles of the legs (stance to
    stride), a turn that narrows the shoulders and hips, and a facing (towards the camera,
    the worker's right on the image's left, or away from it).

    Returns:
        ``(n, 14, 2)`` float32 keypoints inside the frame (``margin_px`` from its edges).
    """
    if n < 0:
        raise CameraError(f"`n` must be >= 0, got {n}")
    h = rng.uniform(*height_px, size=n)
    turn = rng.uniform(0.35, 1.0, size=n) * np.where(rng.random(n) < 0.25, -1.0, 1.0)
    lean = rng.normal(0.0, 0.12, size=n) + np.where(
        rng.random(n) < 0.3, rng.uniform(-0.5, 0.5, size=n), 0.0
    )
    kp = np.zeros((n, N_KEYPOINTS, 2))
    up = np.stack([np.sin(lean), -np.cos(lean)], axis=-1)  # torso direction, hips -> neck
    across = np.stack([np.cos(lean), np.sin(lean)], axis=-1) * turn[:, None]
    hip_c = np.zeros((n, 2))
    neck = hip_c + up * (0.29 * h)[:, None]
    kp[:, _K["neck"]] = neck
    head_tilt = lean + rng.normal(0.0, 0.2, size=n)
    kp[:, _K["head"]] = (
        neck + np.stack([np.sin(head_tilt), -np.cos(head_tilt)], -1) * (0.11 * h)[:, None]
    )
    # The worker's right is on the image's left when facing the camera (turn > 0).
    for side, sign in (("r", -1.0), ("l", 1.0)):
        shoulder = neck + sign * across * (0.11 * h)[:, None] + up * (-0.02 * h)[:, None]
        hip = hip_c + sign * across * (0.07 * h)[:, None]
        kp[:, _K[f"{side}_shoulder"]] = shoulder
        kp[:, _K[f"{side}_hip"]] = hip
        arm = rng.uniform(-0.4, 2.6, size=n) * sign * np.sign(turn) + rng.normal(0, 0.15, n)
        fore = arm + rng.uniform(0.0, 2.0, size=n) * sign * np.sign(turn)
        elbow = shoulder + _direction(arm) * (0.17 * h)[:, None]
        kp[:, _K[f"{side}_elbow"]] = elbow
        kp[:, _K[f"{side}_wrist"]] = elbow + _direction(fore) * (0.16 * h)[:, None]
        thigh = rng.normal(0.0, 0.25, size=n) + sign * 0.05
        shin = thigh - rng.uniform(0.0, 0.6, size=n) * np.sign(rng.normal(size=n))
        knee = hip + _direction(thigh) * (0.25 * h)[:, None]
        kp[:, _K[f"{side}_knee"]] = knee
        kp[:, _K[f"{side}_ankle"]] = knee + _direction(shin) * (0.24 * h)[:, None]
    lo, hi = kp.min(axis=1), kp.max(axis=1)
    span = hi - lo
    x = rng.uniform(margin_px, np.maximum(FRAME_WIDTH - margin_px - span[:, 0], margin_px + 1))
    y = rng.uniform(margin_px, np.maximum(FRAME_HEIGHT - margin_px - span[:, 1], margin_px + 1))
    kp += (np.stack([x, y], axis=-1) - lo)[:, None, :]
    return kp.astype(np.float32)


def _direction(angle: np.ndarray) -> np.ndarray:
    """Unit vectors at ``angle`` radians from straight down, turning towards +x."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1)
