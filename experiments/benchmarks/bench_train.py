"""Benchmark of ``hazard-harness train``: training-time share of a study, held-out macro-F1.

Runs the per-post studies of the demo scenario on a small budget (Ray, MLflow in a temporary
folder) and prints, per post, the fraction of the study's wall time spent in training steps
(``train_s / study_s``; also of the whole task, data building included) and the macro-F1 on
the held-out test days (all test examples, and the scenario's own shift changes alone).

    python3 experiments/benchmarks/bench_train.py [--posts 1,2] [--trials 4] [--epochs 20]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.commands.preflight import ComputeOptions
from harness.commands.train import make_train_config, train
from harness.runtime import logs


@dataclass(frozen=True)
class Config:
    """Benchmark budget."""

    scenario: str = "experiments/scenarios/demo.yaml"
    """Scenario YAML."""
    posts: str = "1,2"
    """Posts to train."""
    trials: int = 4
    """Optuna trials per post."""
    epochs: int = 20
    """Epochs per trial."""
    augment: int = 8
    """Augmentation rounds."""
    workers: int = 2
    """Ray CPUs."""


def main() -> None:
    """Parse the budget, train in a temporary folder, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in vars(Config()).items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    config = Config(**vars(parser.parse_args()))
    logs.configure(verbose=False)  # the commands' console policy (harness.runtime.logs)
    scenario = str(Path(config.scenario).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        summary = train(
            make_train_config(
                scenario, Path(tmp) / "out", posts=config.posts, trials=config.trials,
                epochs=config.epochs, augment=config.augment,
                compute=ComputeOptions(workers=config.workers, progress=False),
            )
        )  # fmt: skip
    print(f"{config}")
    print("post  train/study  train/task  test-F1  real-test-F1  val-F1  trials(c/p)  examples")
    for post, r in summary["posts"].items():
        t = r["timings"]
        print(
            f"{post:>4}  {t['train_s'] / t['study_s']:11.3f}  {t['train_s'] / t['task_s']:10.3f}"
            f"  {r['test']['macro_f1']:7.3f}  {r['test_real']['macro_f1']:12.3f}"
            f"  {r['val']['macro_f1']:6.3f}  {r['trials']['complete']:>6}/{r['trials']['pruned']}"
            f"  {r['examples']['train']}/{r['examples']['val']}/{r['examples']['test']}"
        )
    print(f"command wall {summary['wall_s']:.1f} s")


if __name__ == "__main__":
    main()
