from __future__ import annotations

import subprocess
import sys

from tests.sim.conftest import REPO


def test_benchmark_runs_on_a_tiny_budget() -> None:
    script = REPO / "experiments" / "benchmarks" / "bench_sim.py"
    done = subprocess.run(
        [sys.executable, str(script), "--shifts", "3", "--days", "1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "worker-shifts/s" in done.stdout
