"""Checks every command makes before any work: outputs, outside systems, and the cost.

A command that cannot work says so in seconds, before an MLflow run, a Ray session or a
history exists: an output path that cannot be written, an MLflow server or a Ray cluster that
does not answer (within ``--timeout``), or a scenario whose arrays cannot fit this machine's
memory or its cache disk. The cost is estimated from the scenario's keys, and a refusal names
the figure and the keys that drive it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sim
from harness._errors import HarnessError
from harness.settings import connect_timeout, ray_address, resolve_workers

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


@dataclass(frozen=True)
class Compute:
    """Where a command's Ray work runs, checked (see :func:`compute`)."""

    address: str | None
    """The cluster to join, or None for a local Ray."""
    workers: int | None
    """One-CPU workers; None on a cluster means all of its CPUs (known once connected)."""
    timeout: float
    """Seconds to wait for the cluster or the MLflow server."""
    progress: bool = True
    """Draw progress bars (on a terminal only)."""


def compute(
    *, address: str | None, workers: int | None, timeout: float | None, progress: bool = True
) -> Compute:
    """Resolve and check ``--address``, ``--workers`` and ``--timeout`` (probing a cluster)."""
    from harness.execution import probe_cluster

    resolved = ray_address(address)
    seconds = connect_timeout(timeout)
    count = resolve_workers(workers, address=resolved)
    if resolved and resolved not in ("auto", "local"):
        probe_cluster(resolved, timeout=seconds)
    return Compute(resolved, count, seconds, progress)


def check_writable(path: Path, *, option: str, folder: bool = True) -> Path:
    """Raise unless ``path`` can be created or written as a folder (or a file).

    Raises:
        HarnessError: naming ``option``, the path and why.
    """
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise HarnessError(f"{option} {str(path)!r} is a file; expected a folder")
    if not folder and path.is_dir():
        raise HarnessError(f"{option} {str(path)!r} is a folder; expected a file")
    if not folder and path.exists() and not os.access(path, os.W_OK):
        raise HarnessError(f"{option} {str(path)!r} is not writable by this user")
    existing = path if folder else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise HarnessError(
            f"{option} {str(path)!r} cannot be created: {str(existing)!r} is a file, not a folder"
        )
    try:  # a real write: os.access says yes to root on a read-only file system
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:  # an existing folder that refuses files: /proc, /sys
            why = "a virtual file system such as /proc or /sys, not storage"
        raise HarnessError(
            f"{option} {str(path)!r} cannot be written: {str(existing)!r} accepts no new files "
            f"({why}); choose a folder on a writable disk"
        ) from None
    return path


def check_tracking(timeout: float) -> None:
    """The MLflow tracking store is one MLflow can use, answers and can be written (see
    :func:`check_tracking_uri` and :func:`tracking.check_server`)."""
    from harness.tracking import check_server, tracking_uri

    check_tracking_uri(tracking_uri())
    check_server(timeout=timeout)


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file."""
_DATABASE_SCHEMES = ("postgresql", "mysql", "mssql", "databricks", "http", "https")
"""Tracking URI schemes checked by MLflow itself or by :func:`tracking.check_server`."""


def check_tracking_uri(uri: str) -> Path | None:
    """Refuse a tracking URI that MLflow cannot use, before it hangs or fails late: an unknown
    scheme, a SQLite path that is a folder, a device or not a SQLite database, a store folder
    that cannot be written. Returns the SQLite file of a ``sqlite:///`` URI.

    Raises:
        HarnessError: naming ``MLFLOW_TRACKING_URI``, what came and what is expected.
    """
    from harness.settings import ENV_MLFLOW_URI

    scheme, sep, rest = uri.partition("://")
    scheme = scheme.split("+")[0].lower() if sep else ""
    expected = (
        "http(s)://HOST:PORT, sqlite:///FILE, file:///FOLDER, a folder, or a database URL "
        f"({', '.join(_DATABASE_SCHEMES[:3])})"
    )
    if scheme in _DATABASE_SCHEMES:
        return None
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise HarnessError(f"{ENV_MLFLOW_URI} must name a SQLite file (sqlite:///FILE), "
                               f"got {uri!r}")  # fmt: skip
        path = Path(rest[1:])
        option = f"{ENV_MLFLOW_URI}'s database"
        if path.exists():
            if not path.is_file():
                kind = "a folder" if path.is_dir() else "not a regular file"
                raise HarnessError(f"{option} {str(path)!r} is {kind}; expected a SQLite file")
            with open(path, "rb") as file:
                head = file.read(len(SQLITE_HEADER))
            if head and head != SQLITE_HEADER:
                raise HarnessError(
                    f"{option} {str(path)!r} is not a SQLite database: point "
                    f"{ENV_MLFLOW_URI} at an MLflow database or a new file"
                )
        return check_writable(path, option=option, folder=False)
    if scheme in ("file", ""):
        check_writable(Path(rest if sep else uri), option=f"{ENV_MLFLOW_URI}'s folder")
        return None
    raise HarnessError(f"{ENV_MLFLOW_URI} must be {expected}, got {uri!r}")


@dataclass(frozen=True)
class Cost:
    """What a scenario costs, estimated from its keys."""

    worker_shifts: int
    """Evaluated worker-shifts."""
    history_bytes: int
    """Bytes of the stored records (history and evaluated days)."""
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


def check_cost(scenario: sim.Scenario, *, cache: Path, workers: int | None) -> Cost:
    """Refuse a scenario whose history cannot fit the cache disk or whose tasks cannot fit the
    memory of this machine, naming the figure and the keys; returns the estimate."""
    import psutil

    cost = estimate(scenario)
    drivers = (
        f"line.posts {scenario.n_posts} × workers.per_post {scenario.workers.per_post} × "
        f"shifts.per_day {scenario.shifts.per_day} × "
        f"{scenario.days.history + scenario.days.evaluate} days (days.history + days.evaluate) × "
        f"{scenario.samples_per_shift} samples (shifts.length_s × shifts.rate_hz) × "
        f"{RECORD_BYTES_PER_SAMPLE} B"
    )
    existing = Path(cache)
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
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


@contextlib.contextmanager
def store_created(uri: str) -> Iterator[None]:
    """Hold an exclusive lock of a ``sqlite:///`` store's file while the block first uses it,
    so that two commands starting on a fresh store do not both create its tables (``table
    ... already exists``). SQLite locks byte ranges with ``fcntl``; ``flock`` does not
    interfere. Other stores: no lock."""
    import fcntl

    database = check_tracking_uri(uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database, "ab") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)
