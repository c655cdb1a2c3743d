"""How well the pixel path measures: keypoints on held-out rendered frames, speeds and areas
against the truth, and the grading DNNs on rendered photos (``perception eval``).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

import sim
from core.perception import (
    keypoint_speeds,
    speed_median_rel_err,
    to_gray,
)
from harness.evaluation.grading_data import held_out_grader, history_day_states
from harness.evaluation.pixels import (
    PixelSource,
    perceive_worker,
    render_worker,
    true_speeds,
)
from harness.training.keypoints import EVAL_SEED_OFFSET, evaluate_keypoints
from sim.seeding import stream


def evaluate_perception(
    weights: str | Path,
    *,
    seed: int,
    posts: int = 3,
    length_s: float = 600.0,
    frames: int = 512,
    grading_days: int = 40,
    grading_seconds: float = 60.0,
    runtime: str = "auto",
    device: str = "auto",
) -> dict[str, Any]:
    """The perception table of issue 4 on held-out data of ``seed + EVAL_SEED_OFFSET``.

    Keypoints on rendered frames; speeds and areas through
    :class:`harness.evaluation.pixels.PixelSource`
    on one simulated shift per post; a per-post grading net on shift-change photos labelled
    with the simulator's true levels, scored on held-out days (see :func:`_grading_f1`).
    ``frames_per_s`` is worker-frames per wall-clock second of :func:`perceive_worker` on one
    thread (rendering excluded); ``frames_per_cpu_s`` divides by the CPU time of this
    process instead, which other processes on a shared machine do not inflate.
    """
    torch.set_num_threads(1)
    cv2.setNumThreads(1)  # one core: OpenCV's warps and conversions would use every core
    held_out = seed + EVAL_SEED_OFFSET
    source = PixelSource(weights=str(weights), runtime=runtime, device=device)
    net = source.net
    table: dict[str, Any] = evaluate_keypoints(net, seed=held_out, n_frames=frames)
    scenario = sim.load_scenario(
        {
            "name": "perception-eval",
            "seed": held_out,
            "line": {"posts": posts},
            "shifts": {"per_day": 1, "length_s": length_s},
            "days": {"history": grading_days - 1, "evaluate": 1},
            "workers": {"cast": [{"post": 1, "shift": "day", "profile": "wanderer"}]},
            "equipment": {"fault_rate": 0.3},
        }
    )
    rng = stream(held_out)
    measured, truth, hits = [], [], []
    n_frames, perceive_s, perceive_cpu_s, lk_s, dense_s = 0, 0.0, 0.0, 0.0, 0.0
    for post in range(1, posts + 1):
        for w in sim.simulate_workers(scenario, post=post, day=1, shift="day", keypoints=True):
            areas = np.unique(w.true_positions).astype(np.int64)
            chunks = list(render_worker(w, areas=areas, seed=scenario.seed, rng=rng))
            start, start_cpu = time.perf_counter(), time.process_time()
            positions, speeds = perceive_worker(
                chunks, net=net, areas=areas, alpha=source.alpha, rate_hz=w.rate_hz
            )
            perceive_s += time.perf_counter() - start
            perceive_cpu_s += time.process_time() - start_cpu
            n_frames += len(positions)
            measured.append(speeds)
            truth.append(true_speeds(w))
            hits.append(positions == w.true_positions)
            lk, dense = _flow_seconds(chunks[0].frames, w.keypoints[: len(chunks[0].frames)])
            lk_s, dense_s = lk_s + lk, dense_s + dense
    table["speed_median_rel_err"] = speed_median_rel_err(
        np.concatenate(measured), np.concatenate(truth)
    )
    table["area_accuracy"] = float(np.concatenate(hits).mean())
    table["frames_per_s"] = n_frames / perceive_s
    table["frames_per_cpu_s"] = n_frames / perceive_cpu_s
    table["runtime"] = net.runtime
    table["lk_vs_dense_cost"] = lk_s / dense_s
    table["grading_macro_f1"], table["grading_per_post"] = _grading_f1(
        scenario, seconds=grading_seconds
    )
    return table


def _flow_seconds(frames: np.ndarray, keypoints: np.ndarray) -> tuple[float, float]:
    """Seconds of LK on the keypoints and of dense Farneback flow over the same frames."""
    start = time.perf_counter()
    keypoint_speeds(frames, keypoints, rate_hz=1.0)
    lk = time.perf_counter() - start
    gray = to_gray(frames)
    start = time.perf_counter()
    for a, b in itertools.pairwise(gray):
        cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    return lk, time.perf_counter() - start


def _grading_f1(
    scenario: sim.Scenario, *, seconds: float, rounds: int = 8
) -> tuple[float, list[float]]:
    """Mean over posts of the held-out macro F1 of a per-post grader on true levels.

    The examples are those of ``hazard-harness train`` (:mod:`harness.evaluation.grading_data`: real
    shift changes plus ``rounds`` of augmentation); the grader trains for ``seconds`` on all
    but the test days and is scored on the test days' examples.
    """
    days = list(scenario.history_days)
    states: dict[tuple[int, str], tuple[sim.PostState, ...]] = {}
    for day in days:
        states.update(history_day_states(scenario, day))
    scores = []
    for post in range(1, scenario.n_posts + 1):
        real = {key: by_post[post - 1] for key, by_post in states.items()}
        trained = held_out_grader(scenario, post, real, rounds=rounds, epochs=200,
                                  max_seconds=seconds)  # fmt: skip
        scores.append(trained.test["macro_f1"])
    return float(np.nanmean(scores)), scores
