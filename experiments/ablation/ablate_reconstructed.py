"""Ablation of MODEL.md's reconstructed formulas: each option side by side, one table.

One factor at a time from MODEL.md's defaults: ``direction`` (out / both), ``lam`` (weight of
G in P), ``eps`` (proficiency ratio offset), ``rho_min`` (reliability floor of Y's seconds),
the post database's ``history_pool`` (post / post_shift) and ``history_window_days``, and
the seconds Y is made of (``proficiency_seconds``: all, the patent's, or on_post, MODEL.md's
variant), on every evaluated day of every scenario given, each figure with its 95 % interval
(two-way bootstrap over days and people). Features are computed once per scenario on Ray;
each option is a re-decision (Z and Y are rescored on Ray for a new database, ``eps``,
``rho_min`` or ``proficiency_seconds``).
Writes ``ablation.csv`` (library notices in ``harness.log``) and logs it to MLflow (experiment
``hazard-harness/ablation``). The forms of Z and Y beyond these options are not options of
``core``, so they are not ablated here.

Run: ``python3 experiments/ablation/ablate_reconstructed.py SCENARIO.yaml [...] --out DIR``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import core
from harness.adapters.mlflow_tracking import log_artifacts, log_metrics, tracked_run
from harness.adapters.ray_cluster import ray_session
from harness.evaluation import graders
from harness.evaluation.metrics import interval, run_metrics
from harness.runtime import logs
from harness.runtime.settings import cache_dir
from harness.tuning import build_features
from harness.tuning._features import score_key, shift_results
from sim import load_scenario


@dataclass(frozen=True)
class Config:
    """Ablation settings."""

    scenarios: tuple[Path, ...]
    """Scenario files (the library in ``experiments/scenarios/``)."""
    out: Path = Path("runs/ablation")
    """Folder of the table."""
    options: dict[str, tuple] = field(
        default_factory=lambda: {
            "direction": ("out", "both"),
            "lam": (0.0, 0.25, 0.5, 0.75, 1.0),
            "eps": (0.25, 1.0, 4.0),
            "rho_min": (0.0, 0.3, 0.6),
            "history_pool": ("post", "post_shift"),
            "history_window_days": (10, 30, 60),
            "proficiency_seconds": ("all", "on_post"),
        }
    )
    """Values per reconstructed choice (the others stay at MODEL.md's defaults)."""
    workers: int = 2
    """Ray CPUs."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("-v", "--verbose", action="store_true", help="library notices too")
    args = parser.parse_args()
    logs.configure(verbose=args.verbose)  # the commands' console policy (harness.runtime.logs)
    cfg = Config(scenarios=tuple(args.scenarios), out=args.out)
    cfg.out.mkdir(parents=True, exist_ok=True)
    with logs.log_to(cfg.out):
        ablate(cfg)


def ablate(cfg: Config) -> None:
    """Every option on every scenario: the table on stdout, in ``ablation.csv`` and MLflow."""

    scenarios = [load_scenario(p) for p in cfg.scenarios]
    rows = []
    with ray_session(address=None, workers=cfg.workers, timeout=10) as session:
        for scenario in scenarios:
            features, cache = build_features(
                scenario, cache_dir=cache_dir(), max_in_flight=session.max_in_flight,
                progress=False, levels_of=graders.true_levels,
            )  # fmt: skip
            for name, values in cfg.options.items():
                for value in values:
                    params = core.ModelParams(**{name: value})
                    scores = cache.get([score_key(params)])[score_key(params)]
                    m = run_metrics(
                        shift_results(features, params, scores),
                        tau_D=params.tau_D,
                        seed=scenario.seed,
                    )
                    rows.append({
                        "scenario": scenario.name, "option": name, "value": str(value),
                        "default": value == getattr(core.ModelParams(), name),
                        "root_cause_f1": m["root_cause"]["f1"],
                        "root_cause_f1_ci95": interval(m, "root_cause.f1"),
                        "root_cause_precision": m["root_cause"]["precision"],
                        "root_cause_recall": m["root_cause"]["recall"],
                        "management_auc": m["management"]["auc"],
                        "management_auc_ci95": interval(m, "management.auc"),
                        "training_auc": m["training"]["auc"],
                        "training_auc_ci95": interval(m, "training.auc"),
                        "training_precision": m["training"]["precision"],
                        "training_f1": m["training"]["f1"],
                        "training_f1_ci95": interval(m, "training.f1"),
                    })  # fmt: skip

    table = pd.DataFrame(rows)
    table.to_csv(cfg.out / "ablation.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    with tracked_run(
        experiment="hazard-harness/ablation", run_name="ablate-reconstructed",
        params={"scenarios": ",".join(s.name for s in scenarios), "options": cfg.options},
        command="experiments/ablation/ablate_reconstructed.py",
    ):  # fmt: skip
        log_metrics({
            f"{r['scenario']}.{r['option']}:{r['value']}.root_cause_f1": r["root_cause_f1"]
            for r in rows
        })  # fmt: skip
        log_artifacts(cfg.out)
    print(f"table: {cfg.out / 'ablation.csv'}")


if __name__ == "__main__":
    main()
