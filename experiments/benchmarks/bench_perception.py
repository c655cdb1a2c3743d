"""Perception benchmark: throughput per stage with ONNX Runtime and torch side by side, keypoint
PCK / OKS AP, speed error and area accuracy, grading F1.

Run from the repository root (the shipped weights are the default):

    PYTHONPATH=. python3 experiments/benchmarks/bench_perception.py [--weights FILE]

Everything runs on one CPU thread. The throughput figures time what
``harness.evaluation.pixels.perceive_worker`` does per worker-frame, rendering excluded: crop
warps,
network, heatmap decoding, foot-heatmap warps, grey conversion + fused Lucas-Kanade, floor
accumulation + area lookup; ``end to end`` is ``perceive_worker`` itself. Each figure is
given per wall-clock second and per CPU second of this process: on a shared machine other
processes stretch the first, not the second. The workers are simulated with a seed that is
neither a training seed nor ``perception eval``'s held-out one.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

import sim
from core.perception import (
    FloorAccumulator,
    KeypointRunner,
    KeypointTracker,
    PersonHeatmaps,
    area_of,
    crop_boxes,
    decode_heatmaps,
    difference_images,
    evaluate_grader,
    keypoint_runner,
    speed_median_rel_err,
    train_grader,
)
from harness.evaluation.pixels import (
    GRID_STRIDE,
    POST_FLOOR_PX,
    Chunk,
    perceive_worker,
    render_worker,
    true_speeds,
)
from harness.training.keypoints import evaluate_keypoints
from harness.weights import DEFAULT_KEYPOINT_WEIGHTS
from sim.photos import render_equipment_photo, standard_photo
from sim.registry import FACILITIES


@dataclass
class Config:
    weights: Path = DEFAULT_KEYPOINT_WEIGHTS
    """Keypoint weights (``perception train`` writes them; the shipped ones by default)."""
    eval_seed: int = 424242
    """Seed of the held-out keypoint frames (not a training seed)."""
    scenario_seed: int = 7
    """Seed of the simulated line whose workers are perceived (not perception eval's)."""
    length_s: float = 512.0
    """Seconds (frames at 1 Hz) per simulated worker; 3 posts, one worker each."""
    repeats: int = 3
    """Timed repetitions of each stage (the best is kept)."""
    grading_train: int = 600
    """Simulated shift changes to train the grading net on."""
    grading_seconds: float = 55.0
    """Wall-time budget of grading training."""


def simulated_workers(cfg: Config) -> list[tuple[sim.SimWorker, np.ndarray, list[Chunk]]]:
    """Three workers (a wanderer among them) with their camera tiles and rendered chunks."""
    scenario = sim.load_scenario(
        {
            "name": "bench-perception",
            "seed": cfg.scenario_seed,
            "line": {"posts": 3},
            "shifts": {"per_day": 1, "length_s": cfg.length_s},
            "days": {"history": 1, "evaluate": 1},
            "workers": {"cast": [{"post": 1, "shift": "day", "profile": "wanderer"}]},
        }
    )
    rng = np.random.default_rng(cfg.scenario_seed)
    out = []
    for post in (1, 2, 3):
        for w in sim.simulate_workers(scenario, post=post, day=1, shift="day", keypoints=True):
            areas = np.unique(w.true_positions).astype(np.int64)
            out.append((w, areas, list(render_worker(w, areas=areas, seed=cfg.scenario_seed,
                                                      rng=rng))))  # fmt: skip
    return out


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds of ``repeats`` calls, and the last result."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), result


def stage_times(
    runner: KeypointRunner, workers: list, repeats: int
) -> dict[str, tuple[float, float]]:
    """Microseconds per worker-frame (wall, CPU) of each stage of ``perceive_worker``."""
    totals: dict[str, list[float]] = {}
    frames = 0
    size = runner.input_size
    for _, areas, chunks in workers:
        for chunk in chunks:
            frames += len(chunk.frames)
            crop = _best(lambda c=chunk: crop_boxes(c.frames, c.boxes, size=size), repeats)
            crops, transforms = crop[2]  # type: ignore[misc]
            net = _best(lambda c=crops: runner(c), repeats)
            heatmaps = PersonHeatmaps(net[2], transforms, size)
            decode = _best(heatmaps.keypoints, repeats)
            keypoints = decode[2][0]  # type: ignore[index]
            feet = _best(
                lambda h=heatmaps: h.feet(frame_size=(240, 320), grid_stride=GRID_STRIDE), repeats
            )

            def lk(c: Chunk = chunk, k: np.ndarray = keypoints) -> None:
                tracker = KeypointTracker()
                for frame, points in zip(c.frames, k, strict=True):
                    tracker.update(frame, points)

            track = _best(lk, repeats)
            acc = _best(lambda f=feet[2], c=chunk, a=areas: _accumulate(f, c, a), repeats)
            for name, (wall, cpu, _) in {
                "crop warps": crop, "network": net, "decode": decode, "foot warps": feet,
                "fused LK (grey ROI)": track, "accumulate + areas": acc,
            }.items():  # fmt: skip
                totals.setdefault(name, [0.0, 0.0])
                totals[name][0] += wall
                totals[name][1] += cpu
    return {k: (v[0] / frames * 1e6, v[1] / frames * 1e6) for k, v in totals.items()}


def _accumulate(feet: np.ndarray, chunk: Chunk, areas: np.ndarray) -> np.ndarray:
    """The floor canvas of a chunk and the area of each peak, as ``perceive_worker`` does."""
    tile_w = 320 // GRID_STRIDE
    polygons = [np.add(POST_FLOOR_PX, [k * 320, 0]) for k in range(len(areas))]
    canvas = FloorAccumulator((240 // GRID_STRIDE, tile_w * len(areas)), alpha=0.05)
    peaks, _ = decode_heatmaps(canvas.accumulate(feet, chunk.tiles * tile_w))
    return area_of(peaks * GRID_STRIDE + (GRID_STRIDE - 1) / 2, polygons)


def end_to_end(runner: KeypointRunner, workers: list, repeats: int) -> dict[str, float]:
    """``perceive_worker`` over all workers: frames/s (wall, CPU), speed error, area accuracy."""
    frames = sum(len(w.true_positions) for w, _, _ in workers)

    def run() -> list[tuple[np.ndarray, np.ndarray]]:
        return [
            perceive_worker(chunks, net=runner, areas=areas, alpha=0.05, rate_hz=w.rate_hz)
            for w, areas, chunks in workers
        ]

    wall, cpu, results = _best(run, repeats)
    speeds = np.concatenate([s for _, s in results])  # type: ignore[union-attr]
    truth = np.concatenate([true_speeds(w) for w, _, _ in workers])
    hits = np.concatenate(
        [p == w.true_positions for (p, _), (w, _, _) in zip(results, workers, strict=True)]  # type: ignore[arg-type]
    )
    return {
        "frames_per_s": frames / wall,
        "frames_per_cpu_s": frames / cpu,
        "speed_median_rel_err": speed_median_rel_err(speeds, truth),
        "area_accuracy": float(hits.mean()),
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
    parser.add_argument("--skip-grading", action="store_true", help="skip the grading net")
    args = parser.parse_args()
    cfg = Config(weights=args.weights)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    runners = {rt: keypoint_runner(cfg.weights, runtime=rt, device="cpu") for rt in
               ("onnxruntime", "torch")}  # fmt: skip
    scores = evaluate_keypoints(runners["onnxruntime"], seed=cfg.eval_seed)
    print(f"keypoint weights: {cfg.weights}")
    print(f"pck@0.2torso: {scores['pck']:.4f}   oks_ap: {scores['oks_ap']:.4f}  "
          f"(held-out seed {cfg.eval_seed})")  # fmt: skip
    workers = simulated_workers(cfg)
    print(f"\nthroughput, one thread, {sum(len(w.true_positions) for w, _, _ in workers)} "
          "worker-frames (us per worker-frame: wall / CPU)")  # fmt: skip
    stages = {rt: stage_times(r, workers, cfg.repeats) for rt, r in runners.items()}
    print(f"{'stage':<22}{'onnxruntime':>22}{'torch':>22}")
    for name in stages["torch"]:
        cells = [f"{stages[rt][name][0]:8.0f} / {stages[rt][name][1]:6.0f}" for rt in runners]
        print(f"{name:<22}{cells[0]:>22}{cells[1]:>22}")
    for rt, runner in runners.items():
        total = end_to_end(runner, workers, cfg.repeats)
        print(
            f"end to end ({rt}): {total['frames_per_s']:.0f} worker-frames/s wall, "
            f"{total['frames_per_cpu_s']:.0f} per CPU second; speed_median_rel_err "
            f"{total['speed_median_rel_err']:.4f}, area_accuracy {total['area_accuracy']:.4f}"
        )
    if args.skip_grading:
        return
    train = shift_changes(1, cfg.grading_train, seed=11)
    test = shift_changes(1, 400, seed=12)
    grader, history = train_grader(
        *train, seed=0, epochs=200, max_seconds=cfg.grading_seconds, device="cpu"
    )
    result = evaluate_grader(grader, *test)
    print(
        f"\ngrading_macro_f1: {result['macro_f1']:.4f}  accuracy: {result['accuracy']:.4f}  "
        f"(trained {history['epochs']} epochs in {history['seconds']:.1f} s on 1 thread)"
    )


if __name__ == "__main__":
    main()
