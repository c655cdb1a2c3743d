"""Threshold-study throughput on cached features: trials/s with the exact threshold sweep and
with ``--sweep none``, and Optuna's share of the time.

Builds the scenario's features once on Ray (2 CPUs, true levels), scores Z and Y at every
grid point of the search space (``rho_min`` × ``eps`` × ``proficiency_seconds``; timed
apart: what a long study pays once), then runs a TPE study over MODEL.md's default space
from MODEL.md's start, once sweeping τ_Z and τ_Y and once sampling them, with the default
journal storage in a temporary folder. A trial is one point of the sampled parameters (with
its swept thresholds). Also prints each study's best root-cause F1 on these days against the
start's.

Run: ``python3 experiments/benchmarks/bench_tune.py [--trials N] [--scenario PATH]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.adapters import optuna_storage, optuna_studies
from harness.adapters.ray_cluster import ray_session
from harness.evaluation import graders
from harness.runtime import logs
from harness.tuning import build_features, get_objective, make_space
from harness.tuning._choice import Study, enqueue_start, rho_grid, score_grid
from harness.tuning._features import score_key
from harness.tuning._sweep import plan_sweep
from sim import load_scenario

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Config:
    """Benchmark settings."""

    scenario: Path = REPO / "experiments" / "scenarios" / "eight-post.yaml"
    """Scenario whose evaluated shifts are cached (8 posts, 14 evaluated days)."""
    trials: int = 1000
    """Trials per study."""
    workers: int = 2
    """Ray CPUs (and tasks per batch)."""
    batch_size: int = 64
    """Trials asked per batch (tune's default on 2 workers)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=Config.trials)
    parser.add_argument("--batch-size", type=int, default=Config.batch_size)
    parser.add_argument("--scenario", type=Path, default=Config.scenario)
    args = parser.parse_args()
    logs.configure(verbose=False)  # the commands' console policy (harness.runtime.logs)
    cfg = Config(scenario=args.scenario, trials=args.trials, batch_size=args.batch_size)

    scenario = load_scenario(cfg.scenario)
    objective = get_objective("root_cause_f1")
    with (
        ray_session(address=None, workers=cfg.workers, timeout=10) as session,
        tempfile.TemporaryDirectory() as tmp,
    ):
        features, cache = build_features(
            scenario, cache_dir=Path(".hazard-cache"), max_in_flight=session.max_in_flight,
            progress=False, levels_of=graders.true_levels,
        )  # fmt: skip
        space = make_space()
        cache = cache.with_rho_grid(rho_grid(space))
        started = time.perf_counter()
        cache.get(score_key(p) for p in score_grid(space))
        print(
            f"{scenario.name}: {len(features.shifts)} shifts, "
            f"{sum(len(s.rows) for s in features.shifts)} worker-shifts; Z and Y at "
            f"{len(cache)} grid points in {time.perf_counter() - started:.1f} s"
        )
        start_value = None
        store = optuna_storage.open_storage(Path(tmp) / "bench.journal")
        days = Study(features, cache, features.days)
        for sweep in ("thresholds", "none"):
            plan, _ = plan_sweep(sweep, [objective.name], dict(space.ranges), space.base)
            searched = space.without(plan.names if plan else ())
            study, _ = optuna_studies.create_study(
                name=sweep,
                store=store,
                directions=["maximize"],
                seed=scenario.seed,
                batch_size=cfg.batch_size,
            )
            enqueue_start(study, searched, space.base)
            stats = optuna_studies.optimize(
                study, distributions=searched.distributions(),
                evaluate_batch=days.evaluator((objective,), searched, plan, cfg.workers),
                n_complete=cfg.trials, batch_size=cfg.batch_size, store=store,
            )  # fmt: skip
            if sweep == "none":
                start_value = study.trials[0].value
            print(
                f"sweep {sweep}: {stats.trials} trials in {stats.seconds:.2f} s = "
                f"{stats.trials_per_s:.0f} trials/s; Optuna {stats.optuna_fraction:.0%} of the "
                f"time; best root-cause F1 {study.best_value:.3f}"
            )
        print(f"start (MODEL.md's defaults, trial 0 of --sweep none): {start_value:.3f}")


if __name__ == "__main__":
    main()
