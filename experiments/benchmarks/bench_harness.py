"""Benchmark of the harness: scaling, Ray + MLflow overhead, driver memory.

1. ``stress`` with 100 posts × 10 days, 8-hour shifts at 1 Hz, 2 workers (and its
   one-task-at-a-time baseline): post-shifts/s and the scaling efficiency from 1 to 2 workers.
2. Overhead: a whole ``stress`` command with one Ray worker (interpreter and Ray start,
   scheduling, object store, MLflow logging) against the same functions called in one
   process; and the scoring phase alone (Ray's scheduling and transfers only).
3. Driver peak memory of ``stress`` runs with 100 and 1,000 posts.

Each stress run is a separate process (peak memory is per process). History is cached in
``--cache`` and built before the timed parts.

Run: python experiments/benchmarks/bench_harness.py [--cache .hazard-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# one BLAS thread, as in a Ray worker, so the in-process baseline is like for like
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
sys.path.insert(0, str(ROOT))


def stress(out: Path, cache: Path, *extra: str) -> tuple[dict, float]:
    """Run ``hazard-harness stress`` in a subprocess; returns its report and wall time."""
    cmd = [sys.executable, "-m", "harness.cli", "stress", "--out", str(out), "--cache", str(cache),
           "--no-progress", *extra]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=out.parent, capture_output=True)
    wall = time.perf_counter() - start
    return json.loads((out / "stress.json").read_text()), wall


def in_process(posts: int, days: int, length_s: int, history_days: int, cache: Path) -> float:
    """The scoring phase of a stress run (history stats, simulation, Z and Y), as plain calls
    in this process; the line decisions run after it, untimed, as in ``stress``."""
    import core
    from harness.adapters.ray_cluster import ray_session
    from harness.commands.stress import make_stress_config, stress_scenario
    from harness.evaluation import graders
    from harness.evaluation.history import ensure_records
    from harness.evaluation.line import decide_shifts
    from harness.evaluation.scoring import group_by_shift, score_posts_task

    config = make_stress_config(posts=posts, days=days, out_dir=Path(tempfile.mkdtemp()),
                                length_s=length_s, history_days=history_days, cache_dir=cache,
                                workers=1)  # fmt: skip
    scenario = stress_scenario(config)
    with ray_session(address=None, workers=1, timeout=10):  # the history is cached: found only
        root = ensure_records(scenario, cache, max_in_flight=1, progress=False)
    params = core.ModelParams()
    start = time.perf_counter()
    all_posts = tuple(range(1, posts + 1))
    results = score_posts_task(scenario, str(root), all_posts, params)  # the tasks' body
    seconds = time.perf_counter() - start
    by_shift = group_by_shift(results)
    decide_shifts(scenario, by_shift, params, levels_of=graders.true_levels)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / ".hazard-cache")
    parser.add_argument("--posts", type=int, default=100)
    args = parser.parse_args()
    from harness.runtime import logs

    logs.configure(verbose=False)  # the commands' console policy (harness.runtime.logs)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tempfile.mkdtemp()}/mlflow.db")
    work = Path(tempfile.mkdtemp())
    cache = args.cache.resolve()
    days = 10
    base = ["--posts", str(args.posts), "--days", str(days), "--history-days", "3"]

    # warm the history cache (not timed)
    stress(work / "warm", cache, *base, "--workers", "2", "--no-baseline")

    report, _ = stress(work / "scaling", cache, *base, "--workers", "2")
    print(f"[scaling] {args.posts} posts × {days} days, 8-hour shifts: "
          f"{report['throughput_one_worker']:.2f} post-shifts/s with 1 worker, "
          f"{report['throughput_post_shifts_per_s']:.2f} with 2; "
          f"scaling efficiency {report['scaling_efficiency']:.3f}; "
          f"latency p50 {report['latency_p50_s'] * 1e3:.0f} ms, "
          f"p99 {report['latency_p99_s'] * 1e3:.0f} ms; "
          f"worker peak RSS {report['worker_peak_rss_mb']:.0f} MB")  # fmt: skip

    # this machine's speed drifts by tens of percent: bracket the Ray run with plain runs
    before = in_process(args.posts, days, 28_800, 3, cache)
    one, ray_wall = stress(work / "one", cache, *base, "--workers", "1", "--no-baseline")
    after = in_process(args.posts, days, 28_800, 3, cache)
    plain = (before + after) / 2
    print(f"[overhead] stress command with 1 Ray worker + MLflow: {ray_wall:.1f} s "
          f"(setup {one['setup_s']:.1f} s, Ray start {one['ray_start_s']:.1f} s, "
          f"scoring {one['scoring_wall_s']:.1f} s); same functions in one process: "
          f"{plain:.1f} s (mean of {before:.1f} s before, {after:.1f} s after); "
          f"overhead share of the command's wall time "
          f"{(ray_wall - plain) / ray_wall:.1%}, of the scoring phase "
          f"{(one['scoring_wall_s'] - plain) / one['scoring_wall_s']:.1%}")  # fmt: skip

    short = ["--days", "1", "--history-days", "2", "--length-s", "1800", "--workers", "2",
             "--no-baseline"]  # fmt: skip
    small, _ = stress(work / "m100", cache, "--posts", "100", *short)
    large, _ = stress(work / "m1000", cache, "--posts", "1000", *short)
    print(f"[memory] driver peak RSS: {small['driver_peak_rss_mb']:.0f} MB at 100 posts, "
          f"{large['driver_peak_rss_mb']:.0f} MB at 1,000 posts "
          f"(ratio {large['driver_peak_rss_mb'] / small['driver_peak_rss_mb']:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
