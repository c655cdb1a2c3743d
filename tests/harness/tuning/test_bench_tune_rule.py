"""The rule's benchmark runs on a tiny budget (its figures: README, `bench_tune_rule.py`)."""

from __future__ import annotations

import subprocess
import sys

from tests.harness.conftest import REPO


def test_the_rule_benchmark_runs_on_a_tiny_budget() -> None:
    script = REPO / "experiments" / "benchmarks" / "bench_tune_rule.py"
    done = subprocess.run(
        [sys.executable, str(script), "--repetitions", "2", "--only", "identical"],
        capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO)}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "identical parameters" in done.stdout and "≤ 5 % (false)" in done.stdout
