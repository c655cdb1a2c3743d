"""Benchmark of the harness: whole commands, their fixed cost, scaling, memory, a cost model.

1. **The 1,000-post run**: ``stress --posts 1000 --days 1 --workers 2`` on a fresh cache (its
   history built cold), end to end, beside the goals: the whole command ≤ 20 s, the history
   build ≤ 8 s, Ray's start ≤ 2 s. Its driver peak memory against a 100-post run's.
2. **Fixed cost** of a 100-post run (100 posts × 10 days, 8-hour shifts, 3 history days): the
   interpreter's start and imports, the MLflow run, Ray's start and shutdown, and what follows
   the report (artifacts, the run's end), as a share of the command's wall time (goal ≤ 20 %).
3. **Scaling** 1 → 2 workers on that run (its one-task-at-a-time baseline), and Ray's
   overhead in the scoring phase: the same run with one Ray worker against the scoring task's
   body called in this process (bracketed by two plain runs: the machine's speed drifts).
4. **Cost model**: cold stress runs varying one factor at a time — posts (10 → 300), evaluated
   days, history days, workers per post, shift length — each phase fitted on its own timings
   (:class:`CostModel`: the fixed part, the history build per stored worker-shift sample, the
   scoring per stored and per scored sample; non-negative least squares); it predicts the
   1,000-post run of part 1 (not fitted: the check) and a 1,000-post month on N cores.

Every stress run is a separate process (its own interpreter, Ray and MLflow run) on a fresh
cache; the tracking store exists before (a user's working folder has its ``mlflow.db``).

Run: python experiments/benchmarks/bench_harness.py [--skip-model] [--skip-large]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
sys.path.insert(0, str(ROOT))
GOALS = {"total_1000_s": 20.0, "history_1000_s": 8.0, "ray_start_s": 2.0, "fixed_share": 0.20,
         "scaling": 0.9}  # fmt: skip


@dataclass(frozen=True)
class Point:
    """One stress run of the cost model."""

    posts: int
    days: int = 1
    history_days: int = 2
    per_post: int = 1
    length_s: int = 7200

    @property
    def stored(self) -> float:
        """Worker-shift samples simulated and stored (history and evaluated days)."""
        return self.posts * self.per_post * (self.history_days + self.days) * self.length_s

    @property
    def evaluated(self) -> float:
        """Worker-shift samples scored (evaluated days)."""
        return self.posts * self.per_post * self.days * self.length_s

    def __str__(self) -> str:
        return (f"{self.posts} posts x {self.days} days ({self.history_days} history days), "
                f"{self.per_post} worker(s) a post, {self.length_s:,}-s shifts")  # fmt: skip

    def args(self) -> list[str]:
        return ["--posts", str(self.posts), "--days", str(self.days), "--history-days",
                str(self.history_days), "--workers-per-post", str(self.per_post),
                "--length-s", str(self.length_s)]  # fmt: skip


GRID = (
    Point(10), Point(30), Point(100), Point(300),
    Point(100, days=3), Point(100, history_days=6),
    Point(100, per_post=2),
    Point(100, length_s=1800), Point(100, length_s=28_800),
)  # fmt: skip
"""One factor at a time around 100 posts × 1 day (2 history days, 2-hour shifts)."""
LARGE = Point(1000, days=1, history_days=5, length_s=28_800)
"""The 1,000-post run of part 1 (issue 26's end-to-end figure)."""
BASE = Point(100, days=10, history_days=3, length_s=28_800)
"""The 100-post run of parts 2 and 3."""
TINY = (
    (Point(2, length_s=60), Point(4, length_s=60), Point(4, days=2, length_s=60),
     Point(4, per_post=2, length_s=60), Point(4, length_s=120)),
    Point(6, length_s=120),
    Point(3, days=2, history_days=1, length_s=120),
)  # fmt: skip
"""``--tiny``: the grid, the large run and the base run, for a smoke test."""


def stress(
    work: Path, name: str, *args: str, workers: int = 2, cache: str | None = None
) -> tuple[dict, float]:
    """``hazard-harness stress`` in a subprocess on a fresh cache (or ``cache``'s, a run's
    before); its report and wall time."""
    out, cache_dir = work / name, work / f"{cache or name}-cache"
    cmd = [sys.executable, "-m", "harness.cli", "stress", "--out", str(out), "--cache",
           str(cache_dir), "--no-progress", "--workers", str(workers), *args]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=work, capture_output=True)
    wall = time.perf_counter() - start
    return json.loads((out / "stress.json").read_text()), wall


