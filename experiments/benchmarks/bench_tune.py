"""Threshold-study throughput on cached features: trials/s and Optuna's share of the time.

Builds the demo scenario's features once on Ray (2 CPUs), then runs a TPE study over the
thresholds ``tau_D, tau_P, tau_Z, tau_Y, lam, direction`` (no Y rescoring) with the default
journal storage in a temporary folder, and the same over the full space for comparison.

Run: ``python3 experiments/benchmarks/bench_tune.py [--trials N] [--scenario PATH]``.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import graders, logs, studies
from harness.execution import ray_session
from harness.tuning import RayEvaluator, build_features, get_objective, make_space
from sim import load_scenario

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Config:
    """Benchmark settings."""

    scenario: Path = REPO / "experiments" / "scenarios" / "demo.yaml"
    """Scenario whose evaluated shifts are cached."""
    trials: int = 500
    """Trials per study."""
    workers: int = 2
    """Ray CPUs (and tasks per batch)."""
    batch_size: int = 16
    """Trials asked per batch."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=Config.trials)
    parser.add_argument("--scenario", type=Path, default=Config.scenario)
    args = parser.parse_args()
    logs.configure(verbose=False)  # the commands' console policy (harness.logs)
    cfg = Config(scenario=args.scenario, trials=args.trials)

    scenario = load_scenario(cfg.scenario)
    with (
        ray_session(address=None, workers=cfg.workers, timeout=10) as session,
        tempfile.TemporaryDirectory() as tmp,
    ):
        features, cache = build_features(
            scenario, cache_dir=Path(".hazard-cache"), max_in_flight=session.max_in_flight,
            progress=False, levels_of=graders.true_levels,
        )  # fmt: skip
        store = studies.open_storage(Path(tmp) / "bench.journal")
        thresholds = ("tau_D", "tau_P", "tau_Z", "tau_Y", "lam", "direction")
        for label, names in (("thresholds (cached features)", thresholds), ("full", None)):
            space = make_space(names=names)
            evaluator = RayEvaluator(
                space=space, features=features, rows=features.rows_of(features.days),
                cache=cache, objectives=(get_objective("root_cause_f1"),), workers=cfg.workers,
            )  # fmt: skip
            study, _ = studies.create_study(
                name=label, store=store, directions=["maximize"], seed=scenario.seed
            )
            stats = studies.optimize(
                study, distributions=space.distributions(), evaluate_batch=evaluator,
                n_complete=cfg.trials, batch_size=cfg.batch_size,
            )  # fmt: skip
            print(
                f"{label}: {stats.trials} trials in {stats.seconds:.2f} s = "
                f"{stats.trials_per_s:.1f} trials/s; Optuna {stats.optuna_fraction:.0%} "
                f"of the time; best root-cause F1 {study.best_value:.3f}; "
                f"Y sets cached {len(cache)}"
            )


if __name__ == "__main__":
    main()
