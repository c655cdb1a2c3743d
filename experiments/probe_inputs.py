"""Probe every command with bad input, as a hostile user would, and count what escapes.

Each case runs the real CLI (``python -m harness``) as a subprocess in a folder of its own
(its own MLflow database, cache and Ray temp folder), with a time limit, and is classified:

- ``clean``: exit 2 with one line on stderr (the promise), or, for an interrupt case,
  ``128 + signal`` with one line;
- ``noisy``: the right exit status but more than one line on stderr;
- ``traceback``: a Python traceback, or an exit status no promise allows (1, killed by a
  signal: −15, …);
- ``hang``: still running at the time limit (killed);
- ``accepted``: the bad input got through every check (exit 0, or the command reached the
  ``ray_start`` moment, where the probe's fault hook stops it with SIGTERM so that nothing is
  computed for nothing).

Cases are generated from tables: every key of a scenario, of a params file and of a records
manifest with values no schema expects (integers of thousands of digits, lists and mappings
where a number goes, NaN, booleans, names with newlines or ``../``), unhashable and unknown
keys, every option of every command, the environment (``MLFLOW_TRACKING_URI``,
``RAY_ADDRESS``, …), records tables, run folders and the names users give. A few bases are
built first (a records folder, a run folder) by the same CLI.

Run: ``python experiments/probe_inputs.py [--jobs 2] [--only TEXT] [--out probe.json]``; it
prints the counts per outcome and per family, and every case that was not clean.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
HUGE = "9" * 5000
"""An integer literal of 5,000 digits (more than Python converts to text by default)."""
STOP_AT_RAY = "ray_start:SIGTERM"
"""The fault hook that stops a command whose input got through every check."""

TINY: dict[str, Any] = {
    "name": "probe",
    "seed": 5,
    "line": {"posts": 3, "correlation": "chain"},
    "shifts": {"per_day": 2, "length_s": 600, "rate_hz": 1.0, "breaks": [[300, 360]]},
    "days": {"history": 4, "evaluate": 3},
    "workers": {
        "per_post": 1,
        "cast": [
            {"post": 2, "shift": "day", "profile": "wanderer"},
            {"post": 3, "shift": "night", "profile": "novice"},
        ],
    },
    "equipment": {
        "fault_rate": 0.2,
        "faults": [{"post": 3, "day": 5, "shift": "day", "kind": "guard_missing"}],
    },
    "environment": {
        "temperature_c": {"mean": 24, "sd": 2},
        "excursions": [{"post": 1, "day": 6, "shift": "night", "temperature_c": 45}],
    },
    "fidelity": "signal",
}
"""A scenario small enough that a command that accepts it finishes in seconds."""


@dataclass(frozen=True)
class Base:
    """What the cases build on: the probe's folder, a scenario, a records folder, a run."""

    root: Path
    scenario: Path
    records: Path
    run: Path


@dataclass(frozen=True)
class Case:
    """One bad input: the CLI arguments (built in the case's folder) and the environment."""

    name: str
    family: str
    argv: Callable[[Path, Base], list[str]]
    env: dict[str, str] = field(default_factory=dict)
    stop_at_ray: bool = True
    """Stop at the ``ray_start`` moment (the input got through every check)."""
    signal: int | None = None
    """An interrupt case: the exit status must be 128 + this."""


# --- building files -------------------------------------------------------------------------

RAW = "@@RAW{}@@"


def raw_yaml(data: Any, raws: dict[str, str]) -> str:
    """``data`` as YAML, with each placeholder ``RAW.format(k)`` replaced by the raw YAML text
    ``raws[k]`` (values no dumper writes: 5,000-digit integers, list keys)."""
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=10**6)
    for key, snippet in raws.items():
        placeholder = RAW.format(key)
        text = text.replace(f"'{placeholder}'", snippet).replace(placeholder, snippet)
    return text


def put(data: Any, path: str, value: Any) -> Any:
    """A deep copy of ``data`` with ``value`` at the dotted ``path`` (``a.b.0.c``)."""
    data = copy.deepcopy(data)
    *keys, last = path.split(".")
    node = data
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def scenario_with(t: Path, path: str, raw: str, base: dict[str, Any] = TINY) -> str:
    """A scenario file with the raw YAML ``raw`` at ``path``."""
    text = raw_yaml(put(base, path, RAW.format(0)), {"0": raw})
    target = t / "s.yaml"
    target.write_text(text)
    return str(target)


def text_file(t: Path, name: str, data: str | bytes) -> str:
    path = t / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def plain_scenario(t: Path, base: Base) -> str:
    return str(base.scenario)


def records_copy(t: Path, base: Base) -> Path:
    folder = t / "rec"
    shutil.copytree(base.records, folder)
    return folder


def manifest_with(path: str, raw: str) -> Callable[[Path, Base], Path]:
    """A records folder whose records.json has the raw JSON ``raw`` at ``path``."""

    def make(t: Path, base: Base) -> Path:
        folder = records_copy(t, base)
        data = json.loads((folder / "records.json").read_text())
        text = json.dumps(put(data, path, RAW.format(0)))
        (folder / "records.json").write_text(text.replace(f'"{RAW.format(0)}"', raw))
        return folder

    return make


def table_with(name: str, change: Callable[[pa.Table], pa.Table]) -> Callable[[Path, Base], Path]:
    """A records folder whose table ``name`` is ``change``d."""

    def make(t: Path, base: Base) -> Path:
        folder = records_copy(t, base)
        paths = (
            sorted((folder / "seconds").glob("*.parquet")) if name == "seconds" else [folder / name]
        )
        path = paths[0]
        pq.write_table(change(pq.read_table(path)), path)
        return folder

    return make


def run_folder_with(change: Callable[[dict[str, Any]], Any], file: str = "results.json"):
    """A copy of the base run folder whose ``file`` (JSON) is ``change``d (in place)."""

    def make(t: Path, base: Base) -> str:
        folder = t / "run"
        shutil.copytree(base.run, folder)
        data = json.loads((folder / file).read_text())
        changed = change(data)
        text = changed if isinstance(changed, str) else json.dumps(data)
        (folder / file).write_text(text)
        return str(folder)

    return make


# --- the tables of bad values ---------------------------------------------------------------

TYPE_ERRORS = {"list": "[1, 2]", "map": "{a: 1}", "text": '"seven"', "bool": "true"}
NUMBER_ERRORS = {
    **TYPE_ERRORS,
    "huge-int": HUGE,
    "nan": ".nan",
    "inf": ".inf",
    "null": "null",
}
INT_ERRORS = {**NUMBER_ERRORS, "fraction": "1.5", "negative": "-1", "int64": str(2**63)}

