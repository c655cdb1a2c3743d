"""The checks of a records folder's tables: schemas, the seconds files' layout, the level
table and the labels, each against the manifest (:mod:`harness.records._format`).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import sim
from harness.records._format import (
    KINDS,
    LABEL_POST_COLUMNS,
    LABEL_WORKER_COLUMNS,
    LABELS_POSTS,
    LABELS_WORKERS,
    LEVEL_COLUMNS,
    LEVELS,
    SECONDS,
    SECONDS_COLUMNS,
    Manifest,
    RecordsColumn,
    RecordsError,
    env_columns,
    kind_of,
)
from harness.runtime import storage


def check_schema(schema: pa.Schema, columns: tuple[RecordsColumn, ...], where: str) -> None:
    """Every required column present, every known column of its type family."""
    for c in columns:
        if c.name not in schema.names:
            if c.required:
                raise RecordsError(f"{where}: column `{c.name}` is missing ({c.description})")
            continue
        t = schema.field(c.name).type
        if kind_of(t) != c.kind:
            raise RecordsError(f"{where}: column `{c.name}` must be {KINDS[c.kind].holds}, got {t}")


def read_table(folder: storage.Location, name: str) -> pa.Table:
    """A small records table, page checksums verified."""
    try:
        with (folder / name).open_input() as f:
            return pq.read_table(f, page_checksum_verification=True)
    except (pa.ArrowException, OSError, storage.StorageError) as exc:
        raise RecordsError(f"{name}: cannot be read: {' '.join(str(exc).split())}") from None


def parquet_file(file: storage.Location, where: str, **options: Any) -> pq.ParquetFile:
    """A Parquet file of a records folder, opened for reads of its row groups and columns
    (on object storage: range requests, coalesced), page checksums verified."""
    try:
        return pq.ParquetFile(file.open_input(), page_checksum_verification=True,
                              pre_buffer=file.remote, **options)  # fmt: skip
    except (pa.ArrowException, OSError, storage.StorageError) as exc:
        raise RecordsError(f"{where}: cannot be read: {' '.join(str(exc).split())}") from None


def rows(mask: np.ndarray, offsets: np.ndarray | None = None) -> str:
    """``rows a–b``: the first run of True in ``mask`` (file rows via ``offsets``)."""
    hits = np.flatnonzero(mask)
    start = end = int(hits[0])
    while end + 1 < len(mask) and mask[end + 1]:
        end += 1
    if offsets is not None:
        start, end = int(offsets[start]), int(offsets[end])
    return f"row {start}" if start == end else f"rows {start}–{end}"


def check_range(
    values: np.ndarray,
    lo: int,
    hi: int,
    *,
    where: str,
    column: str,
    noun: str,
    span: str,
    offsets: np.ndarray | None = None,
) -> None:
    """Every value of an integer column in ``lo..hi``; else one line naming the rows and the
    first value outside (``{noun} {value} is outside {span}``)."""
    bad = (values < lo) | (values > hi)
    if bad.any():
        raise RecordsError(
            f"{where}: column `{column}` {rows(bad, offsets)}: {noun} {int(values[bad][0])} "
            f"is outside {span}"
        )


SecondsIndex = dict[int, list[tuple[storage.Location, tuple[int, ...]]]]
"""Per post, the ``seconds`` files and their row groups that may hold its rows."""


def check_seconds_files(m: Manifest) -> SecondsIndex:
    """Schemas of every ``seconds`` file, and every ``post`` in 1..n (statistics, else read);
    returns where each post's rows may be (a row group's ``post`` statistics, else its
    values), so a post's task opens only those files (one footer read per file here, instead
    of every file in every post's task)."""
    files = m.seconds_files()
    if not files:
        raise RecordsError(f"{SECONDS}/: no Parquet files (one row per worker-shift and sample)")
    index: SecondsIndex = {}
    for path in files:
        where = m.where(path)
        meta = parquet_file(path, where)
        check_schema(meta.schema_arrow, SECONDS_COLUMNS, where)
        col = meta.schema_arrow.get_field_index("post")
        offset = 0
        groups: dict[int, list[int]] = {}
        for g in range(meta.num_row_groups):
            group = meta.metadata.row_group(g)
            stats = group.column(col).statistics
            if stats is not None and stats.has_min_max and 1 <= stats.min <= stats.max <= m.posts:
                posts = range(int(stats.min), int(stats.max) + 1)
            else:
                post = meta.read_row_group(g, columns=["post"]).column(0).to_numpy()
                check_range(post, 1, m.posts, where=where, column="post", noun="post",
                            span=f"the line 1..{m.posts}",
                            offsets=offset + np.arange(len(post)))  # fmt: skip
                posts = np.unique(post).tolist()
            for p in posts:
                groups.setdefault(int(p), []).append(g)
            offset += group.num_rows
        for p, found in groups.items():
            index.setdefault(p, []).append((path, tuple(found)))
    return index


