"""The harness's benchmark and profiling scripts run end to end on a tiny budget (subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "experiments" / "benchmarks"


def _run(args: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


@pytest.mark.slow
def test_bench_harness_prints_every_figure_beside_its_goal(tmp_path: Path) -> None:
    done = _run([str(BENCH / "bench_harness.py"), "--tiny"], tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for part in ("[fixed]", "[scaling]", "[overhead]", "[1,000 posts]", "[memory]", "[model]"):
        assert part in out, out
    assert "(goal <= 20" in out and "(goal <= 8" in out and "(goal <= 2" in out
    assert "predicted" in out and "cores" in out


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("py-spy") is None, reason="py-spy is not installed")
def test_profile_run_writes_the_top_costs_of_both_runs(tmp_path: Path) -> None:
    done = _run([str(BENCH / "profile_run.py"), "--out", str(tmp_path / "profile"), "--posts", "3",
                 "--records-posts", "2", "--records-days", "3", "--length-s", "120"],
                tmp_path, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "profile" / "profile.json").read_text())
    for run in ("stress", "records"):
        phases = report[run]["phases_s"]
        assert report[run]["sampled_s"] > 0 and phases
        assert "interpreter start and imports" in phases
    assert "timings" in report["stress"] and report["stress"]["timings"]["fixed_s"] > 0
    assert "# Where the time goes" in (tmp_path / "profile" / "profile.md").read_text()
