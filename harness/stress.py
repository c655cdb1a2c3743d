"""``hazard-harness stress``: many posts in parallel — throughput, latency, memory, scaling.

A synthetic line of ``posts`` normal workers (chain correlation, one shift a day) is scored on
``days`` evaluated days; the scoring phase is timed with all workers busy and, for the scaling
efficiency, again with one task at a time on the same Ray instance.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import core
import sim
from harness import outputs
from harness._errors import HarnessError
from harness.execution import ray_session, warm_workers
from harness.pipeline import (
    PostShift,
    decide_shifts,
    ensure_history,
    group_by_shift,
    score_posts,
    true_levels,
)
from harness.run import check_workers, max_in_flight
from harness.tracking import log_metrics, sigterm_as_interrupt, tracked_run


@dataclass(frozen=True)
class StressConfig:
    """Arguments of a stress run."""

    posts: int
    """Posts on the synthetic line."""
    days: int
    """Evaluated days (one shift a day)."""
    out_dir: Path
    """Where stress.json and stress.png go."""
    workers: int | None = None
    """Ray workers (local CPUs, or tasks in flight on a cluster)."""
    address: str | None = None
    """Ray cluster address."""
    length_s: int = 28_800
    """Shift length in seconds (1 Hz)."""
    history_days: int = 5
    """History days simulated (cached) before the evaluated days."""
    seed: int = 0
    """Scenario seed."""
    baseline: bool = True
    """Also time one task at a time for the scaling efficiency."""
    cache_dir: Path = Path(".hazard-cache")
    """History cache."""
    progress: bool = True
    """Show progress bars."""


def stress_scenario(config: StressConfig) -> sim.Scenario:
    """The synthetic line a stress run scores."""
    for name in ("posts", "days", "length_s", "history_days"):
        value = getattr(config, name)
        if value < 1:
            raise HarnessError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    check_workers(config.workers)
    return sim.load_scenario(
        {
            "name": f"stress-{config.posts}",
            "seed": config.seed,
            "line": {"posts": config.posts, "correlation": "chain"},
            "shifts": {"per_day": 1, "length_s": config.length_s, "rate_hz": 1.0, "breaks": []},
            "days": {"history": config.history_days, "evaluate": config.days},
            "workers": {"per_post": 1, "cast": []},
            "equipment": {"fault_rate": 0.05, "faults": []},
            "environment": {
                "temperature_c": {"mean": 24, "sd": 2},
                "humidity_pct": {"mean": 50, "sd": 8},
                "pressure_kpa": {"mean": 101.3, "sd": 0.4},
                "excursions": [],
            },
            "fidelity": "signal",
        }
    )


def _timed_scoring(
    scenario: sim.Scenario, store_root: Path, in_flight: int, progress: bool
) -> tuple[float, list[PostShift]]:
    start = time.perf_counter()
    results = list(
        score_posts(scenario, store_root, core.ModelParams(), max_in_flight=in_flight,
                    progress=progress)
    )  # fmt: skip
    return time.perf_counter() - start, results


def stress(config: StressConfig) -> dict[str, Any]:
    """Run the stress test, write ``stress.json`` and ``stress.png``, log to MLflow."""
    scenario = stress_scenario(config)
    workers = config.workers
    started = time.perf_counter()
    with sigterm_as_interrupt(), outputs.staged(config.out_dir) as staging, tracked_run(
        experiment="hazard-harness/stress",
        run_name=f"stress-{config.posts}posts-{config.days}days",
        params={"posts": config.posts, "days": config.days, "workers": workers or "all",
                "length_s": config.length_s, "fidelity": "signal"},
        tags={"command": "stress"},
    ):  # fmt: skip
        start = time.perf_counter()
        with ray_session(address=config.address, workers=workers):
            import ray

            n_workers = workers or int(ray.cluster_resources().get("CPU", 1))
            in_flight = max_in_flight(n_workers)
            warm_workers(n_workers, module="harness.pipeline")
            ray_start_s = time.perf_counter() - start
            setup_s = start - started  # MLflow run and output folder
            start = time.perf_counter()
            root = ensure_history(
                scenario, config.cache_dir, max_in_flight=in_flight, progress=config.progress
            )
            history_s = time.perf_counter() - start
            wall, results = _timed_scoring(scenario, root, in_flight, config.progress)
            start = time.perf_counter()
            decide_shifts(
                scenario, group_by_shift(results), core.ModelParams(), levels_of=true_levels
            )
            decide_s = time.perf_counter() - start
            baseline_wall = None
            if config.baseline and n_workers > 1:
                baseline_wall, _ = _timed_scoring(scenario, root, 1, config.progress)
        report = _figures(config, n_workers, wall, results, baseline_wall, history_s, decide_s)
        report["ray_start_s"] = ray_start_s
        report["setup_s"] = setup_s
        outputs.write_json(staging / "stress.json", report)
        _plot(results, report, staging / "stress.png")
        log_metrics({k: v for k, v in report.items() if not isinstance(v, (list, dict))})
        import mlflow

        mlflow.log_artifacts(str(staging))
    return report


def _figures(
    config: StressConfig,
    n_workers: int,
    wall: float,
    results: list[PostShift],
    baseline_wall: float | None,
    history_s: float,
    decide_s: float,
) -> dict[str, Any]:
    latencies = np.array([ps.seconds for ps in results])
    post_shifts = len(results)
    throughput = post_shifts / wall
    report: dict[str, Any] = {
        "posts": config.posts,
        "days": config.days,
        "workers": n_workers,
        "length_s": config.length_s,
        "post_shifts": post_shifts,
        "scoring_wall_s": wall,
        "throughput_post_shifts_per_s": throughput,
        "latency_p50_s": float(np.percentile(latencies, 50)),
        "latency_p90_s": float(np.percentile(latencies, 90)),
        "latency_p99_s": float(np.percentile(latencies, 99)),
        "worker_peak_rss_mb": max(ps.peak_rss for ps in results) / 2**20,
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "history_build_s": history_s,
        "decide_s": decide_s,
    }
    if baseline_wall is not None:
        one = post_shifts / baseline_wall
        report["throughput_one_worker"] = one
        report["scaling_efficiency"] = throughput / (n_workers * one)
    return report


def _plot(results: list[PostShift], report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.hist([ps.seconds * 1e3 for ps in results], bins=40, color="tab:blue")
    left.set_xlabel("latency per post-shift (ms)")
    left.set_ylabel("post-shifts")
    bars = {f"{report['workers']} workers": report["throughput_post_shifts_per_s"]}
    if "throughput_one_worker" in report:
        bars = {"1 worker": report["throughput_one_worker"], **bars}
    right.bar(list(bars), list(bars.values()), color="tab:green")
    right.set_ylabel("post-shifts / s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
