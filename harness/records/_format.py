"""The plant-record format, version 1: the manifest and the tables' columns.

A records folder (``docs/records.md`` is the data dictionary)::

    records.json             the manifest (:class:`Manifest`)
    seconds/*.parquet        one row per worker-shift and sample (:data:`SECONDS_COLUMNS`)
    levels.parquet           one row per post and shift change (:data:`LEVEL_COLUMNS`)
    labels/posts.parquet     optional: the truth per post and shift change
    labels/workers.parquet   optional: the truth per worker-shift

The checks of :mod:`harness.records._tables` read the manifest and the Parquet footers (column
names and types, the ``post`` statistics of each row group) plus the small tables whole; the
rows of ``seconds`` are checked post by post where they are read
(:mod:`harness.records._ingest`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import core
import sim
from harness.runtime import storage
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import parse_json
from sim.scenario import DAY_S, MAX_DAYS, MAX_POSTS, MAX_RATE_HZ, MAX_SEED, SHIFT_NAMES, check_name

FORMAT = "hazard-harness records"


FORMAT_VERSION = 1


MANIFEST = "records.json"


SECONDS = "seconds"


LEVELS = "levels.parquet"


LABELS_POSTS = "labels/posts.parquet"


LABELS_WORKERS = "labels/workers.parquet"


MAX_MANIFEST_BYTES = 64 * 2**20
"""Largest ``records.json`` read (a 1,000-post correlation matrix is a few MB)."""


MAX_NAN_RUN_S = 60.0
"""Longest run of seconds a keypoint's speed may be NaN (unseen); shorter runs are filled by
linear interpolation between the seen neighbours, longer ones are an error."""


SPEED_COLUMNS: tuple[str, ...] = tuple(f"speed_{k}" for k in core.KEYPOINTS)
"""The 14 keypoint-speed columns, in ``core.KEYPOINTS`` order."""


class RecordsError(HarnessError):
    """A records folder that does not follow the format: one line naming file, column, rows."""


FAULT = pa.struct(
    [
        ("kind", pa.string()),
        ("severity", pa.int8()),
        ("cause", pa.string()),
        ("culprits", pa.list_(pa.string())),
    ]
)
"""One fault of the ``faults`` column."""


@dataclass(frozen=True)
class Kind:
    """A family of Arrow types a column may have (a reader takes any of the family)."""

    of: Callable[[pa.DataType], bool]
    """Whether a type is of the family."""
    holds: str
    """What a column of the kind holds, for messages."""


KINDS: dict[str, Kind] = {
    "int": Kind(pa.types.is_integer, "integers"),
    "float": Kind(pa.types.is_floating, "floating-point numbers"),
    "string": Kind(lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), "strings"),
    "bool": Kind(pa.types.is_boolean, "booleans"),
    "faults": Kind(
        lambda t: pa.types.is_list(t) or pa.types.is_large_list(t),
        "a list of fault structs <kind: string, severity: int, cause: string, "
        "culprits: list<string>>",
    ),
}
"""The column kinds by name."""


def kind_of(t: pa.DataType) -> str | None:
    """The kind of an Arrow type (a dictionary's by its values), None outside the kinds."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return next((name for name, kind in KINDS.items() if kind.of(t)), None)


@dataclass(frozen=True)
class RecordsColumn:
    """One column of a records table: its name, type, whether required, and meaning."""

    name: str
    type: pa.DataType
    """The type ``records export`` writes; a reader takes any type of its :attr:`kind`."""
    description: str
    required: bool = True

    @property
    def kind(self) -> str:
        """``int``, ``float``, ``string``, ``bool`` or ``faults`` (a list of fault structs)."""
        kind = kind_of(self.type)
        if kind is None:
            raise TypeError(f"column `{self.name}`: {self.type} is of none of the KINDS")
        return kind


def schema(columns: Sequence[RecordsColumn]) -> pa.Schema:
    """The Arrow schema of ``columns``, in their order and types."""
    return pa.schema([(c.name, c.type) for c in columns])


def _keys(day: str, shift: str, post: str) -> tuple[RecordsColumn, ...]:
    """The key columns every table starts with, described for the table."""
    return (
        RecordsColumn("day", pa.int32(), day),
        RecordsColumn("shift", pa.string(), shift),
        RecordsColumn("post", pa.int32(), post),
    )


SHIFT_CHANGE = _keys("day of the shift that ends", "shift that ends", "post 1..n")
"""The keys of a table of shift changes (levels, post labels)."""


SECONDS_COLUMNS: tuple[RecordsColumn, ...] = (
    *_keys(
        "day number, 1 = the first recorded day",
        "shift name, one of the manifest's shifts",
        "post the worker clocked in at, 1..n",
    ),
    RecordsColumn("worker", pa.string(), "worker id from the clock-in (follows the person)"),
    RecordsColumn("t", pa.int32(), "sample since clock-in, 0..T-1 (T = shift length_s × rate_hz)"),
    RecordsColumn("area", pa.int16(), "area the worker is in: a post 1..n, 0 anywhere else"),
    *(
        RecordsColumn(c, pa.float32(), f"speed of keypoint {c[6:]} (speed_units); NaN when unseen")
        for c in SPEED_COLUMNS
    ),
    RecordsColumn(
        "reliability",
        pa.float32(),
        "tracking confidence in [0, 1] (checked, not used by the model)",
        required=False,
    ),
)


LEVEL_COLUMNS: tuple[RecordsColumn, ...] = (
    *SHIFT_CHANGE,
    RecordsColumn("level", pa.int8(), "hazard level d_i in 0..4 the plant's grading gives"),
)


def env_columns(environment: Sequence[str]) -> tuple[RecordsColumn, ...]:
    """The level table's environment columns: ``env_<quantity>`` per quantity of the manifest."""
    return tuple(RecordsColumn(f"env_{q}", pa.float64(), q) for q in environment)


LABEL_POST_COLUMNS: tuple[RecordsColumn, ...] = (
    *SHIFT_CHANGE,
    RecordsColumn("true_level", pa.int8(), "the experts' hazard level 0..4"),
    RecordsColumn(
        "faults",
        pa.list_(FAULT),
        "the faults found: kind, severity 1..4, cause (worker, "
        "equipment, environment), culprits (worker ids; given exactly for cause worker)",
    ),
)


def _trait(name: str, type: pa.DataType, description: str) -> RecordsColumn:
    return RecordsColumn(name, type, description, required=False)


TRAIT_COLUMNS: dict[str, RecordsColumn] = {
    "skill": _trait("true_skill", pa.float64(),
                    "truth: effective skill this shift (learning, day-to-day variation)"),
    "offpost_rate": _trait("true_offpost_rate", pa.float64(),
                           "truth: effective off-post rate this shift (day-to-day variation)"),
    "plateau_skill": _trait("true_plateau_skill", pa.float64(),
                            "truth: the person's own skill (fully learned, no variation)"),
    "plateau_offpost_rate": _trait("true_plateau_offpost_rate", pa.float64(),
                                   "truth: the person's own off-post rate"),
    "days_at_post": _trait("days_at_post", pa.int32(),
                           "days the worker had worked this post before (the roster)"),
    "floater": _trait("floater", pa.bool_(), "a floater, without a post of its own"),
    "covering": _trait("covering", pa.string(), "the absent worker a floater covers"),
}  # fmt: skip
"""Each field of :class:`sim.Traits`, in order, and its column (all optional): the records'
labels and the run's workers table name a trait alike."""

LABEL_WORKER_COLUMNS: tuple[RecordsColumn, ...] = (
    *_keys("day", "shift", "post the worker clocked in at"),
    RecordsColumn("worker", pa.string(), "worker id, as in seconds"),
    RecordsColumn(
        "true_needs_management", pa.bool_(), "the worker truly needs management (off post)"
    ),
    RecordsColumn(
        "true_needs_training", pa.bool_(), "the worker truly needs training (low proficiency)"
    ),
    RecordsColumn(
        "true_profile", pa.string(), "a free word for the worker (e.g. novice)", required=False
    ),
    *TRAIT_COLUMNS.values(),
)


@dataclass(frozen=True)
class Manifest:
    """``records.json``, checked (see ``docs/records.md``)."""

    folder: storage.Location
    """Where the folder is: a local path or an object-storage URI."""
    name: str
    posts: int
    G: np.ndarray
    shifts: tuple[str, ...]
    length_s: float
    rate_hz: float
    history_days: int
    evaluate_days: int
    seed: int = 0
    workers_per_post: int = 1
    speed_units: str = "px/s"
    environment: tuple[str, ...] = ()
    floor_polygons: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def T(self) -> int:
        """Samples per shift."""
        return round(self.length_s * self.rate_hz)

    @property
    def days(self) -> int:
        """Recorded days: history then evaluated."""
        return self.history_days + self.evaluate_days

    @property
    def evaluated_days(self) -> range:
        """The evaluated days, after the history."""
        return range(self.history_days + 1, self.days + 1)

    @property
    def max_nan_run(self) -> int:
        """:data:`MAX_NAN_RUN_S` in samples."""
        return math.floor(MAX_NAN_RUN_S * self.rate_hz)

    @property
    def labelled(self) -> bool:
        """Whether the folder holds labels."""
        return (self.folder / LABELS_POSTS).is_file()

    def scenario(self) -> sim.Scenario:
        """The line as the pipeline's scenario (no simulation: posts, G, shifts, days)."""
        return sim.Scenario.model_validate(
            {
                "name": self.name,
                "seed": self.seed,
                "line": {"posts": self.posts, "correlation": self.G.tolist()},
                "shifts": {
                    "per_day": len(self.shifts),
                    "length_s": self.length_s,
                    "rate_hz": self.rate_hz,
                },
                "days": {"history": self.history_days, "evaluate": self.evaluate_days},
                "workers": {"per_post": self.workers_per_post},
            }
        )

    def seconds_files(self) -> list[storage.Location]:
        """The ``seconds`` Parquet files, sorted by path."""
        return [
            self.folder / self.folder.relative(f.path)
            for f in (self.folder / SECONDS).files()
            if f.path.endswith(".parquet")
        ]

    def where(self, file: storage.Location) -> str:
        """How a file of the folder is named in messages: its path in the folder."""
        return self.folder.relative(file.path)


def is_records(path: str | Path) -> bool:
    """Whether ``path`` (a local path or a URI) is a records folder (holds ``records.json``)."""
    return (storage.location(path, what="SOURCE") / MANIFEST).is_file()


def _need(ok: bool, key: str, expected: str, got: Any) -> None:
    if not ok:
        raise RecordsError(f"{MANIFEST}: `{key}` must be {expected}, got {got!r:.80}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_manifest(folder: str | Path | storage.Location) -> Manifest:
    """The checked manifest of a records folder (a local path or a URI); :class:`RecordsError`
    names the key. On object storage the folder must be complete (see
    :func:`harness.runtime.storage.check_complete`)."""
    folder = storage.location(folder, what="SOURCE")
    if folder.remote:
        storage.check_bucket(folder, option="SOURCE")
    path = folder / MANIFEST
    if not path.is_file():
        raise RecordsError(f"{folder.uri!r} is not a records folder: it has no {MANIFEST}")
    if folder.remote:
        storage.check_complete(folder, option="SOURCE")
    try:
        if path.info().size > MAX_MANIFEST_BYTES:
            raise HarnessError(f"{path.uri!r} is larger than {MAX_MANIFEST_BYTES:,} bytes")
        data = parse_json(path.read_bytes(), source=f"records manifest {path.uri!r}")
    except HarnessError as exc:
        raise RecordsError(str(exc)) from None
    _need(isinstance(data, dict), "(top level)", "an object", type(data).__name__)
    known = {
        "format",
        "format_version",
        "name",
        "seed",
        "line",
        "shifts",
        "rate_hz",
        "speed_units",
        "days",
        "environment",
        "sources",
    }
    for key in data:
        _need(key in known, key, f"one of {sorted(known)}", key)
    _need(data.get("format") == FORMAT, "format", repr(FORMAT), data.get("format"))
    version = data.get("format_version")
    _need(
        _int(version) and version == FORMAT_VERSION,
        "format_version",
        f"{FORMAT_VERSION} (this harness reads version {FORMAT_VERSION})",
        version,
    )
    name = data.get("name")
    try:
        check_name(name)
    except ValueError as exc:
        raise RecordsError(f"{MANIFEST}: `name`: {exc}") from None
    seed = data.get("seed", 0)
    _need(_int(seed) and 0 <= seed <= MAX_SEED, "seed", f"an integer in 0..{MAX_SEED}", seed)
    line = data.get("line")
    _need(isinstance(line, dict), "line", "an object", line)
    posts = line.get("posts")
    _need(
        _int(posts) and 1 <= posts <= MAX_POSTS,
        "line.posts",
        f"an integer in 1..{MAX_POSTS}",
        posts,
    )
    corr = line.get("correlation", "chain")
    if corr == "chain":
        idx = np.arange(posts)
        G = (np.abs(idx[:, None] - idx[None, :]) <= 1).astype(np.float64)
    else:
        ok = (
            isinstance(corr, list)
            and len(corr) == posts
            and all(
                isinstance(r, list)
                and len(r) == posts
                and all(_number(v) and 0 <= v <= 1 for v in r)
                for r in corr
            )
        )
        _need(ok, "line.correlation", f'"chain" or a {posts}×{posts} matrix of [0, 1]', "…")
        G = np.array(corr, dtype=np.float64)
    per_post = line.get("workers_per_post", 1)
    _need(
        _int(per_post) and 1 <= per_post <= 100,
        "line.workers_per_post",
        "an integer in 1..100",
        per_post,
    )
    polygons = line.get("floor_polygons", {})
    _need(
        isinstance(polygons, dict), "line.floor_polygons", "an object post → [[x, y], …]", polygons
    )
    shifts = data.get("shifts")
    _need(
        isinstance(shifts, list) and 1 <= len(shifts) <= 2,
        "shifts",
        "a list of 1 or 2 shifts {name, length_s}",
        shifts,
    )
    names = tuple(s.get("name") if isinstance(s, dict) else None for s in shifts)
    expected = SHIFT_NAMES[: len(shifts)]
    _need(
        names == expected,
        "shifts[].name",
        f"{list(expected)} in that order (version 1 knows day and night shifts)",
        list(names),
    )
    lengths = [s.get("length_s") for s in shifts]
    for k, length in enumerate(lengths):
        _need(
            _number(length) and 0 < length <= DAY_S,
            f"shifts[{k}].length_s",
            f"seconds in (0, {DAY_S:.0f}]",
            length,
        )
    _need(
        len(set(lengths)) == 1,
        "shifts[].length_s",
        "the same for every shift (the post databases align shifts second by second)",
        lengths,
    )
    rate = data.get("rate_hz", 1.0)
    _need(
        _number(rate) and 0 < rate <= MAX_RATE_HZ,
        "rate_hz",
        f"samples per second in (0, {MAX_RATE_HZ:g}]",
        rate,
    )
    samples = lengths[0] * rate
    _need(
        abs(samples - round(samples)) < 1e-6,
        "shifts[].length_s",
        "a whole number of samples (length_s × rate_hz)",
        lengths[0],
    )
    days = data.get("days")
    _need(isinstance(days, dict), "days", "an object {history, evaluate}", days)
    history, evaluate = days.get("history"), days.get("evaluate")
    _need(
        _int(history) and 0 <= history <= MAX_DAYS,
        "days.history",
        f"an integer in 0..{MAX_DAYS}",
        history,
    )
    _need(
        _int(evaluate) and 1 <= evaluate <= MAX_DAYS,
        "days.evaluate",
        f"an integer in 1..{MAX_DAYS}",
        evaluate,
    )
    env = data.get("environment", [])
    _need(
        isinstance(env, list) and all(isinstance(q, str) and q.isidentifier() for q in env),
        "environment",
        "a list of quantity names like temperature_c",
        env,
    )
    units = data.get("speed_units", "px/s")
    _need(isinstance(units, str), "speed_units", "a string", units)
    sources = data.get("sources", {})
    _need(isinstance(sources, dict), "sources", "an object column → where it comes from", sources)
    return Manifest(
        folder=folder,
        name=name,
        posts=posts,
        G=G,
        shifts=names,
        length_s=float(lengths[0]),
        rate_hz=float(rate),
        history_days=history,
        evaluate_days=evaluate,
        seed=seed,
        workers_per_post=per_post,
        speed_units=units,
        environment=tuple(env),
        floor_polygons=polygons,
        sources={str(k): str(v) for k, v in sources.items()},
    )


def manifest_json(
    scenario: sim.Scenario, *, sources: dict[str, str], environment: tuple[str, ...]
) -> dict[str, Any]:
    """The ``records.json`` of a simulated scenario (what ``records export`` writes)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": scenario.name,
        "seed": scenario.seed,
        "line": {
            "posts": scenario.n_posts,
            "correlation": scenario.G.tolist(),
            "workers_per_post": scenario.workers.per_post,
        },
        "shifts": [{"name": s, "length_s": scenario.shifts.length_s} for s in scenario.shift_names],
        "rate_hz": scenario.shifts.rate_hz,
        "speed_units": "px/s",
        "days": {"history": scenario.days.history, "evaluate": scenario.days.evaluate},
        "environment": list(environment),
        "sources": sources,
    }