SCENARIO_KEYS: dict[str, dict[str, str]] = {
    "name": {
        "list": "[1, 2]",
        "map": "{a: 1}",
        "bool": "true",
        "empty": '""',
        "newline": '"a\\nb"',
        "dotdot": '"../../x"',
        "slash": '"a/b"',
        "long": '"' + "n" * 600 + '"',
        "huge-int": HUGE,
        "null": "null",
    },
    "seed": {**INT_ERRORS, "big": str(2**64)},
    "line": {**TYPE_ERRORS, "null": "null", "empty": "{}", "huge-int": HUGE},
    "line.posts": {**INT_ERRORS, "zero": "0", "billion": "1000000000"},
    "line.correlation": {
        "unknown": '"chan"',
        "out-of-range": "[[2, 0, 0], [0, 1, 0], [0, 0, 1]]",
        "ragged": "[[1, 0], [0, 1, 0], [1]]",
        "nan": "[[.nan, 0, 0], [0, 1, 0], [0, 0, 1]]",
        "huge-int": f"[[{HUGE}, 0, 0], [0, 1, 0], [0, 0, 1]]",
        "map": "{a: 1}",
        "number": "5",
        "small": "[[1]]",
    },
    "shifts": {**TYPE_ERRORS, "null": "null", "huge-int": HUGE},
    "shifts.per_day": {**INT_ERRORS, "three": "3", "zero": "0", "float": "2.0"},
    "shifts.length_s": {**NUMBER_ERRORS, "zero": "0", "negative": "-5", "year": "31536000"},
    "shifts.rate_hz": {**NUMBER_ERRORS, "zero": "0", "fast": "1000", "odd": "0.3333"},
    "shifts.breaks": {
        **TYPE_ERRORS,
        "short": "[[1]]",
        "reversed": "[[50, 10]]",
        "past-end": "[[10, 100000]]",
        "overlap": "[[10, 50], [40, 60]]",
        "nan": "[[.nan, 10]]",
        "huge-int": f"[[0, {HUGE}]]",
        "three": "[[1, 2, 3]]",
    },
    "days": {**TYPE_ERRORS, "null": "null", "huge-int": HUGE},
    "days.history": {**INT_ERRORS, "billion": "1000000000"},
    "days.evaluate": {**INT_ERRORS, "billion": "1000000000"},
    "workers": {**TYPE_ERRORS, "null": "null", "huge-int": HUGE},
    "workers.per_post": {**INT_ERRORS, "zero": "0", "million": "1000000"},
    "workers.floaters": {**INT_ERRORS, "million": "1000000"},
    "workers.absence_rate": {**NUMBER_ERRORS, "one": "1", "negative": "-0.1"},
    "workers.learning_days": {**NUMBER_ERRORS, "negative": "-2", "huge": "1e9"},
    "workers.variation": {**NUMBER_ERRORS, "two": "2"},
    "workers.fatigue": {**TYPE_ERRORS, "huge-int": HUGE, "unknown": "{evening: 0.1}"},
    "workers.fatigue.day": {**NUMBER_ERRORS, "one": "1"},
    "workers.rotation": {**TYPE_ERRORS, "huge-int": HUGE, "empty": "{}"},
    "workers.rotation.every_days": {**INT_ERRORS, "zero": "0"},
    "workers.rotation.mode": {**TYPE_ERRORS, "unknown": '"shuffle"', "swap": '"swap_shift"'},
    "workers.cast": {
        **TYPE_ERRORS,
        "huge-int": HUGE,
        "entry-number": "[5]",
        "entry-empty": "[{}]",
        "post-99": "[{post: 99, profile: novice}]",
        "profile": "[{post: 1, profile: wizard}]",
        "shift": "[{post: 1, shift: evening, profile: novice}]",
        "slot": "[{post: 1, slot: 5, profile: novice}]",
        "skill-0": "[{post: 1, skill: 0}]",
        "skill-huge": f"[{{post: 1, skill: {HUGE}}}]",
        "from-day": "[{post: 1, profile: novice, from_day: 1000}]",
        "name-newline": '[{post: 1, profile: novice, name: "a\\nb"}]',
        "name-dotdot": '[{post: 1, profile: novice, name: "../x"}]',
        "name-floater": "[{post: 1, profile: novice, name: f1}]",
        "name-twice": "[{post: 1, profile: novice, name: a}, {post: 2, profile: novice, name: a}]",
        "unhashable": "[{post: 1, profile: novice, [a]: 1}]",
    },
    "equipment": {**TYPE_ERRORS, "null": "null", "huge-int": HUGE},
    "equipment.fault_rate": {**NUMBER_ERRORS, "negative": "-1", "huge": "1e9"},
    "equipment.faults": {
        **TYPE_ERRORS,
        "huge-int": HUGE,
        "kind": "[{post: 1, day: 5, kind: explosion}]",
        "post": "[{post: 9, day: 5, kind: guard_missing}]",
        "day-0": "[{post: 1, day: 0, kind: guard_missing}]",
        "day-late": "[{post: 1, day: 99, kind: guard_missing}]",
        "severity": "[{post: 1, day: 5, kind: displaced, severity: 9}]",
        "severity-huge": f"[{{post: 1, day: 5, kind: displaced, severity: {HUGE}}}]",
        "shift": "[{post: 1, day: 5, shift: evening, kind: guard_missing}]",
        "entry": "[7]",
    },
    "environment": {**TYPE_ERRORS, "null": "null", "huge-int": HUGE},
    "environment.temperature_c": {**TYPE_ERRORS, "huge-int": HUGE, "missing": "{mean: 1}"},
    "environment.temperature_c.mean": NUMBER_ERRORS,
    "environment.temperature_c.sd": {**NUMBER_ERRORS, "negative": "-1"},
    "environment.excursions": {
        **TYPE_ERRORS,
        "huge-int": HUGE,
        "empty": "[{post: 1, day: 5}]",
        "nan": "[{post: 1, day: 5, temperature_c: .nan}]",
        "huge": f"[{{post: 1, day: 5, temperature_c: {HUGE}}}]",
        "post": "[{post: 0, day: 5, temperature_c: 40}]",
    },
    "fidelity": {**TYPE_ERRORS, "unknown": '"pixels"', "null": "null", "huge-int": HUGE},
    "lines": {"unknown-key": "{posts: 3}"},
}
"""Scenario keys (dotted paths) and the raw YAML values no schema expects there."""