def _keys_check(table: pa.Table, m: Manifest, where: str) -> tuple[np.ndarray, ...]:
    """day, shift index, post of a small table, each checked against the manifest."""
    day = table.column("day").to_numpy(zero_copy_only=False)
    check_range(day, 1, m.days, where=where, column="day", noun="day",
                span=f"the recorded days 1..{m.days}")  # fmt: skip
    names = table.column("shift").to_pylist()
    known = {s: k for k, s in enumerate(m.shifts)}
    shift = np.array([known.get(s, -1) for s in names], dtype=np.int64)
    bad = shift < 0
    if bad.any():
        raise RecordsError(
            f"{where}: column `shift` {rows(bad)}: {names[int(np.argmax(bad))]!r}"
            f" is not one of the manifest's shifts {list(m.shifts)}"
        )
    post = table.column("post").to_numpy(zero_copy_only=False)
    check_range(post, 1, m.posts, where=where, column="post", noun="post",
                span=f"the line 1..{m.posts}")  # fmt: skip
    return day, shift, post


def _no_duplicates(keys: np.ndarray, where: str, what: str) -> None:
    _, first, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        k = int(first[np.argmax(counts > 1)])
        dup = np.flatnonzero((keys == keys[k]).all(axis=1))
        raise RecordsError(f"{where}: rows {int(dup[0])} and {int(dup[1])} repeat the same {what}")


ShiftChangeKey = tuple[int, str, int]
"""``(day, shift, post)``: a post's shift change."""
WorkerShiftKey = tuple[int, str, int, str]
"""``(day, shift, post, worker)``: a worker-shift."""


@dataclass(frozen=True)
class LevelTable:
    """``levels.parquet``: the level and environment of every (day, shift, post)."""

    level: dict[ShiftChangeKey, int]
    environment: dict[ShiftChangeKey, np.ndarray]


def _shift_changes(
    m: Manifest, name: str, columns: tuple[RecordsColumn, ...], level: str
) -> tuple[pa.Table, list[ShiftChangeKey], np.ndarray]:
    """A table of shift changes (levels, post labels), checked: its columns, its keys in range
    and never repeated, its ``level`` column in 0..4; the table, its keys and levels."""
    table = read_table(m.folder, name)
    check_schema(table.schema, columns, name)
    day, shift, post = _keys_check(table, m, name)
    _no_duplicates(np.stack([day, shift, post], axis=1), name, "(day, shift, post)")
    levels = table.column(level).to_numpy(zero_copy_only=False)
    check_range(levels, 0, 4, where=name, column=level, noun="level", span="0..4")
    keys = [(int(d), m.shifts[s], int(p)) for d, s, p in zip(day, shift, post, strict=True)]
    return table, keys, levels


def _every_evaluated(m: Manifest, found: Container[ShiftChangeKey], name: str, what: str) -> None:
    """Every evaluated shift change of every post is in ``found`` (the rows of ``name``)."""
    for d in m.evaluated_days:
        for s in m.shifts:
            for p in range(1, m.posts + 1):
                if (d, s, p) not in found:
                    raise RecordsError(f"{name}: no row for day {d}, shift {s}, post {p}: {what}")


def read_levels(m: Manifest) -> LevelTable:
    """Checked levels: keys in range, no repeats, levels in 0..4, every evaluated shift change
    of every post present."""
    env_cols = env_columns(m.environment)
    table, keys, level = _shift_changes(m, LEVELS, (*LEVEL_COLUMNS, *env_cols), "level")
    env = (
        np.stack([table.column(c.name).to_numpy(zero_copy_only=False) for c in env_cols], axis=1)
        if env_cols
        else np.zeros((len(keys), 0))
    )
    out = LevelTable(
        level={k: int(v) for k, v in zip(keys, level, strict=True)},
        environment={k: env[i].astype(np.float64) for i, k in enumerate(keys)},
    )
    _every_evaluated(
        m, out.level, LEVELS, "every evaluated shift change of every post needs its level"
    )
    return out


