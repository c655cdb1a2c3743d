"""What ``tune`` recommends on the repo's scenarios: checked on fresh days, and over all days
with ``run --params`` (issue 25's acceptance).

For each scenario: ``tune`` from a start (MODEL.md's defaults, or ``--params FILE``) with its
defaults (``--holdout-days auto``); then

- on *fresh* days — evaluated days after every day the study and the rule used, simulated from
  the same seeded streams, never seen by either — the recommended − start gain in root-cause F1
  with its 95 % day-bootstrap interval (goal: never below 0, i.e. never worse; ``WORSE`` marks
  an interval wholly below 0), and the recommended − MODEL.md's defaults gain there;
- over all of the scenario's own evaluated days (tuning days included, as a user would check
  it), ``hazard-harness run SCENARIO --params best_params.yaml`` beside ``run`` with MODEL.md's
  defaults, each run's ``results.json`` root-cause F1 (goal with ``--params``: the recommended
  within ``--goal`` (0.05) of MODEL.md's; ``MISSED`` marks a miss).

Run: ``PYTHONPATH=$PWD python experiments/benchmarks/bench_tune_recommend.py [SCENARIO ...]
[--params FILE] [--trials N] [--fresh-days N] [--workers N]`` (default: every signal scenario of
experiments/scenarios, MODEL.md's defaults, 60 trials, 30 fresh days, 2 workers). MLflow and
the history cache go to a temporary folder unless ``MLFLOW_TRACKING_URI`` /
``HAZARD_HARNESS_CACHE`` are set.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import core
from harness.adapters.ray_cluster import ray_session
from harness.commands.preflight import ComputeOptions
from harness.commands.tune import make_tune_config, tune
from harness.evaluation.graders import levels_source
from harness.runtime import logs
from harness.runtime.inputs import load_params
from harness.tuning._config import TuneConfig
from harness.tuning._features import build_features, results_of
from harness.tuning._holdout import with_evaluated_days
from harness.tuning._rule import day_counts, gain_interval

REPO = Path(__file__).resolve().parents[2]
FIGURE = "root_cause.f1"


def _ci(ci: list[float] | None) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "[n/a]"


def run_f1(scenario: Path, out: Path, params: Path | None, *, workers: int, cache: str) -> float:
    """Root-cause F1 of ``hazard-harness run SCENARIO [--params FILE]`` over all its days."""
    command = [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out),
               "--workers", str(workers), "--cache", cache, "--no-progress"]  # fmt: skip
    if params is not None:
        command += ["--params", str(params)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    results = json.loads((out / "results.json").read_text())
    return float(results["metrics"]["root_cause"]["f1"])


Gain = tuple[float, list[float] | None]
"""A paired gain in root-cause F1 and its 95 % day-bootstrap interval (None: undefined)."""


def fresh_days(
    config: TuneConfig, summary: dict[str, Any], recommended: core.ModelParams, n: int, workers: int
) -> tuple[Gain, Gain]:
    """On ``n`` days after the last held-out one, the recommended parameters' paired gain in
    root-cause F1 over the start, and over MODEL.md's defaults."""
    last = summary["holdout_days"][-1]
    days = tuple(range(last + 1, last + 1 + n))
    with ray_session(address=None, workers=workers, timeout=10) as session:
        kw = {"cache_dir": config.cache_dir, "max_in_flight": session.max_in_flight,
              "progress": False}  # fmt: skip
        levels_of, _ = levels_source(config.graders, config.scenario, **kw)
        longer = with_evaluated_days(config.scenario, days[-1])
        features, cache = build_features(longer, days=days, levels_of=levels_of, **kw)
        rec = results_of(features, cache, recommended, days)
        gains = []
        for other in (config.start, core.ModelParams()):
            paired = day_counts(rec, results_of(features, cache, other, days), FIGURE)
            ci, _ = gain_interval(paired, level=0.025, seed=config.scenario.seed)
            gains.append((paired.gain, ci))
    return gains[0], gains[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="*", type=Path)
    parser.add_argument("--params", type=Path, help="the start [default: MODEL.md's]")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--fresh-days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--goal", type=float, default=0.05, help="with --params: rec. within this of MODEL.md's"
    )
    args = parser.parse_args()
    logs.configure(verbose=False)
    scenarios = args.scenarios or sorted((REPO / "experiments" / "scenarios").glob("*.yaml"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-tune-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    os.environ.setdefault("HAZARD_HARNESS_CACHE", str(tmp / "cache"))
    if args.params:
        print(f"start: {args.params} ({load_params(args.params).to_dict()})")
    print(
        f"{'scenario':14} {'tuning F1: start → cand.':>24} {'held-out gain (p; days)':>27} "
        f"{'verdict':>7} | {'fresh: rec. − start [95%]':>25} {'rec. − MODEL.md [95%]':>25} | "
        f"{'all days (run): rec. / MODEL.md':>31}"
    )
    for path in scenarios:
        out = tmp / path.stem
        config = make_tune_config(
            path, out / "tune", n_trials=args.trials, params_path=args.params,
            compute=ComputeOptions(workers=args.workers, progress=False),
            storage=str(tmp / f"{path.stem}.journal"),
        )  # fmt: skip
        summary = tune(config)
        recommended = core.ModelParams.from_dict(summary["best_params"])
        (gain, ci), (over_default, default_ci) = fresh_days(
            config, summary, recommended, args.fresh_days, args.workers
        )
        cache = str(config.cache_dir)
        own = run_f1(path, out / "run-recommended", out / "tune" / "best_params.yaml",
                     workers=args.workers, cache=cache)  # fmt: skip
        default = run_f1(path, out / "run-defaults", None, workers=args.workers, cache=cache)
        rows = {(r["params"], r["days"]): r["root_cause_f1"] for r in summary["comparison"]}
        held = summary["recommendation_gain"]
        added = summary["holdout_days_added"]
        goal = ""
        if args.params:
            met = own >= default - args.goal
            goal = f"  (goal ≥ {default - args.goal:.3f}){'' if met else '  MISSED'}"
        print(
            f"{path.stem:14} {rows['start', 'tuning']:10.3f} → {rows['tuned', 'tuning']:.3f}     "
            f"{held['difference']:+.3f} (p {held['p']:.2g}; {held['days'] - added}+{added} d) "
            f"{summary['recommendation']:>7} | {gain:+.3f} {_ci(ci):>18} "
            f"{over_default:+.3f} {_ci(default_ci):>18} | {own:8.3f} / {default:.3f}{goal}"
            f"{'  WORSE' if ci and ci[1] < 0 else ''}",
            flush=True,
        )
    print(f"(outputs under {tmp})")


if __name__ == "__main__":
    main()
