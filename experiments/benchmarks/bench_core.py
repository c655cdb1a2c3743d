"""Benchmark of the core model: worker-shifts scored per second on one core.

Inputs: T = 28,800 (an 8-hour shift at 1 Hz), m = 30 history records, n = 10 posts. Each
post's history statistics are computed once and amortised over the post's workers; a
worker-shift is scored when its Z and Y are known. The same inputs go through the literal
per-second transcription of MODEL.md (tests/core/literal_model.py) for the ratio.

Run: python experiments/benchmarks/bench_core.py [--workers-per-post 100]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import core
from tests.core import literal_model as literal

T, M, N = 28_800, 30, 10


def make_post(rng: np.random.Generator, post: int, workers: int):
    """History and workers of one post: mostly at the post, a break, some wandering."""
    p = np.full(N + 1, 0.02)
    p[post] = 0.0
    p[post] = 1.0 - p.sum()
    history = rng.choice(N + 1, size=(M, T), p=p).astype(np.int16)
    history[:, 14_400:15_300] = 0
    history_speeds = rng.gamma(4.0, 6.0, size=(M, T, 14)).astype(np.float32)
    positions = rng.choice(N + 1, size=(workers, T), p=p).astype(np.int16)
    speeds = rng.gamma(4.0, 6.0, size=(workers, T, 14)).astype(np.float32)
    return history, history_speeds, positions, speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers-per-post", type=int, default=100)
    parser.add_argument("--posts", type=int, default=3, help="posts timed (of the n = 10)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    params = core.ModelParams()
    scored, elapsed = 0, 0.0
    for post in range(1, args.posts + 1):
        history, history_speeds, positions, speeds = make_post(rng, post, args.workers_per_post)
        start = time.perf_counter()
        stats = core.history_stats(history, post, N, history_speeds)
        core.onpost_state_batch(stats, positions)
        core.proficiency_batch(stats, speeds, params)
        elapsed += time.perf_counter() - start
        scored += args.workers_per_post
    vectorised = scored / elapsed
    print(
        f"vectorised: {vectorised:,.0f} worker-shifts/s on one core "
        f"(T={T}, m={M}, n={N}, history stats amortised over {args.workers_per_post} workers/post)"
    )

    start = time.perf_counter()
    z = literal.onpost_state(history, positions[0], post, N)
    y = literal.proficiency(history, history_speeds, speeds[0], post, N, params.rho_min, params.eps)
    literal_s = time.perf_counter() - start
    stats = core.history_stats(history, post, N, history_speeds)
    assert abs(z - core.onpost_state_batch(stats, positions[:1])[0]) < 1e-9
    assert abs(y - core.proficiency_batch(stats, speeds[:1], params)[0]) < 1e-9
    print(
        f"literal per-second transcription: {1 / literal_s:.3f} worker-shifts/s "
        f"({literal_s:.1f} s each)"
    )
    print(f"ratio vectorised / literal: {vectorised * literal_s:,.0f}x")


if __name__ == "__main__":
    main()