WHOLE_FILES: dict[str, str | bytes] = {
    "empty": "",
    "list": "- 1\n- 2\n",
    "number": "5\n",
    "huge-int": HUGE + "\n",
    "text": "hello\n",
    "key-list": "[a, b]: 1\nname: x\n",
    "key-map": "{a: 1}: 1\nname: x\n",
    "key-list-nested": "name: x\nline: {posts: 3, [c]: 1}\n",
    "key-int": "1: x\nname: y\nline: {posts: 3}\n",
    "key-huge-int": f"{HUGE}: x\nname: y\nline: {{posts: 3}}\n",
    "key-null": "~: x\nname: y\nline: {posts: 3}\n",
    "deep": "a: " + "[" * 3000 + "]" * 3000 + "\n",
    "deep-map": "a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n",
    "not-utf8": b"name: \xff\xfe\n",
    "nul": b"name: a\x00b\nline: {posts: 3}\n",
    "tabs": "name: x\n\tline: {posts: 3}\n",
    "duplicate": "name: a\nname: b\nline: {posts: 3}\n",
    "alias-cycle": "a: &x [1, *x]\n",
    "laughs": "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)),
    "merge-key": "base: &b {posts: 3}\nname: x\nline: {<<: *b, correlation: chain}\n",
    "python-tag": "name: !!python/object/apply:os.system [echo hi]\nline: {posts: 3}\n",
    "binary-tag": "name: !!binary aGVsbG8=\nline: {posts: 3}\n",
    "timestamp": "name: 2001-12-14\nline: {posts: 3}\n",
    "set": "name: x\nline: !!set {posts, correlation}\n",
    "huge-float": "name: x\nseed: 1e400\nline: {posts: 3}\n",
    "hex-int": "name: x\nseed: 0x" + "f" * 5000 + "\nline: {posts: 3}\n",
    "sexagesimal": "name: x\nseed: 190:20:30\nline: {posts: 3}\n",
    "sexagesimal-break": "name: x\nline: {posts: 3}\nshifts: {breaks: [[14:00, 15:00]]}\n",
    "two-docs": "name: x\nline: {posts: 3}\n---\nname: y\n",
}
"""Whole YAML files no scenario (nor params file) is: what a parser may choke on."""

PARAM_KEYS: dict[str, dict[str, str]] = {
    "tau_D": {**NUMBER_ERRORS, "negative": "-1"},
    "lam": {**NUMBER_ERRORS, "two": "2"},
    "tau_P": {**NUMBER_ERRORS, "two": "2"},
    "direction": {**TYPE_ERRORS, "unknown": "sideways", "huge-int": HUGE},
    "rho_min": {**NUMBER_ERRORS, "two": "2"},
    "eps": {**NUMBER_ERRORS, "zero": "0"},
    "tau_Z": {**NUMBER_ERRORS, "two": "2"},
    "tau_Y": {**NUMBER_ERRORS, "negative": "-1"},
    "alpha": {**NUMBER_ERRORS, "two": "2"},
    "proficiency_seconds": {**TYPE_ERRORS, "unknown": "some", "huge-int": HUGE},
    "history_pool": {**TYPE_ERRORS, "unknown": "line", "huge-int": HUGE},
    "history_window_days": {**INT_ERRORS, "zero": "0", "billion": "1000000000"},
    "tau_X": {"unknown-key": "1"},
}
"""Params-file keys and raw YAML values."""

MANIFEST_KEYS: dict[str, dict[str, str]] = {
    "format": {"other": '"csv"', "number": "1", "null": "null"},
    "format_version": {
        "true": "true",
        "float": "1.0",
        "two": "2",
        "text": '"1"',
        "huge": HUGE,
        "null": "null",
    },
    "name": {
        "empty": '""',
        "newline": '"a\\nb"',
        "dotdot": '"../../x"',
        "long": '"' + "n" * 600 + '"',
        "number": "5",
        "list": "[1]",
    },
    "seed": {
        "int64": str(2**63),
        "huge": HUGE,
        "negative": "-1",
        "float": "1.5",
        "bool": "true",
        "text": '"1"',
    },
    "line": {"list": "[1]", "null": "null", "number": HUGE},
    "line.posts": {
        "zero": "0",
        "huge": HUGE,
        "float": "3.0",
        "bool": "true",
        "billion": "1000000000",
        "text": '"3"',
    },
    "line.correlation": {
        "text": '"chan"',
        "small": "[[1]]",
        "nan": "[[NaN, 0, 0], [0, 1, 0], [0, 0, 1]]",
        "huge": f"[[{HUGE}, 0, 0], [0, 1, 0], [0, 0, 1]]",
        "map": '{"a": 1}',
    },
    "line.workers_per_post": {"zero": "0", "huge": HUGE, "bool": "true", "float": "1.0"},
    "line.floor_polygons": {"list": "[1]", "text": '"x"'},
    "shifts": {"empty": "[]", "three": "[1, 2, 3]", "map": '{"a": 1}', "huge": HUGE},
    "shifts.0": {"number": "1", "null": "null"},
    "shifts.0.name": {"other": '"morning"', "number": "1"},
    "shifts.0.length_s": {
        "zero": "0",
        "nan": "NaN",
        "inf": "Infinity",
        "huge": HUGE,
        "text": '"600"',
        "bool": "true",
    },
    "rate_hz": {"zero": "0", "nan": "NaN", "huge": HUGE, "fast": "1000", "bool": "true"},
    "days": {"list": "[1]", "huge": HUGE},
    "days.history": {"negative": "-1", "huge": HUGE, "float": "4.0", "bool": "false"},
    "days.evaluate": {"zero": "0", "huge": HUGE, "float": "3.0", "text": '"3"'},
    "environment": {"text": '"x"', "numbers": "[1]", "bad-name": '["temp c"]'},
    "speed_units": {"number": "1", "huge": HUGE},
    "sources": {"list": "[1]", "huge": HUGE},
    "extra": {"unknown-key": "1"},
}
"""records.json keys and raw JSON values."""

MANIFEST_FILES: dict[str, str] = {
    "deep": "[" * 100_000 + "]" * 100_000,
    "deep-object": '{"a": ' * 50_000 + "1" + "}" * 50_000,
    "huge-int": HUGE,
    "list": "[1, 2]",
    "empty": "",
    "garbage": "\x00\x01garbage",
    "truncated": '{"format": "hazard-harness records", ',
    "duplicate-key": '{"format": "x", "format": "hazard-harness records"}',
}


def _col(table: pa.Table, name: str, values: Any) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _speeds_nan(table: pa.Table) -> pa.Table:
    n = table.num_rows
    return _col(table, "speed_head", pa.array([float("nan")] * n, pa.float32()))


