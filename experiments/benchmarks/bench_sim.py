"""Simulator throughput: worker-shifts per second, and a month of 10-post history with writes.

Run: ``python3 experiments/benchmarks/bench_sim.py [--shifts N] [--days D]`` (one core).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass

from sim import HistoryStore, build_history, load_scenario, simulate_workers


@dataclass(frozen=True)
class Config:
    """Benchmark settings."""

    shifts: int = 200
    """Worker-shifts timed for the throughput figure."""
    posts: int = 10
    """Posts of the history line."""
    days: int = 30
    """History days (× 2 shifts × posts worker-shifts)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shifts", type=int, default=Config.shifts)
    parser.add_argument("--days", type=int, default=Config.days)
    args = parser.parse_args()
    cfg = Config(shifts=args.shifts, days=args.days)

    scenario = load_scenario(
        {
            "name": "bench",
            "seed": 1,
            "line": {"posts": cfg.posts},
            "shifts": {"per_day": 2, "length_s": 28800, "rate_hz": 1.0, "breaks": [[14400, 15300]]},
            "days": {"history": cfg.days, "evaluate": 1},
            "workers": {
                "cast": [{"post": 3, "profile": "wanderer"}, {"post": 5, "profile": "novice"}]
            },
        }
    )
    simulate_workers(scenario, post=1, day=1, shift="day")  # warm-up
    start = time.perf_counter()
    for k in range(cfg.shifts):
        post = k % cfg.posts + 1
        simulate_workers(scenario, post=post, day=k // cfg.posts + 1, shift="day")
    rate = cfg.shifts / (time.perf_counter() - start)
    print(f"signal fidelity, 8-h shifts at 1 Hz: {rate:.0f} worker-shifts/s (one core)")

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        build_history(scenario, HistoryStore(root))
        elapsed = time.perf_counter() - start
    n = cfg.days * 2 * cfg.posts
    print(f"history of {cfg.days} days × 2 shifts × {cfg.posts} posts ({n} worker-shifts,")
    print(f"  Parquet writes included): {elapsed:.1f} s")


if __name__ == "__main__":
    main()
