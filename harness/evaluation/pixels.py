"""The pixel fidelity: rendered frames through the perception stack.

**Pixel fidelity.** Per worker, in chunks of `CHUNK` samples (bounded memory at T = 28,800):
render the frame of the camera that sees the worker (:func:`sim.camera.render_frames`, the
worker alone, a fixed scene per camera), detector stand-in boxes, keypoint network → heatmaps
→ keypoints, Lucas–Kanade on the keypoints → speeds, foot heatmaps accumulated with
``ModelParams.alpha`` → area id of the accumulated peak. Identity comes from the clock-in
stand-in (:func:`sim.detection.identify`) with an error rate.

**Areas out of the post camera's view.** The simulator gives keypoints in the camera of the
area the worker is in: the post camera while at the post, another post's camera on a visit,
an aisle camera (same geometry) in area 0. A real plant follows a worker across its cameras
by re-identification; here the stand-in is the truth of which camera sees the worker. The
foot heatmaps of all cameras are laid side by side on one *floor canvas*, one
``CAMERA_SIZE`` tile per camera that saw the worker during the shift, and accumulated there
with forgetting, so a change of camera behaves like walking across one floor map: the peak
moves to the new tile about ``ln 2 / α`` samples (≈ 14 s at α = 0.05) after the switch. A
post tile's floor region is `POST_FLOOR_PX` (the post's floor as its camera sees it); the
aisle tile has none, so a peak there is area 0. Speeds are in pixels of whichever camera
sees the worker (as in the signal fidelity); at a change of camera the first speed of the new
camera repeats its second one, as :func:`core.perception.keypoint_speeds` does at row 0.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import core
import sim
from core.perception import (
    RUNTIMES,
    FloorAccumulator,
    KeypointNet,
    KeypointRunner,
    KeypointTracker,
    area_of,
    decode_heatmaps,
    infer_heatmaps,
    keypoint_runner,
    resolve_device,
)
from harness.runtime.errors import HarnessError
from sim.camera import Randomisation, Scene
from sim.camera import render_frames as render_camera_frames
from sim.detection import detect_boxes, identify
from sim.seeding import Stream, stream
from sim.wear import random_appearance

LOG = logging.getLogger(__name__)


CHUNK = 256
"""Samples rendered and perceived at a time (about 60 MB of frames)."""


GRID_STRIDE = 4
"""Frame pixels per floor-canvas pixel."""


BOX_JITTER = 0.05
"""Detector-box jitter (fraction of the box size), as in keypoint training."""


POST_FLOOR_PX: np.ndarray = np.array(
    [[10.0, 140.0], [310.0, 140.0], [310.0, 235.0], [10.0, 235.0]], dtype=np.float32
)
"""A post's floor as its own camera sees it (work and visit spots inside), frame pixels."""


FIXED_CAMERA = Randomisation(
    gain=(0.97, 1.03), offset=(-4.0, 4.0), noise_sigma=(1.0, 3.0), blur_prob=0.0,
    occlusion_prob=0.0,
)  # fmt: skip
"""A fixed camera: sensor noise and slight flicker from frame to frame, no moving occluders."""


@dataclass(frozen=True)
class Chunk:
    """Rendered frames of one worker and what the detector stand-in gives for them.

    Attributes:
        frames: ``(c, 240, 320, 3)`` uint8 frames of the cameras that see the worker.
        boxes: ``(c, 4)`` person boxes.
        tiles: ``(c,)`` floor-canvas tile (camera) of each frame.
    """

    frames: np.ndarray
    boxes: np.ndarray
    tiles: np.ndarray