RECORD_TABLES: dict[str, tuple[str, Callable[[pa.Table], pa.Table]]] = {
    "t-starts-at-1": ("seconds", lambda t: _col(t, "t", pa.compute.add(t.column("t"), 1))),
    "t-negative": ("seconds", lambda t: _col(t, "t", pa.compute.subtract(t.column("t"), 5))),
    "t-float": ("seconds", lambda t: _col(t, "t", pa.compute.cast(t.column("t"), pa.float64()))),
    "nan-throughout": ("seconds", _speeds_nan),
    "speed-negative": (
        "seconds",
        lambda t: _col(t, "speed_head", pa.array([-1.0] * t.num_rows, pa.float32())),
    ),
    "speed-inf": (
        "seconds",
        lambda t: _col(t, "speed_head", pa.array([float("inf")] * t.num_rows, pa.float32())),
    ),
    "speed-text": (
        "seconds",
        lambda t: _col(t, "speed_head", pa.array(["x"] * t.num_rows)),
    ),
    "area-99": ("seconds", lambda t: _col(t, "area", pa.array([99] * t.num_rows, pa.int16()))),
    "post-0": ("seconds", lambda t: _col(t, "post", pa.array([0] * t.num_rows, pa.int32()))),
    "day-0": ("seconds", lambda t: _col(t, "day", pa.array([0] * t.num_rows, pa.int32()))),
    "shift-unknown": ("seconds", lambda t: _col(t, "shift", pa.array(["x"] * t.num_rows))),
    "worker-empty": ("seconds", lambda t: _col(t, "worker", pa.array([""] * t.num_rows))),
    "worker-null": (
        "seconds",
        lambda t: _col(t, "worker", pa.array([None] * t.num_rows, pa.string())),
    ),
    "worker-newline": ("seconds", lambda t: _col(t, "worker", pa.array(["a\nb"] * t.num_rows))),
    "worker-dotdot": ("seconds", lambda t: _col(t, "worker", pa.array(["../x"] * t.num_rows))),
    "no-t": ("seconds", lambda t: t.drop_columns(["t"])),
    "reversed": ("seconds", lambda t: t.take(pa.array(range(t.num_rows - 1, -1, -1)))),
    "half": ("seconds", lambda t: t.slice(0, t.num_rows // 2 + 7)),
    "doubled": ("seconds", lambda t: pa.concat_tables([t, t])),
    "reliability-2": (
        "seconds",
        lambda t: t.append_column("reliability", pa.array([2.0] * t.num_rows)),
    ),
    "level-9": ("levels.parquet", lambda t: _col(t, "level", pa.array([9] * t.num_rows))),
    "level-float": (
        "levels.parquet",
        lambda t: _col(t, "level", pa.array([1.5] * t.num_rows)),
    ),
    "levels-empty": ("levels.parquet", lambda t: t.slice(0, 0)),
    "levels-doubled": ("levels.parquet", lambda t: pa.concat_tables([t, t])),
    "faults-text": (
        "labels/posts.parquet",
        lambda t: _col(t, "faults", pa.array(["x"] * t.num_rows)),
    ),
    "faults-ints": (
        "labels/posts.parquet",
        lambda t: _col(t, "faults", pa.array([[1]] * t.num_rows, pa.list_(pa.int64()))),
    ),
    "true-level-9": (
        "labels/posts.parquet",
        lambda t: _col(t, "true_level", pa.array([9] * t.num_rows)),
    ),
    "labels-worker-unknown": (
        "labels/workers.parquet",
        lambda t: _col(t, "worker", pa.array(["zed"] * t.num_rows)),
    ),
    "labels-needs-null": (
        "labels/workers.parquet",
        lambda t: _col(t, "true_needs_training", pa.array([None] * t.num_rows, pa.bool_())),
    ),
}
"""Records tables changed: (the table, the change)."""


def _garbage(folder: Path, name: str) -> Path:
    (folder / name).write_bytes(b"PAR1garbagePAR1")
    return folder


RECORD_FILES: dict[str, Callable[[Path], Path]] = {
    "levels-garbage": lambda f: _garbage(f, "levels.parquet"),
    "seconds-garbage": lambda f: _garbage(f, next(f.glob("seconds/*.parquet")).relative_to(f)),
    "labels-one": lambda f: (f / "labels" / "workers.parquet").unlink() or f,
    "no-seconds": lambda f: shutil.rmtree(f / "seconds") or f,
    "levels-folder": lambda f: (
        (f / "levels.parquet").unlink() or (f / "levels.parquet").mkdir() or f
    ),
    "manifest-fifo": lambda f: (f / "records.json").unlink() or os.mkfifo(f / "records.json") or f,
}

RESULTS_CHANGES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "schema-99": lambda d: d.update(schema_version=99),
    "schema-text": lambda d: d.update(schema_version="1"),
    "seed-huge": lambda d: HUGE,
    "deep": lambda d: "[" * 100_000 + "]" * 100_000,
    "shifts-map": lambda d: d.update(shifts={}),
    "shift-newline": lambda d: d["shifts"][0].update(shift="a\nb"),
    "shift-dotdot": lambda d: d["shifts"][0].update(shift="../../x"),
    "worker-dotdot": lambda d: d["shifts"][0]["workers"][0].update(worker="../../x"),
    "day-negative": lambda d: d["shifts"][0].update(day=-1),
    "day-huge": lambda d: json.dumps(d).replace('"day": ', f'"day": {HUGE}0 + ', 1),
    "level-nan": lambda d: json.dumps(d).replace('"level": ', '"level": NaN, "x": ', 1),
    "params-text": lambda d: d.update(params="x"),
    "metrics-list": lambda d: d.update(metrics=[1]),
    "scenario-long": lambda d: d.update(scenario="n" * 600),
    "scenario-newline": lambda d: d.update(scenario="a\nb"),
    "truncated": lambda d: json.dumps(d)[:100],
}


def _evidence_change(change: Callable[[list[dict[str, Any]]], Any]):
    return run_folder_with(change, "evidence.json")


EVIDENCE_CHANGES: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
    "map": lambda d: "{}",
    "deep": lambda d: "[" * 100_000 + "]" * 100_000,
    "huge": lambda d: HUGE,
    "worker-dotdot": lambda d: d[0].update(worker="../../x") if d else None,
    "entry-number": lambda d: "[5]",
}


# --- the cases ------------------------------------------------------------------------------


def _run(source: Callable[[Path, Base], str], *extra: str) -> Callable[[Path, Base], list[str]]:
    return lambda t, b: ["run", source(t, b), "--out", str(t / "o"), "--workers", "1", *extra]


def _cmd(command: list[str], source: Callable[[Path, Base], str], *extra: str):
    return lambda t, b: [*command, source(t, b), "--out", str(t / "o"), *extra]


SCENARIO_COMMANDS: dict[str, list[str]] = {
    "tune": ["tune", "--trials", "2", "--workers", "1"],
    "train": ["train", "--trials", "1", "--epochs", "1", "--augment", "0", "--workers", "1"],
    "export": ["records", "export"],
}


