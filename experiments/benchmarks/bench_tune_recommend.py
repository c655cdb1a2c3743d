"""What ``tune`` recommends on the repo's scenarios, checked on fresh days.

For each scenario: ``tune`` from a start (MODEL.md's defaults, or a params file) with its
defaults (``--holdout-days auto``), then the recommended and the start parameters on *fresh*
days — evaluated days after every day the study and the rule used, simulated from the same
seeded streams — and on all of the scenario's own evaluated days. Prints per scenario: the
tuning-days F1 of start and candidate, the rule's held-out gain (p, days, days added) and its
verdict, then the recommended − start gain on the fresh days with its 95 % day-bootstrap
interval (goal: never below 0, i.e. never worse), and the recommended parameters' F1 over the
scenario's own days beside MODEL.md's defaults' (for a poor start: goal within 0.05).

Run: ``python experiments/benchmarks/bench_tune_recommend.py [SCENARIO ...] [--params FILE]
[--trials N] [--fresh-days N]`` (default: every signal scenario of experiments/scenarios,
MODEL.md's defaults, 60 trials, 30 fresh days; the machine's MLflow and history cache in a
temporary folder unless ``MLFLOW_TRACKING_URI`` / ``HAZARD_HARNESS_CACHE`` are set).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import core
from harness.adapters.ray_cluster import ray_session
from harness.commands.tune import make_tune_config, tune
from harness.evaluation.graders import levels_source
from harness.runtime import logs
from harness.runtime.inputs import load_params
from harness.tuning._features import build_features, records_of
from harness.tuning._holdout import with_evaluated_days
from harness.tuning._rule import day_counts, figure, gain_interval

REPO = Path(__file__).resolve().parents[2]
FIGURE = "root_cause.f1"


def _f1(records: list) -> float:
    paired = day_counts(records, records, FIGURE)
    return float(figure(FIGURE, paired.a.sum(axis=0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="*", type=Path)
    parser.add_argument("--params", type=Path, help="the start [default: MODEL.md's]")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--fresh-days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logs.configure(verbose=False)
    scenarios = args.scenarios or sorted((REPO / "experiments" / "scenarios").glob("*.yaml"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-tune-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    print(
        f"{'scenario':14} {'F1 tuning: start → cand.':>24} {'held-out gain (p; days)':>30} "
        f"{'verdict':>9} {'fresh: rec. − start [95%]':>28} {'own days: rec. / MODEL.md':>26}"
    )
    for path in scenarios:
        config = make_tune_config(
            path, tmp / path.stem, n_trials=args.trials, params_path=args.params,
            workers=args.workers, progress=False, storage=str(tmp / f"{path.stem}.journal"),
        )  # fmt: skip
        summary = tune(config)
        recommended = core.ModelParams.from_dict(summary["best_params"])
        last = summary["holdout_days"][-1]
        fresh = tuple(range(last + 1, last + 1 + args.fresh_days))
        own = tuple(config.scenario.evaluate_days)
        with ray_session(address=None, workers=args.workers, timeout=10) as session:
            kw = {"cache_dir": config.cache_dir, "max_in_flight": session.max_in_flight,
                  "progress": False}  # fmt: skip
            levels_of, _ = levels_source(config.graders, config.scenario, **kw)
            longer = with_evaluated_days(config.scenario, fresh[-1])
            later, later_cache = build_features(longer, days=fresh, levels_of=levels_of, **kw)
            mine, mine_cache = build_features(config.scenario, levels_of=levels_of, **kw)
            paired = day_counts(
                records_of(later, later_cache, recommended, fresh),
                records_of(later, later_cache, config.start, fresh),
                FIGURE,
            )
            ci, _ = gain_interval(paired, level=0.025, seed=config.scenario.seed)
            own_f1 = _f1(records_of(mine, mine_cache, recommended, own))
            default_f1 = _f1(records_of(mine, mine_cache, core.ModelParams(), own))
        rows = {(r["params"], r["days"]): r["root_cause_f1"] for r in summary["comparison"]}
        gain = summary["recommendation_gain"]
        shown_ci = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "[n/a]"
        print(
            f"{path.stem:14} {rows['start', 'tuning']:10.3f} → {rows['tuned', 'tuning']:.3f}     "
            f"{gain['difference']:+.3f} (p {gain['p']:.2g}; "
            f"{len(summary['holdout_days']) - summary['holdout_days_added']}"
            f"+{summary['holdout_days_added']} days) {summary['recommendation']:>10} "
            f"{paired.gain:+.3f} {shown_ci:>18} {own_f1:12.3f} / {default_f1:.3f}"
            f"{'  WORSE' if ci and ci[1] < 0 else ''}"
        )
    if args.params:
        print(f"start: {args.params} ({load_params(args.params).to_dict()})")


if __name__ == "__main__":
    main()
