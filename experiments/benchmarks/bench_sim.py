"""Simulator throughput: worker-shifts per second (a fixed crew, and a workforce with every
feature on: rotation, floaters, absences, learning, fatigue, variation), and a month of
10-post history with writes.

Throughput is in CPU seconds of this single-threaded process (a shared machine's wall time
varies far more); the month of history, with its writes, in wall seconds. Goal (issue 26):
≥ 800 worker-shifts/s with the workforce.

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


def throughput(scenario: object, cfg: Config) -> float:
    """Worker-shifts per second simulating day and night shifts of every post, day by day."""
    simulate_workers(scenario, post=1, day=1, shift="day")  # warm-up (and the roster)
    done = 0
    start = time.process_time()
    for k in range(cfg.shifts):
        post, shift = k % cfg.posts + 1, ("day", "night")[(k // cfg.posts) % 2]
        done += len(
            simulate_workers(scenario, post=post, day=k // (2 * cfg.posts) + 1, shift=shift)
        )
    return done / (time.process_time() - start)


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
    rate = throughput(scenario, cfg)
    print(f"signal fidelity, 8-h shifts at 1 Hz: {rate:.0f} worker-shifts/s (one core)")
    data = scenario.model_dump(mode="json")
    data["workers"].update(
        floaters=2,
        absence_rate=0.05,
        rotation={"every_days": 7, "mode": "swap_shifts"},
        learning_days=8.0,
        fatigue={"day": 0.0, "night": 0.15},
        variation=0.05,
    )
    workforce = load_scenario(data)
    rate = throughput(workforce, cfg)
    print(f"  with the workforce (rotation, floaters, absences, learning, fatigue, variation): "
          f"{rate:.0f} worker-shifts/s (goal >= 800)")  # fmt: skip

    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        build_history(scenario, HistoryStore(root))
        elapsed = time.perf_counter() - start
    n = cfg.days * 2 * cfg.posts
    print(f"history of {cfg.days} days × 2 shifts × {cfg.posts} posts ({n} worker-shifts,")
    print(f"  Parquet writes included): {elapsed:.1f} s")


if __name__ == "__main__":
    main()