def scenario_cases() -> list[Case]:
    cases = []
    for path, values in SCENARIO_KEYS.items():
        for label, raw in values.items():
            source = (lambda p, r: lambda t, b: scenario_with(t, p, r))(path, raw)
            cases.append(Case(f"run scenario {path}={label}", "scenario", _run(source)))
            if label in ("huge-int", "list", "newline", "dotdot", "long", "unhashable"):
                for name, words in SCENARIO_COMMANDS.items():
                    command = [words[0], *words[1:2]] if name == "export" else [words[0]]
                    extra = [] if name == "export" else words[1:]
                    cases.append(Case(f"{name} scenario {path}={label}", "scenario",
                                      _cmd(command, source, *extra)))  # fmt: skip
    for label, data in WHOLE_FILES.items():
        source = (lambda d: lambda t, b: text_file(t, "s.yaml", d))(data)
        cases.append(Case(f"run yaml {label}", "yaml", _run(source)))
        cases.append(Case(f"tune yaml {label}", "yaml",
                          _cmd(["tune"], source, "--trials", "2", "--workers", "1")))  # fmt: skip
        if label == "empty":
            continue  # an empty params file is MODEL.md's defaults: valid
        params = (
            lambda d: lambda t, b: _run(plain_scenario, "--params", text_file(t, "p.yaml", d))(t, b)
        )(data)
        cases.append(Case(f"run params-yaml {label}", "yaml", params))  # fmt: skip
    return cases


def params_cases() -> list[Case]:
    cases = []
    for key, values in PARAM_KEYS.items():
        for label, raw in values.items():
            make = (lambda k, r: lambda t: text_file(t, "p.yaml", f"{k}: {r}\n"))(key, raw)
            cases.append(Case(
                f"run params {key}={label}", "params",
                (lambda m: lambda t, b: _run(plain_scenario, "--params", m(t))(t, b))(make),
            ))  # fmt: skip
            if label in ("huge-int", "nan", "list", "unknown-key", "billion"):
                cases.append(Case(
                    f"tune params {key}={label}", "params",
                    (lambda m: lambda t, b: _cmd(["tune"], plain_scenario, "--params", m(t),
                                                 "--trials", "2", "--workers", "1")(t, b))(make),
                ))  # fmt: skip
    return cases


def _opt(command: list[str], option: str, value: str, *base: str) -> Callable:
    def make(t: Path, b: Base) -> list[str]:
        words = [*command]
        if command[0] in ("run", "tune", "train"):
            words.append(str(b.scenario))
        if "--out" not in base and option != "--out":
            words += ["--out", str(t / "o")]
        return [*words, *base, option, value]

    return make


NUMERIC_VALUES = {
    "negative": "-1",
    "zero": "0",
    "nan": "nan",
    "huge": HUGE,
    "text": "abc",
    "empty": "",
    "fraction": "1.5",
}
COMMAND_OPTIONS: dict[str, tuple[list[str], list[str], tuple[str, ...]]] = {
    "run": (["run"], ["--workers", "--timeout", "--pixel-days"], ("--graders", "truth")),
    "tune": (
        ["tune"],
        [
            "--trials",
            "--holdout-days",
            "--seed",
            "--batch-size",
            "--cv",
            "--min-gain",
            "--workers",
            "--timeout",
        ],
        ("--graders", "truth"),
    ),
    "train": (["train"], ["--trials", "--epochs", "--augment", "--min-macro-f1", "--workers"], ()),
    "stress": (
        ["stress", "--posts", "2", "--days", "1"],
        ["--length-s", "--history-days", "--workers", "--timeout"],
        (),
    ),
    "stress-posts": (["stress", "--days", "1"], ["--posts"], ()),
    "perception train": (
        ["perception", "train"],
        ["--steps", "--seed", "--batch-size", "--threads", "--data-workers"],
        ("--steps", "1"),
    ),
    "perception eval": (
        ["perception", "eval"],
        ["--seed", "--posts", "--length-s", "--frames", "--grading-days", "--grading-seconds"],
        ("--frames", "32", "--grading-seconds", "1", "--posts", "1", "--length-s", "5"),
    ),
}

PATH_VALUES = {
    "empty": "",
    "proc": "/proc/probe/x",
    "dev-null": "/dev/null",
    "long-name": "n" * 300,
    "long-path": "/".join(["d" * 200] * 30),
    "newline": "a\nb",
}


