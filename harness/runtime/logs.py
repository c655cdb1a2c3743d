"""Where messages go: the console for the harness's own words, a log file for library notices.

One policy for every command and script (they call :func:`configure` first): without ``-v``
the console shows only what a command prints and warnings of the harness itself; notices of
Ray, MLflow, Optuna, Alembic and Python warnings, and what MLflow prints itself ("Successfully
registered model", "Created version"), go to the log file of the command's output folder
(:func:`log_to`), if any. With ``-v`` they are shown on the console too. Libraries draw no
progress bars (MLflow's artifact downloads, uploads) and no "View run" links; the harness's
own bars are drawn only on a terminal (:mod:`harness.runtime.progress`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.runtime.storage import Location

LOG_NAME = "harness.log"
"""The log file written into a command's output folder."""
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_QUIET_ENV = {
    "MLFLOW_CONFIGURE_LOGGING": "false",  # MLflow's loggers propagate to ours
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # no "View run" links on stdout
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # no "Downloading artifacts" bars
    "RAY_USAGE_STATS_ENABLED": "0",
}


_SELF_PRINTING = ("mlflow", "ray")
"""Libraries that attach their own console handlers (when imported before :func:`configure`)."""


class _ConsoleFilter(logging.Filter):
    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        return self.verbose or record.name == "harness" or record.name.startswith("harness.")


def configure(*, verbose: bool) -> None:
    """Console logging for one command (call before the libraries are imported)."""
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    logging.captureWarnings(True)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_harness", False)]:
        root.removeHandler(handler)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.addFilter(_ConsoleFilter(verbose))
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console._harness = True  # type: ignore[attr-defined]
    root.addHandler(console)
    root.setLevel(logging.INFO)
    for name in _SELF_PRINTING:
        adopt(name)


def adopt(name: str) -> None:
    """Route a library logger that prints on its own (Ray's) through ours instead."""
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True


class PrintsToLog(io.TextIOBase):
    """A stream whose lines become INFO records of a library's logger."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.logger = logging.getLogger(name)
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            if line.strip():
                self.logger.info(line.rstrip())
        return len(text)


@contextlib.contextmanager
def log_to(folder: Path | Location) -> Iterator[Path | Location]:
    """Inside the block, every log record also goes to ``folder / LOG_NAME``.

    On object storage the records are kept in memory and written when the block succeeds
    (the folder is a staging prefix, removed when it fails).
    """
    path = folder / LOG_NAME
    remote = not isinstance(folder, Path) and folder.remote
    buffer = io.StringIO()
    handler = (
        logging.StreamHandler(buffer) if remote else logging.FileHandler(path, encoding="utf-8")  # type: ignore[arg-type]
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
    if remote:
        path.write_text(buffer.getvalue())
