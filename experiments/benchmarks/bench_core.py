"""Benchmark of the core model: worker-shifts scored per second on one core, and the cost of
the rolling post database.

Inputs: T = 28,800 (an 8-hour shift at 1 Hz), m = 30 history records, n = 10 posts. Each
post's history statistics are computed once and amortised over the post's workers; a
worker-shift is scored when its Z and Y are known. The same inputs go through the literal
per-second transcription of MODEL.md (tests/core/literal_model.py) for the ratio.

Rolling window: one post, one worker per post-shift, two shifts a day, the default database
(``history_pool = "post"``, W = 30 days: m = 60 records). History statistics per evaluated
day: sliding a :class:`core.HistoryWindow` by one day (add 2 records, remove 2) against
recomputing :func:`core.history_stats` over the window's 60 records, against a static
database computed once (today's fixed history, amortised over the evaluated days). Reading
the records from the store is not counted (a slide reads 2 records, a recount 60).

Times are CPU seconds of this (single-threaded) process: on a shared machine they vary far
less than wall time. The compiled loops (``core._kernels``) are loaded before anything is
timed; their one-time load (or first compile) is printed apart: a process pays it once.

Goals (issue 26): ≥ 2,500 worker-shifts/s on one core, ≥ 5,000× the literal transcription, a
slide ≤ ¼ of a recompute at every n.

Run: python experiments/benchmarks/bench_core.py [--workers-per-post 100] [--rolling-posts 10 300]
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
GOAL_RATE, GOAL_RATIO, GOAL_SLIDE = 2_500, 5_000, 0.25


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


def rolling_window(n_posts: int, *, days: int, window: int = 30, shifts: int = 2) -> None:
    """Print the history statistics' cost per evaluated day of the three ways of building them."""
    rng = np.random.default_rng(1)
    p = np.full(n_posts + 1, 0.1 / n_posts)
    p[1] = 0.9
    total = (window + days) * shifts  # record k is day k // shifts + 1
    positions = rng.choice(n_posts + 1, size=(total, T), p=p).astype(np.int16)
    speeds = rng.gamma(4.0, 6.0, size=(total, T, 14)).astype(np.float32)
    first = window * shifts  # the first evaluated day's window: records [0, first)

    def span(day: int) -> slice:  # evaluated day 0..days-1: its window's records
        return slice(day * shifts, first + day * shifts)

    start = time.process_time()
    static = core.history_stats(positions[:first], 1, n_posts, speeds[:first])
    static_s = time.process_time() - start

    start = time.process_time()
    for day in range(days):
        fresh = core.history_stats(positions[span(day)], 1, n_posts, speeds[span(day)])
    recompute_s = (time.process_time() - start) / days

    sliding = core.HistoryWindow(post=1, n_posts=n_posts, T=T)
    sliding.add(positions[:first], speeds[:first])
    assert np.array_equal(sliding.stats().standard, static.standard)
    start = time.process_time()
    for day in range(days):
        if day:
            new = slice(first + (day - 1) * shifts, first + day * shifts)
            old = slice((day - 1) * shifts, day * shifts)
            sliding.add(positions[new], speeds[new])
            sliding.remove(positions[old], speeds[old])
        stats = sliding.stats()
    slide_s = (time.process_time() - start) / days
    assert np.array_equal(stats.standard, fresh.standard)
    assert np.max(np.abs(stats.rho - fresh.rho)) < 1e-9
    assert np.max(np.abs(stats.mean_speeds - fresh.mean_speeds)) < 1e-9
    print(
        f"rolling window, n={n_posts}, m={first} (W={window} days x {shifts} shifts), "
        f"{days} evaluated days: history stats per evaluated day "
        f"slide {1e3 * slide_s:.1f} ms, recompute {1e3 * recompute_s:.1f} ms: "
        f"slide / recompute {slide_s / recompute_s:.2f} (goal <= {GOAL_SLIDE}); "
        f"static {1e3 * static_s / days:.1f} ms (computed once: {1e3 * static_s:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers-per-post", type=int, default=100)
    parser.add_argument("--posts", type=int, default=3, help="posts timed (of the n = 10)")
    parser.add_argument(
        "--rolling-posts", type=int, nargs="*", default=[10, 300],
        help="line lengths n for the rolling-window figures",
    )  # fmt: skip
    parser.add_argument("--rolling-days", type=int, default=10, help="evaluated days timed")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    params = core.ModelParams()
    start = time.process_time()
    history, history_speeds, positions, speeds = make_post(rng, 1, 2)
    warm = core.history_stats(history[:2, :50], 1, N, history_speeds[:2, :50])
    core.proficiency_batch(warm, speeds[:, :50], params)
    core.proficiency_batch(warm, speeds[:, :50].astype(np.float64), params)
    print(
        f"compiled loops loaded in {time.process_time() - start:.2f} s (once per process; "
        "the first process on a machine compiles them, later ones load the cache)"
    )
    scored, elapsed = 0, 0.0
    for post in range(1, args.posts + 1):
        history, history_speeds, positions, speeds = make_post(rng, post, args.workers_per_post)
        start = time.process_time()
        stats = core.history_stats(history, post, N, history_speeds)
        core.onpost_state_batch(stats, positions)
        core.proficiency_batch(stats, speeds, params)
        elapsed += time.process_time() - start
        scored += args.workers_per_post
    vectorised = scored / elapsed
    print(
        f"vectorised: {vectorised:,.0f} worker-shifts/s on one core (goal >= {GOAL_RATE:,}) "
        f"(T={T}, m={M}, n={N}, history stats amortised over {args.workers_per_post} workers/post)"
    )

    start = time.process_time()
    z = literal.onpost_state(history, positions[0], post, N)
    y = literal.proficiency(history, history_speeds, speeds[0], post, N, params.rho_min, params.eps)
    literal_s = time.process_time() - start
    stats = core.history_stats(history, post, N, history_speeds)
    assert abs(z - core.onpost_state_batch(stats, positions[:1])[0]) < 1e-9
    assert abs(y - core.proficiency_batch(stats, speeds[:1], params)[0]) < 1e-9
    print(
        f"literal per-second transcription: {1 / literal_s:.3f} worker-shifts/s "
        f"({literal_s:.1f} s each)"
    )
    print(f"ratio vectorised / literal: {vectorised * literal_s:,.0f}x (goal >= {GOAL_RATIO:,}x)")
    for n_posts in args.rolling_posts:
        rolling_window(n_posts, days=args.rolling_days)


if __name__ == "__main__":
    main()
