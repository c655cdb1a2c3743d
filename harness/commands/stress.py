"""``hazard-harness stress``: many posts in parallel — throughput, latency, memory, scaling.

A synthetic line of ``posts`` normal workers (chain correlation, one shift a day) is scored on
``days`` evaluated days; the scoring phase is timed with all workers busy and, for the scaling
efficiency, again with one task at a time on the same Ray instance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import core
import sim
from harness.adapters.mlflow_tracking import log_metrics, tracked_run
from harness.adapters.ray_cluster import warm_workers
from harness.commands import preflight
from harness.commands.context import command_context
from harness.evaluation import graders
from harness.evaluation.decisions import decide_shifts
from harness.evaluation.history import ensure_history
from harness.evaluation.scoring import PostShift, group_by_shift, score_posts
from harness.outputs.stress_report import plot_stress, stress_figures
from harness.runtime import settings, staging
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_count
from harness.runtime.storage import Location


@dataclass(frozen=True)
class StressConfig:
    """Arguments of a stress run, checked (see :func:`make_stress_config`)."""

    posts: int
    """Posts on the synthetic line."""
    days: int
    """Evaluated days (one shift a day)."""
    out_dir: Path
    """Where stress.json and stress.png go."""
    compute: preflight.Compute
    """Where the Ray work runs."""
    length_s: int = 28_800
    """Shift length in seconds (1 Hz)."""
    history_days: int = 5
    """History days simulated (cached) before the evaluated days."""
    per_post: int = 1
    """Workers on each post-shift."""
    seed: int = 0
    """Scenario seed."""
    baseline: bool = True
    """Also time one task at a time for the scaling efficiency."""
    cache_dir: Location = field(default_factory=settings.cache_dir)
    """History cache."""


def make_stress_config(
    *,
    posts: int,
    days: int,
    out_dir: str | Path,
    compute: preflight.ComputeOptions = preflight.ComputeOptions(),
    length_s: int = 28_800,
    history_days: int = 5,
    per_post: int = 1,
    seed: int = 0,
    baseline: bool = True,
    cache_dir: str | Path | None = None,
) -> StressConfig:
    """Check the arguments of a stress run before any work (:class:`HarnessError` if bad)."""
    counts = {"posts": posts, "days": days, "length-s": length_s, "history-days": history_days,
              "workers-per-post": per_post}  # fmt: skip
    for name, value in counts.items():
        check_count(name, value)
    if posts > sim.scenario.MAX_POSTS:
        raise HarnessError(f"--posts must be <= {sim.scenario.MAX_POSTS}, got {posts}")
    cache = settings.cache_dir(cache_dir)
    config = StressConfig(
        posts=posts, days=days, out_dir=preflight.check_writable(Path(out_dir), option="--out"),
        compute=preflight.compute(compute),
        length_s=length_s, history_days=history_days, per_post=per_post, seed=seed,
        baseline=baseline, cache_dir=preflight.check_cache(cache),
    )  # fmt: skip
    preflight.check_cost(stress_scenario(config), cache=cache, workers=config.compute.workers)
    preflight.check_tracking(config.compute.timeout)
    return config


def stress_scenario(config: StressConfig) -> sim.Scenario:
    """The synthetic line a stress run scores."""
    try:
        return sim.load_scenario(
            {
                "name": f"stress-{config.posts}",
                "seed": config.seed,
                "line": {"posts": config.posts, "correlation": "chain"},
                "shifts": {"per_day": 1, "length_s": config.length_s, "rate_hz": 1.0},
                "days": {"history": config.history_days, "evaluate": config.days},
                "workers": {"per_post": config.per_post},
                "equipment": {"fault_rate": 0.05},
            }
        )
    except sim.ScenarioError as exc:  # e.g. --length-s beyond a day
        raise HarnessError(f"stress line: {exc} (from --posts/--days/--length-s)") from None


def _timed_scoring(
    scenario: sim.Scenario, store_root: Path, in_flight: int, progress: bool
) -> tuple[float, list[PostShift]]:
    start = time.perf_counter()
    results = list(
        score_posts(scenario, store_root, core.ModelParams(), max_in_flight=in_flight,
                    progress=progress)
    )  # fmt: skip
    return time.perf_counter() - start, results


def since_process_start() -> float:
    """Wall seconds since this process started: the interpreter's start, the imports and the
    checks before the command."""
    import psutil

    return max(0.0, time.time() - psutil.Process().create_time())


def stress(config: StressConfig) -> dict[str, Any]:
    """Run the stress test, write ``stress.json`` and ``stress.png``, log to MLflow.

    ``stress.json``'s ``timings`` split the command's wall time into its phases up to the
    report (the fixed part: start, setup, Ray's start and shutdown; the work: history,
    scoring, baseline, decisions).
    """
    start_s = since_process_start()
    scenario = stress_scenario(config)
    c = config.compute
    started = time.perf_counter()
    params = {"posts": config.posts, "days": config.days, "workers": c.workers or "all",
              "length_s": config.length_s, "workers_per_post": config.per_post,
              "fidelity": "signal"}  # fmt: skip
    with command_context(config.out_dir) as ctx:
        ctx.track(
            tracked_run(
                experiment="hazard-harness/stress",
                run_name=f"stress-{config.posts}posts-{config.days}days",
                params=params,
                command="stress",
            )
        )
        start = time.perf_counter()
        with c.ray() as session:
            n_workers = session.workers
            in_flight = session.max_in_flight
            warm_workers(n_workers, module="harness.evaluation.scoring")
            ray_start_s = time.perf_counter() - start
            setup_s = start - started  # MLflow run and output folder
            start = time.perf_counter()
            root = ensure_history(
                scenario, config.cache_dir, max_in_flight=in_flight, progress=c.progress
            )
            history_s = time.perf_counter() - start
            wall, results = _timed_scoring(scenario, root, in_flight, c.progress)
            start = time.perf_counter()
            decide_shifts(
                scenario, group_by_shift(results), core.ModelParams(), levels_of=graders.true_levels
            )
            decide_s = time.perf_counter() - start
            baseline_wall = None
            if config.baseline and n_workers > 1:
                baseline_wall, _ = _timed_scoring(scenario, root, 1, c.progress)
            start = time.perf_counter()
        shutdown_s = time.perf_counter() - start
        line = {"posts": config.posts, "days": config.days, "workers": n_workers,
                "length_s": config.length_s, "workers_per_post": config.per_post}  # fmt: skip
        report = stress_figures(
            line, results, wall=wall, baseline_wall=baseline_wall, history_s=history_s,
            decide_s=decide_s,
        )  # fmt: skip
        report["ray_start_s"] = ray_start_s
        report["setup_s"] = setup_s
        fixed = {"start_s": start_s, "setup_s": setup_s, "ray_start_s": ray_start_s,
                 "ray_shutdown_s": shutdown_s}  # fmt: skip
        work = {"history_build_s": history_s, "scoring_s": wall, "decide_s": decide_s,
                "baseline_s": baseline_wall or 0.0}  # fmt: skip
        report["timings"] = {**fixed, **work, "fixed_s": sum(fixed.values()),
                             "total_s": start_s + time.perf_counter() - started}  # fmt: skip
        staging.write_json(ctx.stage / "stress.json", report)
        plot_stress(results, report, ctx.stage / "stress.png")
        log_metrics({k: v for k, v in report.items() if not isinstance(v, list)})
    return report
