"""Where messages go: the console for the harness's own words, a log file for library notices.

Without ``-v`` the console shows only what a command prints and warnings of the harness
itself; notices of Ray, MLflow, Optuna, Alembic and Python warnings go to the log file of the
command's output folder (:func:`log_to`), if any. With ``-v`` they are shown on the console too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

LOG_NAME = "harness.log"
"""The log file written into a command's output folder."""
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_QUIET_ENV = {
    "MLFLOW_CONFIGURE_LOGGING": "false",  # MLflow's loggers propagate to ours
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # no "View run" links on stdout
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


@contextlib.contextmanager
def log_to(folder: Path) -> Iterator[Path]:
    """Inside the block, every log record also goes to ``folder / LOG_NAME``."""
    path = folder / LOG_NAME
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
