"""The files users give commands (scenarios, model parameters, read strictly) and the paths
they name for outputs (checked writable before any work).

One loader each, shared by every command, so that a bad file gets the same one-line
:class:`HarnessError` naming the file and the key wherever it is given.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

import core
import sim
from harness.runtime import storage
from harness.runtime.errors import HarnessError
from harness.runtime.settings import CACHE_FOLDERS
from harness.runtime.storage import Location, StorageError
from sim.registry import unknown_key
from sim.strict_yaml import MAX_INT_DIGITS, read_limited, read_yaml

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


def check_count(option: str, value: int | None, *, low: int = 1) -> None:
    """Raise unless ``value`` (of ``--option``) is None or an integer >= ``low``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
        raise HarnessError(f"--{option} must be an integer >= {low}, got {value!r}")


def check_fraction(option: str, value: float, *, below_one: bool = False) -> float:
    """``value`` (of ``--option``) as a float; raise unless it is a number in [0, 1] (in
    [0, 1) with ``below_one``)."""
    numeric = not isinstance(value, bool) and isinstance(value, (int, float))
    if not numeric or not (0.0 <= value < 1.0 if below_one else 0.0 <= value <= 1.0):
        interval = "[0, 1)" if below_one else "[0, 1]"
        raise HarnessError(f"--{option} must be a number in {interval}, got {value!r}")
    return float(value)


def read_regular(path: str | os.PathLike[str], *, what: str, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path`` (a ``what``), refusing devices, FIFOs, folders
    and files over ``max_bytes`` in one line (see :func:`sim.strict_yaml.read_limited`)."""
    try:
        return read_limited(path, source=f"{what} {str(path)!r}", max_bytes=max_bytes)
    except sim.ScenarioError as exc:
        raise HarnessError(str(exc)) from None


class _LongInt(int):
    """An integer literal of too many digits, kept as its digit count (see :func:`read_json`)."""


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    return _LongInt(digits) if digits > MAX_INT_DIGITS else int(text)


def _long_int_at(data: Any) -> tuple[str, int] | None:
    """The key path and digit count of the first :class:`_LongInt` in ``data``, if any."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _LongInt):
            return path.lstrip(".") or "the top level", int(value)
        if isinstance(value, dict):
            stack += [(f"{path}.{k}", v) for k, v in reversed(value.items())]
        elif isinstance(value, list):
            stack += [(f"{path}[{k}]", v) for k, v in reversed(list(enumerate(value)))]
    return None


def read_json(path: str | os.PathLike[str], *, what: str, max_bytes: int) -> Any:
    """The local JSON file ``path`` (a ``what``, e.g. "results file"): a regular file under
    ``max_bytes``, parsed by :func:`parse_json`.

    Raises:
        HarnessError: one line naming the file and the problem.
    """
    data = read_regular(path, what=what, max_bytes=max_bytes)
    return parse_json(data, source=f"{what} {str(path)!r}")


def parse_json(data: bytes, *, source: str) -> Any:
    """JSON a user gave (``source`` names it in errors), read as users' files are: UTF-8,
    nesting Python can parse, integers of at most :data:`sim.strict_yaml.MAX_INT_DIGITS` digits
    (naming the key of a longer one).

    Raises:
        HarnessError: one line naming ``source`` and the problem.
    """
    try:
        value = json.loads(data, parse_int=_bounded_int)
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{source} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{source} is not valid JSON: {exc}") from None
    except RecursionError:
        raise HarnessError(f"{source} is nested too deeply to be read") from None
    found = _long_int_at(value)
    if found is not None:
        key, digits = found
        raise HarnessError(
            f"{source}: {key}: expected a number, got an integer of {digits} digits (at most "
            f"{MAX_INT_DIGITS})"
        )
    return value


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
            )  # longer than MAX_INT_DIGITS: refused by the reader, naming the key
    try:
        return core.ModelParams.from_dict(values)
    except (core.ModelInputError, TypeError) as exc:
        raise HarnessError(f"params file {str(path)!r}: {exc}") from None


def dump_params(params: core.ModelParams, path: str | Path | Location) -> None:
    """Write ``params`` as YAML loadable by :func:`load_params` (locally or on object storage)."""
    target = Path(path) if isinstance(path, str) else path
    target.write_text(yaml.safe_dump(params.to_dict(), sort_keys=False))


OBJECT_STORAGE_OPTIONS = "run and tune (SOURCE, --out, --cache) and records (export --out, check)"
"""Where a URI is accepted (named when one is given elsewhere)."""


def check_output(value: str | os.PathLike[str], *, option: str = "--out") -> Path | Location:
    """A command's output folder, checked before any work: a local folder that can be written
    (returned as a Path), or an object-storage prefix (a Location) whose bucket answers to
    these credentials, that holds nothing but an earlier output, and where they may write.

    Raises:
        HarnessError: naming ``option``, the path or URI and why, in one line.
    """
    where = storage.location(value, what=option)
    if not where.remote:
        return check_writable(Path(where.path), option=option)
    storage.check_bucket(where, option=option)
    if "/" not in where.path:
        raise StorageError(f"{option} {where.uri}: name a prefix in the bucket "
                           "(s3://BUCKET/PREFIX), not the bucket itself")  # fmt: skip
    if where.is_file():
        raise StorageError(f"{option} {where.uri} is an object; expected a prefix (a folder)")
    names = [c.name for c in where.children()]
    if names and storage.MANIFEST not in names:
        raise StorageError(
            f"{option} {where.uri} holds {len(names)} entries ({', '.join(names[:3])}"
            f"{', …' if len(names) > 3 else ''}) and no {storage.MANIFEST}: it is not an output "
            "of this harness; choose an empty prefix"
        )
    storage.probe_write(where.parent, option=option)
    return where


def check_cache(where: Location) -> Location:
    """The cache (``--cache``), checked like an output folder; on object storage the prefix
    may hold only the cache's own folders (:data:`harness.runtime.settings.CACHE_FOLDERS`)."""
    if not where.remote:
        check_writable(Path(where.path), option="--cache")
        return where
    storage.check_bucket(where, option="--cache")
    if where.is_file():
        raise StorageError(f"--cache {where.uri} is an object; expected a prefix (a folder)")
    other = [c.name for c in where.children() if c.name not in CACHE_FOLDERS]
    if other:
        raise StorageError(
            f"--cache {where.uri} holds {', '.join(other[:3])}{', …' if len(other) > 3 else ''}"
            f" besides a cache ({', '.join(f + '/' for f in CACHE_FOLDERS)}): choose an empty "
            "prefix or an existing cache"
        )
    storage.probe_write(where, option="--cache")
    return where


def check_writable(path: Path, *, option: str, folder: bool = True) -> Path:
    """Raise unless ``path`` can be created or written as a folder (or a file).

    Raises:
        HarnessError: naming ``option``, the path and why.
    """
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/", str(path)):  # click's Path folds the "//"
        raise HarnessError(
            f"{option} {str(path)!r}: takes a local path here; object storage (s3://…) is "
            f"taken by {OBJECT_STORAGE_OPTIONS}"
        )
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