def option_cases() -> list[Case]:
    cases = []
    for name, (command, options, base) in COMMAND_OPTIONS.items():
        for option in options:
            for label, value in NUMERIC_VALUES.items():
                if option == "--pixel-days" and label == "zero":
                    continue
                if option in ("--seed", "--augment", "--data-workers", "--min-gain",
                              "--min-macro-f1") and label == "zero":  # fmt: skip
                    continue
                if option in ("--timeout", "--grading-seconds", "--length-s") and label == (
                    "fraction"
                ):
                    continue  # seconds may be fractions
                cases.append(Case(f"{name} {option}={label}", "options",
                                  _opt(command, option, value, *base)))  # fmt: skip
    for name, (command, _, base) in COMMAND_OPTIONS.items():
        if name == "stress-posts":
            continue
        for label, value in PATH_VALUES.items():
            cases.append(Case(f"{name} --out={label}", "paths", _opt(command, "--out", value,
                                                                      *base)))  # fmt: skip
    for command in (["run"], ["tune"], ["stress", "--posts", "2", "--days", "1"], ["report"]):
        for label, value in PATH_VALUES.items():
            if command == ["report"]:
                cases.append(Case(
                    f"report --cache={label}", "paths",
                    (lambda v: lambda t, b: ["report", str(b.run), "--out", str(t / "o"),
                                             "--cache", v])(value),
                ))  # fmt: skip
            else:
                cases.append(Case(f"{command[0]} --cache={label}", "paths",
                                  _opt(command, "--cache", value)))  # fmt: skip
    for label, value in PATH_VALUES.items():
        cases.append(Case(f"run SOURCE={label}", "paths",
                          lambda t, b, v=value: ["run", v, "--out", str(t / "o")]))  # fmt: skip
        cases.append(Case(f"run --params={label}", "paths",
                          _opt(["run"], "--params", value)))  # fmt: skip
        cases.append(Case(f"tune --storage={label}", "paths",
                          _opt(["tune"], "--storage", value, "--trials", "2")))  # fmt: skip
        cases.append(Case(f"report SOURCE={label}", "paths",
                          lambda t, b, v=value: ["report", v]))  # fmt: skip
        cases.append(Case(f"records check {label}", "paths",
                          lambda t, b, v=value: ["records", "check", v]))  # fmt: skip
        cases.append(Case(f"perception eval --weights={label}", "paths",
                          _opt(["perception", "eval"], "--weights", value)))  # fmt: skip
        cases.append(
            Case(
                f"run --keypoint-weights={label}",
                "paths",
                _opt(["run"], "--keypoint-weights", value, "--pixel-days", "1"),
            )
        )
    choices = {
        "run --graders": ["best", "1=0", "0=1", "1=1,1=2", "9=1", f"1={HUGE}", "", "truth,auto",
                          "1=latest,2", "=1", "１=1"],
        "run --fidelity": ["pixels", "", "SIGNAL"],
        "run --history-fidelity": ["video", ""],
        "tune --objective": ["f1", "", ",", "root_cause_f1,root_cause_f1", "x" * 600],
        "tune --tune": ["tau_X", "", ",", "tau_D,tau_D", "alpha", "history_window_days"],
        "tune --range": ["tau_D=1", "tau_D=nan:1", "tau_D=2:1", "tau_D=-5:9", "tau_X=0:1",
                         f"tau_D=0:{HUGE}", "history_window_days=10:500",
                         "history_window_days=1.5:2.5", "direction=0:1", "=0:1",
                         "rho_min=0.95:0.99"],
        "tune --sweep": ["all", ""],
        "tune --study": ["", "a\nb", "n" * 600, "../x", " "],
        "tune --storage": ["nosuchdb://x", "sqlite:/x.db", "sqlite:///proc/x.db",
                           "postgresql://u@127.0.0.1:9/db", "mysql://u@127.0.0.1:9/db",
                           "redis://127.0.0.1:9", "sqlite:////dev/null", "sqlite://",
                           "sqlite:///"],
        "train --posts": ["0", "9", "1,1", "", ",", "a", "1-2", HUGE, "all,1"],
        "train --device": ["tpu", "cuda", ""],
        "perception train --channels": ["1", "a,b", "0,0", "100000,1", "", HUGE + ",1",
                                        "1,2,3,4,5,6,7,8,9"],
        "perception eval --runtime": ["tensorrt", ""],
        "perception train --device": ["tpu", "cuda"],
        "report --worker": ["../../x", "", "a\nb", "n" * 600, "nobody"],
        "run --address": ["nohost", "127.0.0.1:9", "127.0.0.1:99999", ":6379", "ray://",
                          "ray://127.0.0.1:9", "http://127.0.0.1:9", "[::1", "a b:1",
                          f"127.0.0.1:{HUGE}", "auto", "local"],
    }  # fmt: skip
    for key, values in choices.items():
        *command, option = key.split()
        for k, value in enumerate(values):
            extra = ("--trials", "2") if command == ["tune"] else ()
            if command == ["report"]:
                make = (lambda v: lambda t, b: ["report", str(b.run), "--out", str(t / "o"),
                                                "--worker", v])(value)  # fmt: skip
            elif command[0] == "perception":
                base = COMMAND_OPTIONS[" ".join(command)][2]
                make = _opt(command, option, value, *base)
            else:
                make = _opt(command, option, value, *extra)
            cases.append(Case(f"{key}={k}:{value[:20]!r}", "options", make))
    cases.append(Case("unknown command", "options", lambda t, b: ["runn", "x"]))
    cases.append(Case("no command", "options", lambda t, b: []))
    cases.append(Case("records no command", "options", lambda t, b: ["records"]))
    cases.append(Case("run no source", "options", lambda t, b: ["run", "--out", "o"]))
    cases.append(Case("run unknown option", "options", lambda t, b: ["run", "x", "--fast"]))
    return cases


MLFLOW_URIS = {
    "sqlite-one-slash": "sqlite:/m.db",
    "sqlite-two-slashes": "sqlite://m.db",
    "sqlite-empty": "sqlite://",
    "sqlite-folder": "sqlite:///{t}",
    "sqlite-dev-zero": "sqlite:////dev/zero",
    "sqlite-proc": "sqlite:////proc/x/m.db",
    "sqlite-garbage": "sqlite:///{t}/garbage.db",
    "sqlite-query": "sqlite:///{t}/m.db?mode=ro",
    "http-closed": "http://127.0.0.1:9",
    "http-not-mlflow": "http://127.0.0.1:{http}",
    "http-malformed-host": "http://exa mple:5000",
    "http-bad-ipv6": "http://[::1",
    "http-bad-port": "http://127.0.0.1:99999",
    "http-port-text": "http://127.0.0.1:abc",
    "http-no-host": "http://",
    "https-closed": "https://127.0.0.1:9",
    "postgresql": "postgresql://u:p@127.0.0.1:9/db",
    "postgresql-psycopg": "postgresql+psycopg2://u:p@127.0.0.1:9/db",
    "mysql": "mysql://u:p@127.0.0.1:9/db",
    "mysql-pymysql": "mysql+pymysql://u:p@127.0.0.1:9/db",
    "mssql": "mssql://u:p@127.0.0.1:9/db",
    "databricks": "databricks",
    "databricks-profile": "databricks://nosuchprofile",
    "databricks-uc": "databricks-uc",
    "gopher": "gopher://x",
    "file-proc": "file:///proc/mlruns",
    "file-under-file": "{t}/a-file/mlruns",
    "text": "just some words",
    "newline": "sqlite:///{t}/a\nb.db",
    "empty-scheme": "://x",
}
RAY_ADDRESSES = {
    "auto-stale": "auto",
    "auto-none": "auto",
    "closed": "127.0.0.1:9",
    "client-closed": "ray://127.0.0.1:9",
    "client-open-not-ray": "ray://127.0.0.1:{http}",
    "not-ray": "127.0.0.1:{http}",
    "garbage": "not an address",
    "port-huge": "127.0.0.1:99999",
    "http": "http://127.0.0.1:9",
    "empty-host": ":6379",
}