def in_process(cache: Path, p: Point) -> float:
    """Seconds of the scoring phase of a stress run as plain calls in this process (the
    history cached in ``cache`` by an earlier run; one BLAS thread, as in a Ray worker)."""
    import core
    from harness.commands.preflight import ComputeOptions
    from harness.commands.stress import make_stress_config, stress_scenario
    from harness.evaluation.history import history_root
    from harness.evaluation.scoring import score_posts_task

    config = make_stress_config(posts=p.posts, days=p.days, out_dir=Path(tempfile.mkdtemp()),
                                history_days=p.history_days, per_post=p.per_post,
                                length_s=p.length_s, cache_dir=cache,
                                compute=ComputeOptions(workers=1))  # fmt: skip
    scenario = stress_scenario(config)
    start = time.perf_counter()
    score_posts_task(scenario, str(history_root(scenario, cache)), tuple(range(1, p.posts + 1)),
                     core.ModelParams())  # fmt: skip
    return time.perf_counter() - start


def fixed_of(report: dict, wall: float) -> float:
    """The command's fixed seconds: its timings' fixed part and what follows the report."""
    t = report["timings"]
    return t["fixed_s"] + max(0.0, wall - t["total_s"])


def goal(value: float, target: float, *, at_most: bool = True) -> str:
    met = value <= target if at_most else value >= target
    return f"(goal {'<=' if at_most else '>='} {target:g}: {'met' if met else 'MISSED'})"