@dataclass
class PixelSource:
    """Pixel fidelity: render frames and run the perception stack (see the module docstring).

    Picklable (Ray ships it to tasks); the network is loaded (hash-checked) once per process.

    Args:
        weights: keypoint-network weights (``perception train`` writes them).
        alpha: foot-heatmap accumulation weight (``ModelParams.alpha``).
        id_error_rate: probability that clock-in identity gives another worker of the post.
        threads: inference threads (torch and ONNX Runtime).
        runtime: ``"auto"``, ``"onnxruntime"`` or ``"torch"`` (see ``keypoint_runner``).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` for torch.
    """

    weights: str
    alpha: float = 0.05
    id_error_rate: float = 0.0
    threads: int = 1
    runtime: str = "auto"
    device: str = "auto"
    _net: KeypointRunner | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"`alpha` must be in (0, 1], got {self.alpha!r}")
        if not 0 <= self.id_error_rate <= 1:
            raise ValueError(f"`id_error_rate` must be in [0, 1], got {self.id_error_rate!r}")
        if self.runtime not in RUNTIMES:
            raise ValueError(f"`runtime` must be one of {list(RUNTIMES)}, got {self.runtime!r}")
        resolve_device(self.device)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_net": None}

    @property
    def net(self) -> KeypointRunner:
        """The keypoint network, ready for inference (loaded on first use)."""
        if self._net is None:
            self._net = keypoint_runner(
                self.weights, runtime=self.runtime, device=self.device, threads=self.threads
            )
        return self._net

    def __call__(
        self, scenario: sim.Scenario, *, post: int, day: int, shift: str
    ) -> list[sim.SimWorker]:
        workers = sim.simulate_workers(scenario, post=post, day=day, shift=shift, keypoints=True)
        shift_index = scenario.check_post_shift(post=post, day=day, shift=shift)
        rng = stream([scenario.seed, post, day, shift_index, Stream.PIXEL])
        ids = identify([w.record.worker for w in workers], rng=rng, error_rate=self.id_error_rate)
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            out = []
            for worker, wid in zip(workers, ids, strict=True):
                areas = _tile_areas(worker.true_positions)
                chunks = render_worker(worker, areas=areas, seed=scenario.seed, rng=rng)
                positions, speeds = perceive_worker(
                    chunks, net=self.net, areas=areas, alpha=self.alpha, rate_hz=worker.rate_hz
                )
                record = core.WorkerShift(
                    worker=wid, post=worker.record.post, positions=positions, speeds=speeds
                )
                out.append(dataclasses.replace(worker, record=record))
            return out
        finally:
            torch.set_num_threads(previous)


def _tile_areas(true_positions: np.ndarray) -> np.ndarray:
    """Areas of the cameras that see the worker during the shift, one canvas tile each."""
    return np.unique(true_positions).astype(np.int64)


def camera_scene(seed: int, area: int) -> Scene:
    """The fixed view of an area's camera: its floor colour, equipment behind the workers."""
    rng = stream([seed, area, Stream.PIXEL])
    floor = tuple(int(c) for c in rng.integers(90, 190, size=3))
    colour = tuple(int(c) for c in rng.integers(40, 200, size=3))
    x = int(rng.integers(0, 60))
    return Scene(
        floor=floor,  # type: ignore[arg-type]
        equipment=((x, 25, x + 70, 80), (x + 170, 15, x + 240, 75)),
        equipment_colour=colour,  # type: ignore[arg-type]
    )


def render_worker(
    worker: sim.SimWorker, *, areas: np.ndarray, seed: int, rng: np.random.Generator
) -> Iterator[Chunk]:
    """Render a worker's frames chunk by chunk, each frame in the camera of its area."""
    if worker.keypoints is None:
        raise ValueError("`worker.keypoints` must be simulated (simulate_workers(keypoints=True))")
    look = random_appearance(rng)
    scenes = {int(a): camera_scene(seed, int(a)) for a in areas}
    tile_of = np.searchsorted(areas, worker.true_positions)
    n = len(worker.keypoints)
    for start in range(0, n, CHUNK):
        kp = worker.keypoints[start : start + CHUNK]
        tiles = tile_of[start : start + CHUNK]
        frames = np.empty((len(kp), *sim.CAMERA_SIZE[::-1], 3), dtype=np.uint8)
        for tile in np.unique(tiles):
            rows = tiles == tile
            frames[rows] = render_camera_frames(
                kp[rows, None],
                appearances=[look],
                rng=rng,
                scene=scenes[int(areas[tile])],
                randomisation=FIXED_CAMERA,
            )
        boxes, _ = detect_boxes(kp, rng=rng, jitter=BOX_JITTER)
        yield Chunk(frames=frames, boxes=boxes, tiles=tiles)


