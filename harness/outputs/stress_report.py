"""What ``stress`` leaves: ``stress.json``'s figures (throughput, latency percentiles, peak
memory, scaling efficiency) and ``stress.png`` (latencies, throughput by workers)."""

from __future__ import annotations

import resource
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.evaluation.scoring import PostShift


def stress_figures(
    line: Mapping[str, Any],
    results: list[PostShift],
    *,
    wall: float,
    baseline_wall: float | None,
    history_s: float,
    decide_s: float,
) -> dict[str, Any]:
    """The figures of a stress run: ``line`` (the synthetic line and its ``workers``) first,
    then throughput, latencies and memory of the scored ``results`` (``wall`` seconds), and
    the scaling efficiency against one worker's ``baseline_wall`` where there is one."""
    latencies = np.array([ps.seconds for ps in results])
    post_shifts = len(results)
    throughput = post_shifts / wall
    report: dict[str, Any] = {
        **line,
        "post_shifts": post_shifts,
        "scoring_wall_s": wall,
        "throughput_post_shifts_per_s": throughput,
        "latency_p50_s": float(np.percentile(latencies, 50)),
        "latency_p90_s": float(np.percentile(latencies, 90)),
        "latency_p99_s": float(np.percentile(latencies, 99)),
        "worker_peak_rss_mb": max(ps.peak_rss for ps in results) / 2**20,
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "history_build_s": history_s,
        "decide_s": decide_s,
    }
    if baseline_wall is not None:
        one = post_shifts / baseline_wall
        report["throughput_one_worker"] = one
        report["scaling_efficiency"] = throughput / (line["workers"] * one)
    return report


def plot_stress(results: list[PostShift], report: Mapping[str, Any], path: Path) -> None:
    """``stress.png``: the latency histogram and the throughput with all workers (and with
    one, where measured)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.hist([ps.seconds * 1e3 for ps in results], bins=40, color="tab:blue")
    left.set_xlabel("latency per post-shift (ms)")
    left.set_ylabel("post-shifts")
    bars = {f"{report['workers']} workers": report["throughput_post_shifts_per_s"]}
    if "throughput_one_worker" in report:
        bars = {"1 worker": report["throughput_one_worker"], **bars}
    right.bar(list(bars), list(bars.values()), color="tab:green")
    right.set_ylabel("post-shifts / s")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