def fit(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares of ``y ≈ X @ coef`` (a cost is never negative): the
    features whose coefficient comes out negative are dropped and the rest refitted."""
    keep = np.ones(X.shape[1], dtype=bool)
    while True:
        coef = np.zeros(X.shape[1])
        coef[keep], *_ = np.linalg.lstsq(X[:, keep], y, rcond=None)
        if (coef >= 0).all():
            return coef
        keep &= coef > 0


@dataclass(frozen=True)
class CostModel:
    """``wall = fixed + (history + scoring) · 2 / cores``, each phase fitted on its own timings
    (``stress.json``): the fixed part as the runs' median, the history build per stored
    sample, the scoring per stored sample (the databases read) and per scored sample."""

    fixed: float
    history: float
    scoring: np.ndarray

    @classmethod
    def of(cls, points: list[Point], reports: list[dict], walls: list[float]) -> CostModel:
        stored = np.array([[p.stored] for p in points])
        both = np.array([[p.stored, p.evaluated] for p in points])
        t = [r["timings"] for r in reports]
        return cls(
            fixed=float(np.median([fixed_of(r, w) for r, w in zip(reports, walls, strict=True)])),
            history=float(fit(stored, np.array([x["history_build_s"] for x in t]))[0]),
            scoring=fit(both, np.array([x["scoring_s"] for x in t])),
        )

    def work(self, p: Point) -> float:
        """Seconds of history build and scoring on 2 workers."""
        return self.history * p.stored + float(self.scoring @ [p.stored, p.evaluated])

    def predict(self, p: Point, cores: int = 2) -> float:
        """Wall seconds of ``p`` on ``cores`` workers (linear in the workers: an assumption
        the scaling figure bounds)."""
        return self.fixed + self.work(p) * 2 / cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-model", action="store_true", help="no cost-model grid")
    parser.add_argument("--skip-large", action="store_true", help="no 1,000-post run")
    parser.add_argument("--skip-overhead", action="store_true", help="no in-process comparison")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (a smoke test)")
    args = parser.parse_args()
    grid, large_point, base_point = TINY if args.tiny else (GRID, LARGE, BASE)
    work = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    os.environ.update(PYTHONPATH=path, MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}")
    # the tracking store exists, as in a user's working folder (its creation is paid once)
    stress(work, "first", "--posts", "2", "--days", "1", "--length-s", "60", "--history-days", "1",
           "--no-baseline")  # fmt: skip

    base = base_point.args()
    report, wall = stress(work, "r100", *base)
    fixed = fixed_of(report, wall)
    t = report["timings"]
    own = wall - t["baseline_s"]  # the command without its one-worker baseline
    print(
          f"[fixed] {base_point}, 2 workers: {own:.1f} s end to end "
          f"(without the one-worker baseline); fixed {fixed:.1f} s = {fixed / own:.0%} "
          f"{goal(fixed / own, GOALS['fixed_share'])} "
          f"(interpreter and imports {t['start_s']:.1f} s, MLflow run and output folder "
          f"{t['setup_s']:.1f} s, Ray start {t['ray_start_s']:.1f} s "
          f"{goal(t['ray_start_s'], GOALS['ray_start_s'])}, Ray shutdown "
          f"{t['ray_shutdown_s']:.1f} s, after the report {max(0.0, wall - t['total_s']):.1f} s);"
          f" work: history {t['history_build_s']:.1f} s, scoring {t['scoring_s']:.1f} s, "
          f"one-worker baseline {t['baseline_s']:.1f} s, decisions {t['decide_s']:.2f} s"
    )  # fmt: skip
    efficiency = report["scaling_efficiency"]
    print(f"[scaling] 1 -> 2 workers: {report['throughput_one_worker']:.1f} -> "
          f"{report['throughput_post_shifts_per_s']:.1f} post-shifts/s, efficiency "
          f"{efficiency:.2f} {goal(efficiency, GOALS['scaling'], at_most=False)}; "
          f"latency p50 {report['latency_p50_s'] * 1e3:.0f} ms, p99 "
          f"{report['latency_p99_s'] * 1e3:.0f} ms")  # fmt: skip

    if not args.skip_overhead:
        before = in_process(work / "r100-cache", base_point)
        one, _ = stress(work, "r100-one", *base, "--no-baseline", workers=1, cache="r100")
        after = in_process(work / "r100-cache", base_point)
        plain = (before + after) / 2
        scoring = one["timings"]["scoring_s"]
        print(f"[overhead] scoring phase with 1 Ray worker {scoring:.1f} s, the same calls in one "
              f"process {plain:.1f} s ({before:.1f} s before, {after:.1f} s after): Ray's share "
              f"{(scoring - plain) / scoring:.0%} (goal <= 10 %)")  # fmt: skip

    large = None
    if not args.skip_large:
        large, large_wall = stress(work, "r1000", *large_point.args(), "--no-baseline")
        t = large["timings"]
        print(f"[1,000 posts] {large_point}, 2 workers, cold cache: {large_wall:.1f} s end to end "
              f"{goal(large_wall, GOALS['total_1000_s'])}; history build "
              f"{t['history_build_s']:.1f} s "
              f"{goal(t['history_build_s'], GOALS['history_1000_s'])}; "
              f"scoring {t['scoring_s']:.1f} s; Ray start {t['ray_start_s']:.1f} s; fixed "
              f"{fixed_of(large, large_wall):.1f} s")  # fmt: skip
        print(f"[memory] driver peak RSS {report['driver_peak_rss_mb']:.0f} MB at 100 posts, "
              f"{large['driver_peak_rss_mb']:.0f} MB at 1,000 posts")  # fmt: skip

    if args.skip_model:
        return
    reports, walls = [], []
    for k, p in enumerate(grid):
        r, w = stress(work, f"g{k}", *p.args(), "--no-baseline")
        reports.append(r)
        walls.append(w)
        print(
            f"[model] {p}: {w:.1f} s (fixed {fixed_of(r, w):.1f} s, history "
            f"{r['timings']['history_build_s']:.1f} s, scoring {r['timings']['scoring_s']:.1f} s)"
        )
    model = CostModel.of(list(grid), reports, walls)
    residual = np.array(walls) - np.array([model.predict(p) for p in grid])
    print(f"[model] wall = {model.fixed:.1f} s fixed + history {model.history * 1e9:.0f} s per "
          f"10^9 stored samples + scoring {model.scoring[0] * 1e9:.0f} s per 10^9 stored and "
          f"{model.scoring[1] * 1e9:.0f} s per 10^9 scored samples (2 workers); residuals "
          f"{np.abs(residual).max():.1f} s at most")  # fmt: skip
    if large is not None:
        print(f"[model] check: predicted {model.predict(large_point):.1f} s for the large run, "
              f"measured {large_wall:.1f} s")  # fmt: skip
    month = Point(1000, days=30, history_days=30, length_s=28_800, per_post=2)
    times = [f"{n} cores {model.predict(month, n) / 60:.1f} min" for n in (2, 8, 32, 128)]
    print("[model] a 1,000-post month (30 evaluated days on a 30-day window, 2 shifts of 8 h "
          f"as 2 workers a post-day): {', '.join(times)}")  # fmt: skip


if __name__ == "__main__":
    main()