@dataclass(frozen=True)
class Labels:
    """The labels: per (day, shift, post) the true level and faults, per worker-shift truth."""

    posts: dict[ShiftChangeKey, tuple[int, tuple[sim.Fault, ...]]]
    workers: dict[WorkerShiftKey, dict[str, Any]]


def read_labels(m: Manifest) -> Labels | None:
    """Checked labels (both tables or neither), or None when the folder has none."""
    have = [(m.folder / n).is_file() for n in (LABELS_POSTS, LABELS_WORKERS)]
    if not any(have):
        return None
    if not all(have):
        missing = LABELS_WORKERS if have[0] else LABELS_POSTS
        raise RecordsError(f"{missing}: missing (labels come as both tables or neither)")
    table, keys, level = _shift_changes(m, LABELS_POSTS, LABEL_POST_COLUMNS, "true_level")
    posts = {}
    for i, faults in enumerate(table.column("faults").to_pylist()):
        made = []
        for f in faults or ():
            try:
                made.append(
                    sim.Fault(
                        kind=str(f["kind"]),
                        severity=int(f["severity"]),
                        cause=str(f["cause"]),
                        culprits=tuple(f.get("culprits") or ()),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise RecordsError(
                    f"{LABELS_POSTS}: column `faults` row {i}: {exc} (each fault:"
                    " kind, severity 1..4, cause in worker|equipment|"
                    "environment, culprits for cause worker)"
                ) from None
        posts[keys[i]] = (int(level[i]), tuple(made))
    table = read_table(m.folder, LABELS_WORKERS)
    check_schema(table.schema, LABEL_WORKER_COLUMNS, LABELS_WORKERS)
    day, shift, post = _keys_check(table, m, LABELS_WORKERS)
    names = table.column("worker").to_pylist()
    for c in ("true_needs_management", "true_needs_training"):
        bad = table.column(c).is_null().to_numpy(zero_copy_only=False)
        if bad.any():
            raise RecordsError(f"{LABELS_WORKERS}: column `{c}` {rows(bad)}: null (true or false)")
    extra = [c.name for c in LABEL_WORKER_COLUMNS[4:] if c.name in table.schema.names]
    values = {c: table.column(c).to_pylist() for c in extra}
    workers: dict[WorkerShiftKey, dict[str, Any]] = {}
    for i, name in enumerate(names):
        key = (int(day[i]), m.shifts[shift[i]], int(post[i]), str(name))
        if key in workers:
            raise RecordsError(f"{LABELS_WORKERS}: row {i} repeats the worker-shift {key}")
        workers[key] = {c: values[c][i] for c in extra}
    return Labels(posts=posts, workers=workers)


def check_labels(m: Manifest, labels: Labels, worker_shifts: set[WorkerShiftKey]) -> None:
    """Labels name only recorded workers, and every evaluated shift has its labels."""
    for i, key in enumerate(labels.workers):
        if key not in worker_shifts:
            d, s, p, w = key
            raise RecordsError(
                f"{LABELS_WORKERS}: row {i} names worker {w!r} on day {d}, shift "
                f"{s}, post {p}, who is not in {SECONDS}/ then"
            )
    people = {w for _, _, _, w in worker_shifts}
    for i, ((d, s, p), (_, faults)) in enumerate(labels.posts.items()):
        for f in faults:
            for w in f.culprits:
                if w not in people:
                    raise RecordsError(
                        f"{LABELS_POSTS}: column `faults` row {i}: culprit {w!r} "
                        f"(day {d}, shift {s}, post {p}) is not a recorded "
                        "worker"
                    )
    for key in sorted(worker_shifts):
        if key[0] in m.evaluated_days and key not in labels.workers:
            d, s, p, w = key
            raise RecordsError(
                f"{LABELS_WORKERS}: no row for worker {w!r} on day {d}, shift {s},"
                f" post {p}: every evaluated worker-shift needs its labels"
            )
    _every_evaluated(m, labels.posts, LABELS_POSTS, "every evaluated shift change needs its labels")
