"""``hazard-harness tune`` on the command line."""

from __future__ import annotations

import argparse
from typing import Any

from harness.tuning._objectives import DEFAULT_OBJECTIVE, OBJECTIVES
from harness.tuning._space import RANGES


def _range(text: str) -> tuple[str, tuple[float, float]]:
    name, sep, bounds = text.partition("=")
    low, sep2, high = bounds.partition(":")
    try:
        if not (sep and sep2):
            raise ValueError
        return name.strip(), (float(low), float(high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=LOW:HIGH, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def register(subparsers: Any) -> None:
    """Add the ``tune`` subcommand to the CLI's subparsers."""
    from harness.cli import add_ray_options, positive_int

    tune = subparsers.add_parser(
        "tune", help="tune the model's thresholds with Optuna; report on held-out days"
    )
    tune.add_argument("scenario", help="scenario YAML file")
    tune.add_argument("--out", required=True, help="output folder (best_params.yaml, …)")
    tune.add_argument("--trials", type=positive_int, default=100,
                      help="finished trials the study should hold (default 100)")  # fmt: skip
    tune.add_argument(
        "--objective", type=_names, default=(DEFAULT_OBJECTIVE,),
        help=f"objective, or several comma-separated (Pareto, NSGA-II); one of {list(OBJECTIVES)}",
    )  # fmt: skip
    tune.add_argument("--study", help="study name; an existing study is resumed")
    tune.add_argument(
        "--storage", help="Optuna storage URL or .journal file (default: ./optuna.journal)"
    )
    tune.add_argument("--holdout-days", type=positive_int,
                      help="last evaluated days held out (default: a third, >= 1)")  # fmt: skip
    tune.add_argument("--seed", type=int, help="sampler seed (default: the scenario's)")
    tune.add_argument("--tune", type=_names,
                      help=f"comma-separated tunables (default: all of {list(RANGES)} "
                           "that act at the scenario's fidelity)")  # fmt: skip
    tune.add_argument("--range", type=_range, action="append", default=[],
                      help="NAME=LOW:HIGH, replaces a default range (repeatable)")  # fmt: skip
    tune.add_argument("--batch-size", type=positive_int,
                      help="trials asked per batch (default: 8 per worker)")  # fmt: skip
    tune.add_argument("--cache", help="history cache folder (default: .hazard-cache)")
    add_ray_options(tune)
    tune.set_defaults(func=_tune)


def _tune(args: argparse.Namespace) -> int:
    import optuna

    from harness.tuning._tune import make_tune_config, tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is noise here
    config = make_tune_config(
        args.scenario, args.out, n_trials=args.trials, objectives=args.objective,
        study_name=args.study, storage=args.storage, holdout_days=args.holdout_days,
        seed=args.seed, tune=args.tune, ranges=dict(args.range), batch_size=args.batch_size,
        address=args.address, workers=args.workers, cache_dir=args.cache,
        progress=not args.no_progress,
    )  # fmt: skip
    summary = tune(config)
    print(f"study {summary['study']}: {summary['trials_session']} trials this session, "
          f"{summary['trials_total']} in all; {summary['trials_per_s']:.1f} trials/s, "
          f"Optuna {100 * summary['optuna_fraction']:.0f}% of the time")  # fmt: skip
    print(f"{'params':8} {'days':9} {'rc F1':>6} {'prec':>6} {'recall':>6} {'mgmt AUC':>8} "
          f"{'train AUC':>9}")  # fmt: skip
    for row in summary["comparison"]:
        print(f"{row['params']:8} {row['days']:9} {row['root_cause_f1']:6.3f} "
              f"{row['root_cause_precision']:6.3f} {row['root_cause_recall']:6.3f} "
              f"{row['management_auc']:8.3f} {row['training_auc']:9.3f}")  # fmt: skip
    for point in summary["pareto_front"]:
        print("Pareto trial " + ", ".join(f"{k} {v:.3f}" for k, v in point.items() if k != "number")
              + f" (#{point['number']})")  # fmt: skip
    print(f"best params: {config.run.out_dir / 'best_params.yaml'}")
    print(f"resume with: --study {summary['study']}; MLflow run {summary['mlflow_run_id']}")
    return 0