def perceive_worker(
    chunks: Iterator[Chunk] | list[Chunk],
    *,
    net: KeypointNet | KeypointRunner,
    areas: np.ndarray,
    alpha: float,
    rate_hz: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints → fused LK speeds, and foot heatmaps → positions, over a worker's chunks.

    Per chunk the crops are cut and run through the network at once; then, frame by frame,
    the keypoint tracker (reset at each change of camera) gives the motion and the floor
    canvas accumulates the foot heatmap; the peaks of a chunk are looked up in the post
    polygons at once. Tracker and canvas carry their state from chunk to chunk, so chunking
    changes nothing in the result.

    Returns:
        ``(T,)`` int64 area ids and ``(T, 14)`` float32 speeds in px/s.
    """
    height, width = sim.CAMERA_SIZE[1], sim.CAMERA_SIZE[0]
    polygons = [np.add(POST_FLOOR_PX, [k * width, 0]) for k, a in enumerate(areas) if a > 0]
    area_of_polygon = np.concatenate([[0], areas[areas > 0]])
    tracker = KeypointTracker()
    tile_w = -(-width // GRID_STRIDE)
    canvas = FloorAccumulator((-(-height // GRID_STRIDE), tile_w * len(areas)), alpha=alpha)
    positions, displacements, run_starts = [], [], []
    last_tile = -1
    for chunk in chunks:
        heatmaps = infer_heatmaps(net, chunk.frames, chunk.boxes)
        keypoints, _ = heatmaps.keypoints()
        feet = heatmaps.feet(frame_size=(height, width), grid_stride=GRID_STRIDE)
        for i, (frame, tile) in enumerate(zip(chunk.frames, chunk.tiles, strict=True)):
            if tile != last_tile:
                tracker.reset()
                run_starts.append(len(displacements))
                last_tile = int(tile)
            displacements.append(tracker.update(frame, keypoints[i]))
        peaks, conf = decode_heatmaps(canvas.accumulate(feet, chunk.tiles * tile_w))
        peaks = np.where((conf > 0)[:, None], peaks * GRID_STRIDE + (GRID_STRIDE - 1) / 2, np.nan)
        found = area_of(peaks, polygons)
        positions.append(area_of_polygon[found])
    disp = np.stack(displacements) if displacements else np.zeros((0, core.N_KEYPOINTS, 2))
    # The first speed of a camera's run repeats its second one (keypoint_speeds' row 0).
    starts = set(run_starts)
    for start in run_starts:
        if start + 1 < len(disp) and start + 1 not in starts:
            disp[start] = disp[start + 1]
    speeds = np.nan_to_num(np.linalg.norm(disp, axis=-1) * rate_hz).astype(np.float32)
    return np.concatenate(positions) if positions else np.zeros(0, np.int64), speeds


def true_speeds(worker: sim.SimWorker) -> np.ndarray:
    """``(T, 14)`` speeds (px/s) of a worker's true keypoints, in the sources' convention.

    At a change of camera, and at row 0, the speed repeats the next row's.
    """
    if worker.keypoints is None:
        raise ValueError("`worker.keypoints` must be simulated (simulate_workers(keypoints=True))")
    step = np.linalg.norm(np.diff(worker.keypoints, axis=0), axis=-1) * worker.rate_hz
    speeds = np.concatenate([step[:1], step]).astype(np.float32)
    switch = np.flatnonzero(np.diff(worker.true_positions)) + 1
    keep = switch + 1 < len(speeds)
    speeds[switch[keep]] = speeds[switch[keep] + 1]
    return speeds


def check_keypoint_weights(path: str | os.PathLike[str]) -> Path:
    """Load ``path`` once to check it (and its sidecar) before any work.

    Raises:
        HarnessError: missing, unreadable or corrupt weights, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise HarnessError(
            f"keypoint weights {str(path)!r} are missing: train them with "
            f"`hazard-harness perception train --out {path.parent}` or pass their path"
        )
    fallback = onnx_fallback(str(path))
    if fallback:
        LOG.warning("keypoint weights %s: the ONNX graph is not used (%s); the pixel path runs "
                    "the network with torch", path, fallback)  # fmt: skip
    return path


@functools.cache
def onnx_fallback(path: str) -> str:
    """Why the ONNX graph beside the keypoint weights ``path`` cannot be used on the CPU
    (missing or corrupt: torch runs the network instead), or ``""`` (loaded once a process).

    Raises:
        HarnessError: the weights themselves (or their sidecar) do not load, naming the file.
    """
    try:
        return keypoint_runner(path, device="cpu").fallback
    except (core.ModelInputError, ValueError, OSError, RuntimeError) as exc:
        raise HarnessError(f"keypoint weights {str(path)!r} cannot be loaded: {exc}") from None


def weights_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a weights file (provenance of pixel-fidelity figures)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
