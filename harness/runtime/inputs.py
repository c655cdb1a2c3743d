"""The files users give commands (scenarios, model parameters, read strictly) and the paths
they name for outputs (checked writable before any work).

One loader each, shared by every command, so that a bad file gets the same one-line
:class:`HarnessError` naming the file and the key wherever it is given.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import tempfile
from pathlib import Path

import yaml

import core
import sim
from harness.runtime.errors import HarnessError
from sim._yaml import read_limited, read_yaml
from sim.registry import unknown_key

MAX_PARAM_INT = 10**15
"""Largest integer a params file may give (a float holds it exactly; 400 digits do not fit)."""
ID_PATTERN = r"^[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}$"
"""An id that names files (a shift, a worker): letters, digits and ``_ . @ -``, not starting
with a dot, at most 64 characters (so never a path)."""


def check_id(value: object, *, what: str) -> str:
    """``value`` if it is an id (:data:`ID_PATTERN`), else a HarnessError naming ``what``."""
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
        raise HarnessError(
            f"{what} must be an id of at most 64 letters, digits and _ . @ - (not starting "
            f"with a dot), got {value!r:.80}"
        )
    return value


def read_regular(path: str | os.PathLike[str], *, what: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` (a ``what``), refusing devices, FIFOs, folders
    and files over ``max_bytes`` in one line (see :func:`sim._yaml.read_limited`)."""
    try:
        return read_limited(path, source=f"{what} {str(path)!r}", max_bytes=max_bytes)
    except sim.ScenarioError as exc:
        raise HarnessError(str(exc)) from None


def load_scenario_file(path: str | Path) -> sim.Scenario:
    """The scenario in ``path``; a bad one raises :class:`HarnessError` naming the file."""
    try:
        return sim.load_scenario(path)
    except sim.ScenarioError as exc:
        message = str(exc)
        where = "" if str(path) in message else f"scenario {str(path)!r}: "
        raise HarnessError(f"{where}{message}") from None


def load_params(path: str | Path | None) -> core.ModelParams:
    """MODEL.md's defaults overridden by a flat YAML mapping of ``ModelParams`` fields."""
    if path is None:
        return core.ModelParams()
    try:
        values = read_yaml(path, what="params file")
    except sim.ScenarioError as exc:
        raise HarnessError(str(exc)) from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        got = type(values).__name__
        raise HarnessError(
            f"params file {str(path)!r} must hold a mapping of parameters, got {got}"
        )
    known = [f.name for f in dataclasses.fields(core.ModelParams)]
    unknown = [unknown_key(str(key), str(key), known) for key in values if key not in known]
    if unknown:  # worded as a scenario's unknown key, with "did you mean"
        raise HarnessError(f"params file {str(path)!r}: {'; '.join(unknown)}")
    for key, value in values.items():
        if isinstance(value, int) and abs(value) > MAX_PARAM_INT:
            raise HarnessError(
                f"params file {str(path)!r}: {key} must be a number of at most 15 digits, got "
                f"an integer of {len(str(abs(value)))} digits"
            )
    try:
        return core.ModelParams.from_dict(values)
    except (core.ModelInputError, TypeError) as exc:
        raise HarnessError(f"params file {str(path)!r}: {exc}") from None


def dump_params(params: core.ModelParams, path: str | Path) -> None:
    """Write ``params`` as YAML loadable by :func:`load_params`."""
    Path(path).write_text(yaml.safe_dump(params.to_dict(), sort_keys=False))


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
