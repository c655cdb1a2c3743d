"""A post's fixed camera: OpenCV rendering of the floor, equipment and articulated workers.

Convention shared with the simulator: every post camera gives a ``FRAME_WIDTH x FRAME_HEIGHT``
(320 x 240) BGR ``uint8`` image; keypoints are float32 pixel coordinates ``(..., 14, 2)`` as
``(x, y)`` in ``core.KEYPOINTS`` order, with pixel centres at integer coordinates (OpenCV's
convention); a standing worker is about 110 px tall. A worker whose keypoints are NaN is not
in view and is not drawn.

Workers are drawn in their work-wear (:mod:`sim.wear`, :mod:`sim.figure`). The stand-ins of a
real plant's other perception sources are in :mod:`sim.detection`, and the random-pose sampler
that makes keypoint-network training data in :mod:`sim.poses`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from core import N_KEYPOINTS
from sim._drawing import KEYPOINT, ONE, SHIFT
from sim._errors import CameraError
from sim.figure import draw_figure
from sim.layout import CAMERA_SIZE
from sim.wear import Appearance

FRAME_WIDTH, FRAME_HEIGHT = CAMERA_SIZE
"""Every camera image, as the layout defines it (:data:`sim.layout.CAMERA_SIZE`)."""


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
        pts = np.round(area * ONE).astype(np.int32)
        cv2.polylines(img, [pts], True, (0, 200, 230), 2, cv2.LINE_AA, SHIFT)
    return img


def _occluders(people: np.ndarray, rng: np.random.Generator, prob: float) -> list[_Block]:
    blocks = []
    for person in people:
        if prob <= 0 or np.isnan(person).any() or rng.random() >= prob:
            continue
        knee_y = float(person[[KEYPOINT["r_knee"], KEYPOINT["l_knee"]], 1].mean())
        foot_y = float(person[[KEYPOINT["r_ankle"], KEYPOINT["l_ankle"]], 1].max())
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
            foot_y = float(person[[KEYPOINT["r_ankle"], KEYPOINT["l_ankle"]], 1].max())
            items.append((foot_y, 1, p))
    items.extend((float(b.box[3]), 0, b) for b in blocks)
    for _, kind, item in sorted(items, key=lambda it: (it[0], it[1])):
        if kind == 1:
            draw_figure(img, people[item], appearances[item])  # type: ignore[index]
        else:
            _draw_block(img, item)  # type: ignore[arg-type]


def _draw_block(img: np.ndarray, block: _Block) -> None:
    x0, y0, x1, y1 = block.box
    top = tuple(min(255, int(c * 1.25) + 10) for c in block.colour)
    depth = max(3, (y1 - y0) // 5)
    cv2.rectangle(img, (x0, y0 - depth), (x1, y0), top, -1)
    cv2.rectangle(img, (x0, y0), (x1, y1), block.colour, -1)
    cv2.rectangle(img, (x0, y0 - depth), (x1, y1), tuple(c // 2 for c in block.colour), 1)


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
