"""Checks every command makes before any work: outputs, outside systems, and the cost.

A command that cannot work says so in seconds, before an MLflow run, a Ray session or a
history exists: an output path that cannot be written, an MLflow server or a Ray cluster that
does not answer (within ``--timeout``), or a scenario whose arrays cannot fit this machine's
memory or its cache disk. The cost is estimated from the scenario's keys, and a refusal names
the figure and the keys that drive it.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import sim
from harness.adapters.mlflow_store import check_store
from harness.adapters.ray_cluster import Compute, ComputeOptions, compute
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_cache, check_output, check_writable
from harness.runtime.storage import Location

RECORD_BYTES_PER_SAMPLE = 2 + 14 * 4
"""Stored bytes per sample of a worker record: an int16 area id and 14 float32 speeds."""
WORK_FACTOR = 4
"""A scoring task holds its window's records and float64 statistics: about this many bytes
per stored byte."""
PIXEL_CHUNK_BYTES = 256 * 240 * 320 * 3 * 3
"""Frames, crops and heatmaps a pixel-fidelity task holds per chunk."""
MEMORY_SHARE = 0.8
"""Share of the available memory the workers' tasks may plan to use."""
DISK_SHARE = 0.9
"""Share of the cache disk's free space a new history may plan to use."""

check_tracking = check_store
"""The MLflow store is usable, answers and can be written (the adapter's check)."""
__all__ = [
    "Compute",
    "ComputeOptions",
    "Cost",
    "check_cache",
    "check_cost",
    "check_output",
    "check_tracking",
    "check_writable",
    "checked",
    "compute",
    "estimate",
]


@dataclass(frozen=True)
class Cost:
    """What a scenario costs, estimated from its keys."""

    worker_shifts: int
    """Evaluated worker-shifts."""
    history_bytes: int
    """Bytes of the stored history and evaluated days."""
    task_bytes: int
    """Memory one scoring task holds."""


def estimate(scenario: sim.Scenario, *, window_days: int = 30) -> Cost:
    """The cost of ``scenario`` (records of every simulated day; a task's database window)."""
    people = scenario.workers.per_post
    shifts = scenario.shifts.per_day
    days = scenario.days.history + scenario.days.evaluate
    record = scenario.samples_per_shift * RECORD_BYTES_PER_SAMPLE
    window = min(window_days, days) * shifts * people * record
    task = WORK_FACTOR * window
    if scenario.fidelity == "pixel":
        task += PIXEL_CHUNK_BYTES
    return Cost(
        worker_shifts=scenario.n_posts * people * shifts * scenario.days.evaluate,
        history_bytes=scenario.n_posts * people * shifts * days * record,
        task_bytes=task,
    )


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def check_cost(scenario: sim.Scenario, *, cache: Location, workers: int | None) -> Cost:
    """Refuse a scenario whose history cannot fit the cache disk (a local cache: object storage
    tells no free space) or whose tasks cannot fit the memory of this machine, naming the
    figure and the keys; returns the estimate."""
    import psutil

    cost = estimate(scenario)
    drivers = (
        f"line.posts {scenario.n_posts} × workers.per_post {scenario.workers.per_post} × "
        f"shifts.per_day {scenario.shifts.per_day} × "
        f"{scenario.days.history + scenario.days.evaluate} days (days.history + days.evaluate) × "
        f"{scenario.samples_per_shift} samples (shifts.length_s × shifts.rate_hz) × "
        f"{RECORD_BYTES_PER_SAMPLE} B"
    )
    existing = Path(cache.path)
    while not existing.exists():
        existing = existing.parent
    free = math.inf if cache.remote else shutil.disk_usage(existing).free
    if cost.history_bytes > DISK_SHARE * free:
        raise HarnessError(
            f"the scenario's records need {_gb(cost.history_bytes)} in the cache ({drivers}); "
            f"{existing} has {_gb(free)} free: lower those keys or point --cache at a larger disk"
        )
    if workers is not None:
        available = psutil.virtual_memory().available
        need = workers * cost.task_bytes
        if need > MEMORY_SHARE * available:
            raise HarnessError(
                f"{workers} workers would each hold {_gb(cost.task_bytes)} (a post's month of "
                f"records: shifts.length_s × shifts.rate_hz × workers.per_post × shifts.per_day), "
                f"{_gb(need)} in all; this machine has {_gb(available)} available: lower "
                "--workers or those keys"
            )
    return cost


def checked(
    out_dir: str | Path,
    options: ComputeOptions,
    *,
    cache: Location | None = None,
    scenario: sim.Scenario | None = None,
) -> tuple[Path | Location, Compute]:
    """The checks of a tracked command, in order: ``--out`` (and ``--cache``) can be written —
    local folders or object-storage prefixes —, the cluster answers (:func:`compute`),
    ``scenario`` fits this machine and the cache disk (:func:`check_cost`), the MLflow store
    answers. Returns ``--out`` (a Path, or a Location on object storage) and the compute."""
    out = check_output(out_dir, option="--out")
    if cache is not None:
        check_cache(cache)
    where = compute(options)
    if scenario is not None and cache is not None:
        check_cost(scenario, cache=cache, workers=where.workers)
    check_tracking(where.timeout)
    return out, where