def _not_mlflow_server() -> tuple[subprocess.Popen, int]:
    """An HTTP server that is not MLflow (Python's file server: 404 for MLflow's paths)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="probe-http-")
    Path(folder, "health").write_text("OK")  # answers /health like a real server would
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, port


def environment_cases(http_port: int) -> list[Case]:
    cases = []

    def fill(value: str, t: Path) -> str:
        return value.replace("{t}", str(t)).replace("{http}", str(http_port))

    for label, uri in MLFLOW_URIS.items():
        for command in ("run", "tune"):
            extra = ["--trials", "2"] if command == "tune" else []

            def make(t: Path, b: Base, u: str = uri, c: str = command, e=extra) -> list[str]:
                (t / "garbage.db").write_bytes(b"garbage" * 100)
                (t / "a-file").write_text("x")
                return [c, str(b.scenario), "--out", str(t / "o"), "--timeout", "3", *e]

            cases.append(Case(f"{command} MLFLOW_TRACKING_URI={label}", "mlflow", make,
                              env={"MLFLOW_TRACKING_URI": fill(uri, Path("{t}"))}))  # fmt: skip
    for label, address in RAY_ADDRESSES.items():
        for command in ("run", "tune", "train", "stress"):

            def make(t: Path, b: Base, c: str = command, lab: str = label) -> list[str]:
                (t / "ray").mkdir(exist_ok=True)
                if lab == "auto-stale":  # a cluster that was stopped left its address file
                    (t / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")
                words = [c]
                if c in ("run", "tune", "train"):
                    words.append(str(b.scenario))
                else:
                    words += ["--posts", "2", "--days", "1"]
                return [*words, "--out", str(t / "o"), "--timeout", "3"]

            cases.append(Case(f"{command} RAY_ADDRESS={label}", "ray", make,
                              env={"RAY_ADDRESS": fill(address, Path("{t}")),
                                   "RAY_TMPDIR": "{t}"}))  # fmt: skip
    other_env = {
        "HAZARD_HARNESS_TIMEOUT=text": {"HAZARD_HARNESS_TIMEOUT": "abc"},
        "HAZARD_HARNESS_TIMEOUT=nan": {"HAZARD_HARNESS_TIMEOUT": "nan"},
        "HAZARD_HARNESS_TIMEOUT=0": {"HAZARD_HARNESS_TIMEOUT": "0"},
        "HAZARD_HARNESS_TIMEOUT=huge": {"HAZARD_HARNESS_TIMEOUT": HUGE},
        "HAZARD_HARNESS_CACHE=proc": {"HAZARD_HARNESS_CACHE": "/proc/x"},
        "HAZARD_HARNESS_CACHE=file": {"HAZARD_HARNESS_CACHE": "{t}/a-file"},
        "HAZARD_HARNESS_RUN_WORKERS=text": {"HAZARD_HARNESS_RUN_WORKERS": "abc"},
        "HAZARD_HARNESS_RUN_WORKERS=huge": {"HAZARD_HARNESS_RUN_WORKERS": HUGE},
        "RAY_AUTH_TOKEN_PATH=missing": {"RAY_AUTH_TOKEN_PATH": "/nonexistent/token",
                                        "RAY_ADDRESS": "127.0.0.1:{http}"},
        "HAZARD_HARNESS_FAULT=nowhere": {"HAZARD_HARNESS_FAULT": "nowhere:SIGTERM"},
    }  # fmt: skip
    for label, env in other_env.items():

        def make(t: Path, b: Base) -> list[str]:
            (t / "a-file").write_text("x")
            return ["run", str(b.scenario), "--out", str(t / "o")]

        cases.append(Case(f"run {label}", "environment", make,
                          env={k: fill(v, Path("{t}")) for k, v in env.items()}))  # fmt: skip
    return cases


def records_cases() -> list[Case]:
    cases = []
    for path, values in MANIFEST_KEYS.items():
        for label, raw in values.items():
            folder = manifest_with(path, raw)
            cases.append(Case(f"records check manifest {path}={label}", "records",
                              lambda t, b, f=folder: ["records", "check", str(f(t, b))],
                              stop_at_ray=False))  # fmt: skip
            if label in ("huge", "int64", "true", "float", "newline", "long", "dotdot"):
                cases.append(
                    Case(
                        f"run records manifest {path}={label}",
                        "records",
                        lambda t, b, f=folder: [
                            "run",
                            str(f(t, b)),
                            "--out",
                            str(t / "o"),
                            "--workers",
                            "1",
                        ],
                    )
                )
    for label, text in MANIFEST_FILES.items():

        def make(t: Path, b: Base, x: str = text) -> str:
            folder = records_copy(t, b)
            (folder / "records.json").write_text(x)
            return str(folder)

        cases.append(Case(f"records check records.json {label}", "records",
                          lambda t, b, m=make: ["records", "check", m(t, b)]))  # fmt: skip
        cases.append(
            Case(
                f"run records.json {label}",
                "records",
                lambda t, b, m=make: ["run", m(t, b), "--out", str(t / "o")],
            )
        )
        cases.append(Case(f"tune records.json {label}", "records",
                          lambda t, b, m=make: ["tune", m(t, b), "--out", str(t / "o"),
                                                "--trials", "2"]))  # fmt: skip
    for label, (table, change) in RECORD_TABLES.items():
        folder = table_with(table, change)
        cases.append(Case(f"records check {label}", "records",
                          lambda t, b, f=folder: ["records", "check", str(f(t, b))],
                          stop_at_ray=False))  # fmt: skip
        cases.append(Case(f"run records {label}", "records",
                          lambda t, b, f=folder: ["run", str(f(t, b)), "--out", str(t / "o"),
                                                  "--workers", "1", "--timeout", "5"],
                          stop_at_ray=False))  # fmt: skip
    for label, change in RECORD_FILES.items():

        def make(t: Path, b: Base, c=change) -> str:
            return str(c(records_copy(t, b)))

        cases.append(Case(f"records check {label}", "records",
                          lambda t, b, m=make: ["records", "check", m(t, b)]))  # fmt: skip
        cases.append(
            Case(
                f"run records {label}",
                "records",
                lambda t, b, m=make: ["run", m(t, b), "--out", str(t / "o")],
            )
        )
    for option, value in (("--fidelity", "pixel"), ("--pixel-days", "1"), ("--graders", "best"),
                          ("--graders", "champion"), ("--keypoint-weights", "x")):  # fmt: skip
        cases.append(Case(f"run records {option}={value}", "records",
                          lambda t, b, o=option, v=value: ["run", str(b.records), "--out",
                                                           str(t / "o"), o, v]))  # fmt: skip
    return cases


def report_cases() -> list[Case]:
    cases = []
    for label, change in RESULTS_CHANGES.items():
        folder = run_folder_with(change)
        cases.append(
            Case(
                f"report results.json {label}",
                "report",
                lambda t, b, f=folder: ["report", f(t, b), "--out", str(t / "o")],
            )
        )
    for label, change in EVIDENCE_CHANGES.items():
        folder = _evidence_change(change)
        cases.append(
            Case(
                f"report evidence.json {label}",
                "report",
                lambda t, b, f=folder: ["report", f(t, b), "--out", str(t / "o")],
            )
        )
    for label, value in {"run-id": "0" * 32, "run-id-text": "abc", "huge": HUGE,
                         "newline": "a\nb"}.items():  # fmt: skip
        cases.append(
            Case(
                f"report SOURCE={label}",
                "report",
                lambda t, b, v=value: ["report", v, "--timeout", "3"],
            )
        )
    return cases


def interrupt_cases() -> list[Case]:
    cases = []
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        for command in ("run", "tune", "train", "stress", "report", "records check",
                        "perception eval"):  # fmt: skip
            words = command.split()

            def make(t: Path, b: Base, w=words) -> list[str]:
                if w[0] in ("run", "tune", "train"):
                    return [*w, str(b.scenario), "--out", str(t / "o")]
                if w[0] == "stress":
                    return [*w, "--posts", "2", "--days", "1", "--out", str(t / "o")]
                if w[0] == "report":
                    return [*w, str(b.run), "--out", str(t / "o")]
                if w[0] == "records":
                    return [*w, str(b.records)]
                return [*w, "--out", str(t / "o")]

            cases.append(Case(f"{command} interrupted at start by {sig.name}", "interrupt", make,
                              env={"HAZARD_HARNESS_FAULT": f"start:{sig.name}"},
                              signal=int(sig)))  # fmt: skip
    return cases


def all_cases(http_port: int) -> list[Case]:
    """Every case, the outside systems and the files of other formats first."""
    return [
        *interrupt_cases(),
        *environment_cases(http_port),
        *records_cases(),
        *report_cases(),
        *option_cases(),
        *params_cases(),
        *scenario_cases(),
    ]


# --- running --------------------------------------------------------------------------------


def cli(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "harness", *argv]


def environment(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HAZARD_HARNESS_", "MLFLOW_", "RAY_"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}",
        HAZARD_HARNESS_CACHE=str(folder / "cache"),
        RAY_TMPDIR=str(folder / "ray"),
    )
    env.update({k: v.replace("{t}", str(folder)) for k, v in extra.items()})
    return env


@dataclass
class Outcome:
    name: str
    family: str
    outcome: str
    code: int | None
    seconds: float
    last_line: str


def classify(case: Case, code: int | None, stderr: str, timed_out: bool) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if timed_out:
        return "hang"
    if "Traceback (most recent call last)" in stderr:
        return "traceback"
    if case.signal is not None:
        if code == 128 + case.signal:
            return "clean" if len(lines) == 1 else "noisy"
        return "traceback" if code not in (0, 2) else "accepted"
    if code == 2:
        return "clean" if len(lines) == 1 else "noisy"
    if code == 0 or (case.stop_at_ray and code == 128 + signal.SIGTERM):
        return "accepted"
    return "traceback"


def run_case(case: Case, base: Base, scratch: Path, timeout: float) -> Outcome:
    folder = Path(tempfile.mkdtemp(prefix="case-", dir=scratch))
    (folder / "ray").mkdir()
    try:
        argv = case.argv(folder, base)
    except Exception as exc:  # a case that cannot be built is the probe's bug: say so
        return Outcome(case.name, case.family, "unbuilt", None, 0.0, repr(exc))
    extra = dict(case.env)
    if case.stop_at_ray and case.signal is None:
        extra.setdefault("HAZARD_HARNESS_FAULT", STOP_AT_RAY)
    env = environment(folder, extra)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cli(argv), cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, errors="replace", start_new_session=True,
    )  # fmt: skip
    timed_out = False
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)  # the case's own process group only
        _, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    _stop_leftovers(proc.pid)
    outcome = classify(case, proc.returncode, stderr, timed_out)
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1][:300] if lines else ""
    if outcome in ("clean", "accepted"):
        shutil.rmtree(folder, ignore_errors=True)
    else:
        (folder / "stderr.txt").write_text(stderr)
    return Outcome(case.name, case.family, outcome, proc.returncode, seconds, last)


def _stop_leftovers(pgid: int) -> None:
    """Kill what the case's process group left running (a Ray it started), by group id."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def build_base(root: Path) -> Base:
    """The tiny scenario, its records folder and a run folder, built by the CLI itself."""
    scenario = root / "probe.yaml"
    scenario.write_text(yaml.safe_dump(TINY, sort_keys=False))
    env = environment(root, {})
    for argv in (
        ["records", "export", str(scenario), "--out", str(root / "records")],
        ["run", str(scenario), "--out", str(root / "run"), "--workers", "1", "--graders",
         "truth", "--no-progress"],
    ):  # fmt: skip
        if (root / argv[argv.index("--out") + 1]).exists():
            continue
        done = subprocess.run(cli(argv), cwd=root, env=env, capture_output=True, text=True,
                              timeout=900)  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"cannot build the probe's base ({' '.join(argv)}):\n{done.stderr}")
    return Base(root, scenario, root / "records", root / "run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a hang")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument("--family", default="", help="run only these families (comma-separated)")
    parser.add_argument("--work", type=Path, help="folder for the bases (kept between runs)")
    parser.add_argument("--out", type=Path, default=Path("probe.json"), help="the outcomes")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args()

    server, port = _not_mlflow_server()
    try:
        cases = [c for c in all_cases(port) if args.only in c.name
                 and (not args.family or c.family in args.family.split(","))]  # fmt: skip
        if args.list:
            for c in cases:
                print(f"{c.family:12} {c.name}")
            print(f"{len(cases)} cases")
            return 0
        root = args.work or Path(tempfile.mkdtemp(prefix="probe-"))
        root.mkdir(parents=True, exist_ok=True)
        base = build_base(root.resolve())
        scratch = root / "cases"
        scratch.mkdir(exist_ok=True)
        started = time.perf_counter()
        outcomes: list[Outcome] = []
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_case, c, base, scratch, args.timeout) for c in cases]
            for k, future in enumerate(concurrent.futures.as_completed(futures), 1):
                o = future.result()
                outcomes.append(o)
                with args.out.with_suffix(".jsonl").open("a") as stream:  # as they come
                    stream.write(json.dumps(o.__dict__) + "\n")
                if k % 100 == 0:
                    print(f"[{k}/{len(cases)}] …", flush=True)
                if o.outcome != "clean":
                    print(f"[{k}/{len(cases)}] {o.outcome:9} {o.name}: {o.last_line[:160]}",
                          flush=True)  # fmt: skip
    finally:
        server.kill()
        server.wait()
    wall = time.perf_counter() - started
    counts = Counter(o.outcome for o in outcomes)
    by_family: dict[str, Counter] = {}
    for o in outcomes:
        by_family.setdefault(o.family, Counter())[o.outcome] += 1
    refused = sorted(o.seconds for o in outcomes if o.outcome == "clean")
    print(f"\n{len(outcomes)} cases in {wall / 60:.1f} min (cases kept in {scratch})")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    for family, c in sorted(by_family.items()):
        print(f"  {family:12} " + ", ".join(f"{k} {v}" for k, v in c.most_common()))
    if refused:
        print(f"clean refusals: median {refused[len(refused) // 2]:.1f} s, "
              f"slowest {refused[-1]:.1f} s")  # fmt: skip
    args.out.write_text(
        json.dumps(
            {"counts": dict(counts), "wall_s": wall, "cases": [o.__dict__ for o in outcomes]},
            indent=1,
        )
    )
    return 0 if counts.keys() <= {"clean"} else 1


if __name__ == "__main__":
    sys.exit(main())
