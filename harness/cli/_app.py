"""The CLI's group, its shared options and parameter types, declared once."""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from harness.cli import PROG
from harness.runtime.settings import ENV_CACHE, ENV_RAY_ADDRESS, ENV_TIMEOUT

CONTEXT = {
    "help_option_names": ["-h", "--help"],
    "show_default": True,
    "max_content_width": 100,
    "auto_envvar_prefix": "HAZARD_HARNESS",
}


class Finite(click.ParamType):
    """A finite float within optional bounds (click's FloatRange lets NaN through)."""

    name = "number"

    def __init__(
        self, low: float | None = None, *, low_open: bool = False, high: float | None = None
    ) -> None:
        self.low, self.low_open, self.high = low, low_open, high

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"expected a number, got {value!r}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"expected a finite number, got {value!r}", param, ctx)
        if self.low is not None and (number <= self.low if self.low_open else number < self.low):
            bound = f"{'>' if self.low_open else '>='} {self.low:g}"
            self.fail(f"expected a number {bound}, got {value}", param, ctx)
        if self.high is not None and number > self.high:
            self.fail(f"expected a number <= {self.high:g}, got {value}", param, ctx)
        return number


POSITIVE_SECONDS = Finite(0.0, low_open=True, high=86_400.0)
MAX_SEED = 2**63 - 1
"""Largest seed (an int64, as a scenario's ``seed``: MLflow and the stores keep it as one)."""
SEED = click.IntRange(0, MAX_SEED)
MAX_WORKERS = 4096
"""Most Ray workers asked for (a local Ray is further bounded by the cores)."""
MAX_DAYS = 3650
"""Most days of anything (ten years, as in a scenario)."""
MIN_EVAL_FRAMES = 32
"""Fewest held-out frames ``perception eval`` scores (fewer may hold no person to score)."""
MAX_CHANNELS = 1024
"""Most channels of one encoder stage of the keypoint network."""
CORES = os.cpu_count() or 1
"""This machine's cores: the bound of torch threads and rendering processes."""


class AutoOrCount(click.IntRange):
    """``auto`` or an integer within ``[low, high]``."""

    name = "auto|integer"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value == "auto":
            return value
        if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
            self.fail(f"expected auto or a whole number, got {value!r}", param, ctx)
        return super().convert(value, param, ctx)


def count(low: int, high: int) -> click.IntRange:
    """An integer option within ``[low, high]`` (click names the range in its refusal)."""
    return click.IntRange(low, high)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROG)
    except PackageNotFoundError:
        return "source"


def _options(*decorators: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable:
    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


MAX_PATH_BYTES = 4096
"""Longest path a command takes (Linux's PATH_MAX); each name in it at most 255 bytes."""


class PathText(click.ParamType):
    """A path (``local``: a :class:`pathlib.Path`) or a URI kept as typed, checked as text
    before anything opens it: not empty, no control character (a newline), no name longer than
    a file system holds (the OS would answer "File name too long" deep in a command)."""

    name = "path"

    def __init__(self, *, local: bool) -> None:
        self.local = local

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
        if not text.strip():
            self.fail("expected a path, got an empty one", param, ctx)
        if not text.isprintable():
            self.fail(f"expected a path without control characters, got {text!r:.80}", param, ctx)
        longest = max(len(part.encode()) for part in text.split("/"))
        if len(text.encode()) > MAX_PATH_BYTES or longest > 255:
            self.fail(
                f"expected a path of at most {MAX_PATH_BYTES} bytes with names of at most 255, "
                f"got {len(text.encode())} bytes (its longest name {longest})",
                param,
                ctx,
            )
        return Path(text) if self.local else text


LOCAL_PATH = PathText(local=True)
"""A local file or folder."""
LOCATION = PathText(local=False)
"""A folder: a local path, or an object-storage URI (s3://BUCKET/PREFIX, gs://, abfs://,
file://) kept as typed (click's Path would fold its ``//``)."""
cache_option = click.option(
    "--cache",
    type=LOCATION,
    metavar="DIR|URI",
    envvar=ENV_CACHE,
    help=f"cache folder or s3://BUCKET/PREFIX: history stores, trained graders [env {ENV_CACHE};"
    " default .hazard-cache]",
)
timeout_option = click.option(
    "--timeout",
    type=POSITIVE_SECONDS,
    envvar=ENV_TIMEOUT,
    help=f"seconds to wait for a Ray cluster or MLflow server [env {ENV_TIMEOUT}; default 10]",
)
progress_option = click.option(
    "--no-progress", is_flag=True, help="no progress bars (they are drawn only on a terminal)"
)
verbose_option = click.option(
    "-v", "--verbose", is_flag=True, help="show library notices (Ray, MLflow) on the console"
)
json_option = click.option("--json", "as_json", is_flag=True, help="print a JSON summary")
_ray_options = _options(
    click.option(
        "--address",
        envvar=ENV_RAY_ADDRESS,
        help=f"Ray cluster to join, HOST:PORT or ray://HOST:PORT [env {ENV_RAY_ADDRESS}; "
        "default: a local Ray]",
    ),
    click.option(
        "--workers",
        type=count(1, MAX_WORKERS),
        help="Ray workers (one CPU each) [default: all local cores, or the whole cluster]",
    ),
    timeout_option,
)


def compute_options(fn: Callable[..., int]) -> Callable[..., int]:
    """``--address``, ``--workers``, ``--timeout`` and ``--no-progress``, handed to the command
    as one ``compute`` (:class:`harness.adapters.ray_cluster.ComputeOptions`)."""

    @functools.wraps(fn)
    def body(**kw: Any) -> int:
        from harness.adapters.ray_cluster import ComputeOptions

        kw["compute"] = ComputeOptions(
            address=kw.pop("address"),
            workers=kw.pop("workers"),
            timeout=kw.pop("timeout"),
            progress=not kw.pop("no_progress"),
        )
        return fn(**kw)

    return _ray_options(progress_option(body))


job_options = _options(cache_option, compute_options, json_option)
"""A job's options: ``--cache``, the compute options and ``--json``."""


device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    help="torch device (auto: cuda when available)",
)


def command(group: click.Group, name: str | None = None) -> Callable:
    """Declare a command of ``group``: its ``-v`` sets up logging before the body runs."""

    def declare(fn: Callable[..., int]) -> click.Command:
        @functools.wraps(fn)
        def body(**kw: Any) -> int:
            from harness.runtime import logs

            logs.configure(verbose=kw.pop("verbose"))
            return fn(**kw)

        return group.command(name)(verbose_option(body))

    return declare


@click.group(context_settings=CONTEXT)
@click.version_option(_version(), "--version", prog_name=PROG, message="%(prog)s %(version)s")
def cli() -> None:
    """Simulate a production line and evaluate the safety-hazard tracking model."""


def parse_channels(value: str) -> tuple[int, ...]:
    try:
        channels = tuple(int(c) for c in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None
    if not 2 <= len(channels) <= 8 or not all(1 <= c <= MAX_CHANNELS for c in channels):
        raise click.BadParameter(
            f"expected 2 to 8 channel counts, each in [1, {MAX_CHANNELS}], got {value!r}"
        )
    return channels


def print_json(data: Any) -> None:
    from harness.runtime.staging import json_safe

    click.echo(json.dumps(json_safe(data), indent=2))
