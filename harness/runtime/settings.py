"""Configuration every command shares: environment variables, defaults and the worker count.

One home for these so that every command means the same by them: the history cache, the
connection timeout, what an unset ``--workers`` means (all local cores, for every command)
and how many Ray tasks are kept in flight. Light on imports: the CLI reads it for ``--help``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.runtime.errors import HarnessError

if TYPE_CHECKING:
    from harness.runtime.storage import Location

ENV_CACHE = "HAZARD_HARNESS_CACHE"
"""Environment variable naming the cache folder (history stores, trained graders)."""
ENV_TIMEOUT = "HAZARD_HARNESS_TIMEOUT"
"""Environment variable: seconds to wait for a Ray cluster or an MLflow server to answer."""
ENV_RAY_ADDRESS = "RAY_ADDRESS"
"""Ray's own variable naming an existing cluster."""
ENV_MLFLOW_URI = "MLFLOW_TRACKING_URI"
"""MLflow's own variable naming a tracking server (default: ``mlflow.db`` here)."""

DEFAULT_CACHE = Path(".hazard-cache")
"""Cache folder when neither ``--cache`` nor :data:`ENV_CACHE` is set."""
CACHE_FOLDERS = ("history", "graders", "records")
"""What a cache holds: history stores, graders trained on demand, ingested records folders."""
DEFAULT_TIMEOUT_S = 10.0
"""Connection timeout when neither ``--timeout`` nor :data:`ENV_TIMEOUT` is set."""
FIDELITIES: tuple[str, ...] = ("signal", "pixel")
"""Fidelities of the camera streams: the simulator's arrays or rendered frames + perception."""
TASKS_PER_WORKER = 4
"""Ray tasks kept in flight per worker: keeps each fed between result hand-offs."""


def cache_dir(value: str | os.PathLike[str] | None = None) -> Location:
    """The cache: ``value``, else :data:`ENV_CACHE`, else :data:`DEFAULT_CACHE`; a local
    folder or an object-storage URI (:mod:`harness.runtime.storage`)."""
    from harness.runtime.storage import location

    return location(value or os.environ.get(ENV_CACHE) or DEFAULT_CACHE, what="--cache")


def connect_timeout(value: float | None = None) -> float:
    """Seconds to wait for a cluster or server: ``value``, else :data:`ENV_TIMEOUT`, else 10."""
    if value is None:
        text = os.environ.get(ENV_TIMEOUT)
        if not text:
            return DEFAULT_TIMEOUT_S
        try:
            value = float(text)
        except ValueError:
            raise HarnessError(f"{ENV_TIMEOUT} must be a number of seconds, got {text!r}") from None
    if not 0 < value <= 600:
        raise HarnessError(f"--timeout must be in (0, 600] seconds, got {value}")
    return float(value)


def local_cpus() -> int:
    """CPUs this process may use (its affinity where the platform tells, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def resolve_workers(workers: int | None, *, address: str | None) -> int | None:
    """Check ``--workers``: unset means all local cores (or the whole cluster, known later).

    Locally at most :func:`local_cpus` workers: more would start idle Ray processes that only
    cost memory. On a cluster the bound is the cluster's CPUs, checked once connected.
    """
    if workers is None:
        return None if address else local_cpus()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise HarnessError(f"--workers must be an integer >= 1, got {workers!r}")
    if not address and workers > local_cpus():
        raise HarnessError(
            f"--workers must be <= {local_cpus()} (this machine's cores) for a local Ray, got "
            f"{workers}; use --address or {ENV_RAY_ADDRESS} to run on a cluster"
        )
    return workers


def max_in_flight(workers: int) -> int:
    """Tasks kept pending: enough to keep every worker busy, few enough to bound memory."""
    return TASKS_PER_WORKER * workers


def torch_device(value: str) -> str:
    """The torch device of ``--device``: ``auto`` is cuda when available, else cpu."""
    import torch

    if value not in ("auto", "cpu", "cuda"):
        raise HarnessError(f"--device must be one of auto, cpu, cuda, got {value!r}")
    if value == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda: no CUDA GPU is available here; use cpu or auto")
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return value


def ray_address(value: str | None) -> str | None:
    """The cluster to join: ``--address``, else :data:`ENV_RAY_ADDRESS`, else None (local)."""
    return value or os.environ.get(ENV_RAY_ADDRESS) or None
