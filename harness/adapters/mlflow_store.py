"""MLflow's store: where runs go, checked before any work.

The tracking URI is ``MLFLOW_TRACKING_URI`` when set (a tracking server for clusters), else a
SQLite file ``mlflow.db`` in the working folder. A server is checked before any work
(:func:`check_server`, one HTTP request with the connection timeout) and MLflow's own HTTP
retries are bounded, so an unreachable server is reported in seconds, not after minutes of
retries; a URI MLflow cannot use is refused before it hangs or fails late
(:func:`check_tracking_uri`); two commands starting on a fresh SQLite store do not race to
create its tables (:func:`store_created`).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_writable
from harness.runtime.settings import ENV_MLFLOW_URI

DEFAULT_DB = "mlflow.db"


_HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


def tracking_uri() -> str:
    """The tracking URI in force: the environment's, else the SQLite file in the working folder."""
    return os.environ.get(ENV_MLFLOW_URI) or f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_server(*, timeout: float) -> None:
    """Check the tracking store is usable before any work; bound MLflow's HTTP retries.

    A tracking server must answer its ``/health`` endpoint within ``timeout`` seconds; a SQLite
    file's folder must be writable.

    Raises:
        HarnessError: naming the URI and the fix.
    """
    uri = tracking_uri()
    for name, value in _HTTP_LIMITS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, math.ceil(timeout))))
    if _is_server(uri):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                if response.status != 200:
                    raise OSError(f"HTTP {response.status}")
        except (OSError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HarnessError(
                f"the MLflow tracking server {uri} does not answer {url} within {timeout:g} s "
                f"({reason}): start it, or fix {ENV_MLFLOW_URI} (unset it to log to ./"
                f"{DEFAULT_DB}), or raise --timeout / HAZARD_HARNESS_TIMEOUT"
            ) from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not os.access(folder, os.W_OK):
            raise HarnessError(
                f"the MLflow database {uri} is in a folder this user cannot write: run from a "
                f"writable folder or set {ENV_MLFLOW_URI}"
            )


def check_store(timeout: float) -> None:
    """The MLflow tracking store is one MLflow can use, answers and can be written (see
    :func:`check_tracking_uri` and :func:`check_server`)."""
    check_tracking_uri(tracking_uri())
    check_server(timeout=timeout)


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file."""


_DATABASE_SCHEMES = ("postgresql", "mysql", "mssql", "databricks", "http", "https")
"""Tracking URI schemes checked by MLflow itself or by :func:`check_server`."""


def check_tracking_uri(uri: str) -> Path | None:
    """Refuse a tracking URI that MLflow cannot use, before it hangs or fails late: an unknown
    scheme, a SQLite path that is a folder, a device or not a SQLite database, a store folder
    that cannot be written. Returns the SQLite file of a ``sqlite:///`` URI.

    Raises:
        HarnessError: naming ``MLFLOW_TRACKING_URI``, what came and what is expected.
    """
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


@contextlib.contextmanager
def store_created(uri: str) -> Iterator[None]:
    """Hold an exclusive lock of a ``sqlite:///`` store's file while the block first uses it,
    so that two commands starting on a fresh store do not both create its tables (``table
    ... already exists``). SQLite locks byte ranges with ``fcntl``; ``flock`` does not
    interfere. Other stores: no lock."""
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
