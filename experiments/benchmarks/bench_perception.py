"""Perception benchmark: keypoint PCK / OKS AP, worker-frames per second, speed error, grading F1.

Run from the repository root, after training keypoint weights with the project command:

    PYTHONPATH=. python3 experiments/benchmarks/bench_perception.py \
        --weights DIR/keypoint_net.safetensors

Everything runs on one CPU thread. Rendering is excluded from the throughput figure, which
times keypoints (crop, batched inference, decoding) + LK speeds + foot-heatmap accumulation
and area lookup.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.perception import (
    decode_heatmaps,
    difference_images,
    evaluate_grader,
    foot_heatmaps,
    from_crop,
    heatmap_to_crop,
    infer_heatmaps,
    keypoint_speeds,
    load_model,
    speed_median_rel_err,
    track_positions,
    train_grader,
)
from harness.perception import evaluate_keypoints
from sim.camera import (
    FRAME_HEIGHT,
    FRAME_WIDTH,
    detect_boxes,
    random_appearance,
    random_scene,
    render_frames,
    sample_poses,
)
from sim.photos import FACILITIES, render_equipment_photo, standard_photo


@dataclass
class Config:
    weights: Path = Path("runs/perception/keypoint_net.safetensors")
    """Keypoint weights written by ``perception train``."""
    eval_seed: int = 424242
    """Seed of the held-out keypoint frames (not a training seed)."""
    workers: int = 8
    """Workers in the throughput run."""
    frames: int = 64
    """Frames per worker in the throughput run (1 Hz)."""
    grading_train: int = 600
    """Simulated shift changes to train the grading net on."""
    grading_seconds: float = 55.0
    """Wall-time budget of grading training."""


def walking_tracks(rng: np.random.Generator, workers: int, frames: int) -> np.ndarray:
    """``(workers, frames, 14, 2)`` poses drifting at 0-25 px/s with jittering limbs."""
    start = sample_poses(workers, rng=rng, height_px=(100, 120), margin_px=60)
    velocity = rng.uniform(-25, 25, size=(workers, 1, 2)).astype(np.float32)
    t = np.arange(frames, dtype=np.float32)[None, :, None]
    drift = velocity * t
    drift -= drift.mean(axis=1, keepdims=True)
    wobble = rng.normal(0, 1.5, size=(workers, frames, 14, 2)).astype(np.float32)
    kp = start[:, None] + drift[:, :, None] + wobble
    return np.clip(kp, 5, [FRAME_WIDTH - 5, FRAME_HEIGHT - 5]).astype(np.float32)


def throughput(net: torch.nn.Module, cfg: Config) -> dict[str, float]:
    """Worker-frames per second through keypoints + LK + accumulation, and speed error."""
    rng = np.random.default_rng(7)
    tracks = walking_tracks(rng, cfg.workers, cfg.frames)
    polygons = [
        np.array([[0, 120], [160, 120], [160, 240], [0, 240]]),
        np.array([[160, 120], [320, 120], [320, 240], [160, 240]]),
    ]
    videos = [
        render_frames(
            tr[:, None],
            appearances=[random_appearance(rng)],
            rng=rng,
            scene=random_scene(rng, n_equipment=1),
        )
        for tr in tracks
    ]
    boxes = [detect_boxes(tr, rng=rng, jitter=0.05)[0] for tr in tracks]
    start = time.perf_counter()
    all_speeds = []
    for video, box in zip(videos, boxes, strict=True):
        heatmaps, transforms = infer_heatmaps(net, video, box)
        peaks, _ = decode_heatmaps(heatmaps)
        points = from_crop(heatmap_to_crop(peaks), transforms, size=net.input_size)
        speeds, _ = keypoint_speeds(video, points, rate_hz=1.0)
        feet = foot_heatmaps(
            heatmaps, transforms, input_size=net.input_size, frame_size=(FRAME_HEIGHT, FRAME_WIDTH)
        )
        track_positions(feet, polygons, alpha=0.05, grid_stride=4)
        all_speeds.append(speeds)
    elapsed = time.perf_counter() - start
    true = np.linalg.norm(np.diff(tracks, axis=1), axis=-1)
    pred = np.stack(all_speeds)[:, 1:]
    return {
        "frames_per_s": cfg.workers * cfg.frames / elapsed,
        "speed_median_rel_err": speed_median_rel_err(pred, true, min_speed=5.0),
    }


def shift_changes(post: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stand-in for the simulator's shift changes: photos' difference images, env, levels."""
    rng = np.random.default_rng(seed)
    photos, env, levels = [], [], []
    for _ in range(n):
        shift = rng.uniform(0, 12) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
        missing = frozenset(
            rng.choice(FACILITIES, size=rng.choice(3, p=[0.5, 0.3, 0.2]), replace=False).tolist()
        )
        reading = rng.normal([25.0, 50.0, 101.3], [5.0, 12.0, 0.8])
        score = np.linalg.norm(shift) / 4 + 1.5 * len(missing) + (reading[0] > 32)
        photos.append(
            render_equipment_photo(post, displacement_px=tuple(shift), missing=missing, rng=rng)
        )
        env.append(reading)
        levels.append(min(4, int(score)))
    diff = difference_images(np.stack(photos), standard_photo(post))
    return diff, np.array(env), np.array(levels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=Config.weights)
    cfg = Config(weights=parser.parse_args().weights)
    torch.set_num_threads(1)
    net, metadata = load_model(cfg.weights)
    print(
        f"keypoint weights: {cfg.weights} (trained {metadata.get('steps')} steps, "
        f"seed {metadata.get('seed')})"
    )
    scores = evaluate_keypoints(net, seed=cfg.eval_seed)
    print(
        f"pck@0.2torso: {scores['pck']:.4f}   oks_ap: {scores['oks_ap']:.4f}  "
        f"(held-out seed {cfg.eval_seed})"
    )
    for name, value in throughput(net, cfg).items():
        print(f"{name}: {value:.4f}")
    train = shift_changes(1, cfg.grading_train, seed=11)
    test = shift_changes(1, 400, seed=12)
    grader, history = train_grader(*train, seed=0, epochs=200, max_seconds=cfg.grading_seconds)
    result = evaluate_grader(grader, *test)
    print(
        f"grading_macro_f1: {result['macro_f1']:.4f}  accuracy: {result['accuracy']:.4f}  "
        f"(trained {history['epochs']} epochs in {history['seconds']:.1f} s on 1 thread)"
    )


if __name__ == "__main__":
    main()
