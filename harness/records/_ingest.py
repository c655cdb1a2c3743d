"""The ``seconds`` rows of one post: read, checked, turned into the history store's records.

One Ray task per post reads only that post's rows (row groups whose ``post`` statistics
exclude it are skipped), checks them (sorted, whole worker-shifts, areas, speeds, NaN runs),
fills short NaN runs and writes the post's worker-shifts into a :class:`sim.HistoryStore` in
the cache, one file per post, shift and day, exactly as the simulator's history is stored; the
rolling post databases and the records source read them from there. The driver only gets each
post's worker-shift keys back.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

import core
from harness.adapters.ray_cluster import map_unordered, put
from harness.evaluation.history import open_store
from harness.records._format import MANIFEST, SECONDS_COLUMNS, SPEED_COLUMNS, Manifest, RecordsError
from harness.records._tables import (
    SecondsIndex,
    WorkerShiftKey,
    check_range,
    parquet_file,
    rows,
)
from harness.runtime import interrupts, storage
from harness.runtime.cache_keys import cache_key
from sim.store import post_folder

INGEST_CODE = ("harness/records", "sim/store.py", "core")
"""What turns a records folder into history stores: what :func:`ingest_key` hashes."""
DIGESTS = "digests.json"
"""The records files' content digests, by path and stamp (:func:`content_digests`)."""
DONE = "ingested.json"
"""Written last in a post's store folder: its worker-shift keys (the post is complete)."""


@dataclass
class _Part:
    """One file's rows of the post."""

    where: str
    file_rows: np.ndarray
    day: np.ndarray
    shift: np.ndarray
    """Codes into ``shift_names``."""
    shift_names: list[str | None]
    worker: np.ndarray
    """Codes into ``worker_names``."""
    worker_names: list[str | None]
    t: np.ndarray
    area: np.ndarray
    speeds: np.ndarray
    reliability: np.ndarray | None


def _numpy(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as numpy, read from its values buffer where it has no nulls (Arrow's
    ``to_numpy`` imports pandas, a second of each Ray worker's first task); with nulls, Arrow's
    conversion (NaN for floats)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    parts = []
    for a in chunks:
        t = a.type
        kind = "f" if pa.types.is_floating(t) else "i" if pa.types.is_signed_integer(t) else "u"
        if a.null_count or not (pa.types.is_integer(t) or pa.types.is_floating(t)):
            parts.append(a.to_numpy(zero_copy_only=False))
            continue
        dtype = np.dtype(f"<{kind}{t.bit_width // 8}")
        parts.append(np.frombuffer(a.buffers()[1], dtype=dtype)[a.offset : a.offset + len(a)])
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def _read_part(
    path: storage.Location, where: str, post: int, groups: Sequence[int] | None
) -> _Part | None:
    """The rows of ``post`` in one file's row ``groups`` (default: those whose statistics
    allow it), with their row numbers in the file."""
    f = parquet_file(path, where, read_dictionary=["shift", "worker"])
    schema = f.schema_arrow
    names = [c.name for c in SECONDS_COLUMNS if c.name in schema.names]
    col = schema.get_field_index("post")
    sizes = [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    pieces = []
    for g in range(f.num_row_groups) if groups is None else groups:
        stats = f.metadata.row_group(g).column(col).statistics
        if stats is not None and stats.has_min_max and not stats.min <= post <= stats.max:
            continue
        table = f.read_row_group(g, columns=names)
        mask = _numpy(table.column("post")) == post
        if mask.any():
            pieces.append((starts[g] + np.flatnonzero(mask), table, mask))
    if not pieces:
        return None

    def cat(name: str, dtype: type) -> np.ndarray:
        return np.concatenate([_numpy(t.column(name))[m] for _, t, m in pieces]).astype(dtype)

    def codes(name: str) -> tuple[np.ndarray, list[str | None]]:
        """Per row, a code into the names of the column (read dictionary-encoded)."""
        known: dict[str | None, int] = {}
        out = []
        for _, t, m in pieces:
            column = []
            for chunk in t.column(name).chunks:
                if not pa.types.is_dictionary(chunk.type):
                    chunk = chunk.dictionary_encode()
                mapping = np.array(
                    [known.setdefault(v, len(known)) for v in chunk.dictionary.to_pylist()]
                    + [known.setdefault(None, len(known))],
                    dtype=np.int64,
                )
                idx = _numpy(chunk.indices)  # nulls: NaN, the last code (None)
                column.append(mapping[np.where(np.isnan(idx), -1, idx).astype(np.int64)]
                              if chunk.indices.null_count else mapping[idx])  # fmt: skip
            out.append(np.concatenate(column)[m])
        return np.concatenate(out), list(known)

    speeds = np.stack([cat(c, np.float32) for c in SPEED_COLUMNS], axis=1)
    shift, shift_names = codes("shift")
    worker, worker_names = codes("worker")
    return _Part(
        where=where,
        file_rows=np.concatenate([r for r, _, _ in pieces]),
        day=cat("day", np.int64),
        shift=shift,
        shift_names=shift_names,
        worker=worker,
        worker_names=worker_names,
        t=cat("t", np.int64),
        area=cat("area", np.int64),
        speeds=speeds,
        reliability=cat("reliability", np.float64) if "reliability" in names else None,
    )


def _fail(part: _Part, column: str, mask: np.ndarray, what: str) -> RecordsError:
    return RecordsError(f"{part.where}: column `{column}` {rows(mask, part.file_rows)}: {what}")


def _check_values(part: _Part, m: Manifest) -> None:
    """Per-row checks: day, shift, area, speeds, reliability, worker ids."""
    check_range(part.day, 1, m.days, where=part.where, column="day", noun="day",
                span=f"the recorded days 1..{m.days} (days.history + days.evaluate)",
                offsets=part.file_rows)  # fmt: skip
    unknown = [k for k, name in enumerate(part.shift_names) if name not in m.shifts]
    bad = np.isin(part.shift, unknown) | (part.shift < 0)
    if bad.any():
        code = int(part.shift[np.argmax(bad)])
        name = part.shift_names[code] if code >= 0 else None
        raise _fail(
            part,
            "shift",
            bad,
            f"{name!r} is not one of the manifest's shifts {list(m.shifts)}",
        )
    empty = [k for k, name in enumerate(part.worker_names) if not name]
    bad = np.isin(part.worker, empty) | (part.worker < 0)
    if bad.any():
        raise _fail(part, "worker", bad, "empty or null worker id")
    check_range(part.area, 0, m.posts, where=part.where, column="area", noun="area id",
                span=f"0..{m.posts} (a post, or 0 off the posts)",
                offsets=part.file_rows)  # fmt: skip
    neg = part.speeds < 0
    if neg.any():
        k = int(np.argmax(neg.any(axis=0)))
        raise _fail(
            part,
            SPEED_COLUMNS[k],
            neg[:, k],
            f"negative speed {float(part.speeds[neg[:, k], k][0]):g} (speeds are magnitudes ≥ 0)",
        )
    inf = np.isinf(part.speeds)
    if inf.any():
        k = int(np.argmax(inf.any(axis=0)))
        raise _fail(part, SPEED_COLUMNS[k], inf[:, k], "infinite speed (NaN marks unseen)")
    if part.reliability is not None:
        r = part.reliability
        bad = ~np.isnan(r) & ((r < 0) | (r > 1))
        if bad.any():
            raise _fail(part, "reliability", bad, f"{float(r[bad][0]):g} is outside [0, 1]")


def _runs(part: _Part, m: Manifest) -> list[tuple[tuple[int, str, str], int, int]]:
    """The worker-shifts of a file as ``(key, first row, end row)``, each checked whole."""
    n = len(part.t)
    change = (np.diff(part.day) != 0) | (np.diff(part.shift) != 0) | (np.diff(part.worker) != 0)
    starts = [0, *(np.flatnonzero(change) + 1).tolist()]
    out = []
    T = m.T
    for a, b in zip(starts, [*starts[1:], n], strict=True):
        t = part.t[a:b]
        d = int(part.day[a])
        s = str(part.shift_names[part.shift[a]])
        w = str(part.worker_names[part.worker[a]])
        who = f"worker {w!r} day {d} shift {s}"
        local = np.zeros(n, dtype=bool)
        step = np.diff(t)
        if t[0] > 0 and (t >= 0).all():
            local[a] = True
            raise _fail(
                part,
                "t",
                local,
                f"{who} starts at t = {int(t[0])}: every worker-shift starts at t = 0 (its "
                "first sample since clock-in) and runs to T - 1",
            )
        if (t >= T).any() or (t < 0).any():
            local[a:b] = (t >= T) | (t < 0)
            raise _fail(
                part,
                "t",
                local,
                f"t = {int(t[(t >= T) | (t < 0)][0])} for {who}: the "
                f"worker-shift is longer than the manifest's shift {s} "
                f"({m.length_s:g} s × {m.rate_hz:g} Hz = {T} samples, t in 0..{T - 1})",
            )
        for bad, what in (
            (step == 0, "duplicate worker-seconds (t repeats)"),
            (
                step < 0,
                "unsorted worker-seconds (t goes back; sort by day, shift, post, worker, t)",
            ),
        ):
            if bad.any():
                i = a + int(np.argmax(bad))
                local[i : i + 2] = True
                raise _fail(part, "t", local, f"{what} for {who}")
        if len(t) != T:
            gap = np.flatnonzero(step > 1)
            i = a + int(gap[0]) if len(gap) else (a if t[0] != 0 else b - 1)
            local[i : min(i + 2, b)] = True
            raise _fail(
                part,
                "t",
                local,
                f"{who} has {len(t)} of its {T} samples (missing "
                "seconds: every sample 0..T-1 of a worker-shift needs a row; unseen "
                "keypoints are NaN speeds, not missing rows)",
            )
        out.append(((d, s, w), a, b))
    return out


def _filled(part: _Part, a: int, b: int, limit: int) -> np.ndarray:
    """The ``(T, 14)`` speeds of rows a..b, NaN runs of ≤ ``limit`` samples interpolated."""
    v = part.speeds[a:b].copy()
    nan = np.isnan(v)
    if not nan.any():
        return v
    idx = np.arange(len(v))
    for k in np.flatnonzero(nan.any(axis=0)):
        col = nan[:, k]
        if col.all():
            mask = np.zeros(len(part.t), dtype=bool)
            mask[a:b] = True
            what = f"NaN (unseen) for all {len(col)} samples of the worker-shift"
            why = "a keypoint never seen has no speed to fill in"
            raise _fail(part, SPEED_COLUMNS[k], mask, f"{what}: {why}")
        edges = np.diff(np.r_[0, col.astype(np.int8), 0])
        begin, end = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        longest = int(np.argmax(end - begin))
        if end[longest] - begin[longest] > limit:
            mask = np.zeros(len(part.t), dtype=bool)
            mask[a + begin[longest] : a + end[longest]] = True
            raise _fail(
                part,
                SPEED_COLUMNS[k],
                mask,
                f"NaN (unseen) for {end[longest] - begin[longest]}"
                f" samples in a row, more than the format's limit of {limit} "
                "(MAX_NAN_RUN_S × rate_hz; docs/records.md)",
            )
        v[col, k] = np.interp(idx[col], idx[~col], v[~col, k])
    return v


def read_post(
    m: Manifest, post: int, parts: Sequence[tuple[storage.Location, Sequence[int]]] | None = None
) -> dict[tuple[int, str], list[core.WorkerShift]]:
    """The checked worker-shifts of ``post`` per (day, shift), in order of first appearance.

    Args:
        parts: the files and row groups that may hold the post's rows (the folder's
            :data:`~harness.records._tables.SecondsIndex` entry); default: every file.

    Raises:
        RecordsError: the first problem, naming the file, the column and the rows.
    """
    by_shift: dict[tuple[int, str], list[core.WorkerShift]] = {}
    seen: dict[tuple[int, str, str], str] = {}
    chosen = [(path, None) for path in m.seconds_files()] if parts is None else parts
    for path, groups in chosen:
        where = m.where(path)
        try:
            part = _read_part(path, where, post, groups)
        except (pa.ArrowException, OSError) as exc:
            raise RecordsError(f"{where}: cannot be read: {' '.join(str(exc).split())}") from None
        if part is None:
            continue
        _check_values(part, m)
        for (d, s, w), a, b in _runs(part, m):
            if (d, s, w) in seen:
                mask = np.zeros(len(part.t), dtype=bool)
                mask[a:b] = True
                raise _fail(
                    part,
                    "worker",
                    mask,
                    f"worker {w!r} day {d} shift {s} post {post} "
                    f"appears again (also in {seen[(d, s, w)]}): a worker-shift's "
                    "rows must be contiguous, sorted by t",
                )
            seen[(d, s, w)] = where
            record = core.WorkerShift(
                worker=w,
                post=post,
                positions=part.area[a:b].astype(np.int16),
                speeds=_filled(part, a, b, m.max_nan_run),
            )
            by_shift.setdefault((d, s), []).append(record)
    return by_shift


def ingest_post(
    m: Manifest, post: int, store_root: str, parts: Sequence[tuple[storage.Location, Sequence[int]]]
) -> list[WorkerShiftKey] | str:
    """Task: check the post's rows (in ``parts``: files and row groups) and store its
    worker-shifts (every day and shift, empty where nobody worked); returns its worker-shift
    keys, or the one-line problem."""
    interrupts.checkpoint("task")
    store = open_store(store_root)
    done = storage.location(store_root) / post_folder(post) / DONE
    if done.is_file():
        return [tuple(k) for k in json.loads(done.read_text())]  # type: ignore[misc]
    try:
        by_shift = read_post(m, post, parts)
    except RecordsError as exc:
        return str(exc)
    keys = []
    for d in range(1, m.days + 1):
        for s in m.shifts:
            records = by_shift.get((d, s), [])
            store.write(post=post, shift=s, day=d, records=records, samples=m.T)
            keys.extend((d, s, post, r.worker) for r in records)
    done.write_text(json.dumps(keys))
    return keys  # type: ignore[return-value]


def ingest_key(m: Manifest, digests: storage.Location) -> str:
    """Cache key of a records folder: the SHA-256 of every file's content, the manifest and
    the code that ingests it (:mod:`harness.runtime.cache_keys`). A file edited in place is a
    new key, whatever its size and modification time; ``digests`` remembers each file's
    digest under its stamp (:func:`content_digests`) so that unchanged files are not read."""
    files = m.folder.files()
    found = content_digests(m.folder, files, digests)
    parts = [f"{m.folder.relative(f.path)}:{found[f.path]}".encode() for f in files]
    return cache_key(None, *INGEST_CODE, extra=[*parts, (m.folder / MANIFEST).read_bytes()])


def content_digests(
    folder: storage.Location, files: list[pafs.FileInfo], memo: storage.Location
) -> dict[str, str]:
    """The SHA-256 of each of ``folder``'s ``files``, read only when its stamp differs from the
    one ``memo`` recorded with its digest. A local file's stamp holds its device, inode, size
    and modification and change times (the change time moves on every write and cannot be set
    back: a file edited in place and ``touch``ed to its old time is read again); an object's,
    its size and the time the server gave its last upload."""
    try:
        known = json.loads(memo.read_bytes())
    except (storage.StorageError, OSError, ValueError):
        known = {}
    out = {}
    for info in files:
        item = folder / folder.relative(info.path)
        if item.remote:
            stamp = f"{info.size}:{info.mtime_ns}"
        else:
            st = os.stat(info.path)
            stamp = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
        entry = known.get(item.uri)
        if not isinstance(entry, list) or entry[0] != stamp:
            digest = hashlib.sha256()
            with item.open_input() as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            entry = known[item.uri] = [stamp, digest.hexdigest()]
        out[info.path] = entry[1]
    memo.write_text(json.dumps(known))
    return out


def ingest(
    m: Manifest,
    cache_dir: str | os.PathLike[str] | storage.Location,
    seconds: SecondsIndex,
    *,
    max_in_flight: int,
    progress: bool,
) -> tuple[storage.Location, set[WorkerShiftKey]]:
    """Check and store every post's rows on Ray (one task per post, given only the files and
    row groups ``seconds`` names for it; Ray must be running).

    Returns the store's folder and every worker-shift key. A bad post raises its
    :class:`RecordsError` (the first post in post order that has one).
    """
    interrupts.checkpoint("history")
    cache = storage.location(cache_dir) / "records"
    root = cache / ingest_key(m, cache / DIGESTS)
    manifest = put(m)  # once: G is n × n
    jobs = ((p, (manifest, p, str(root), seconds.get(p, []))) for p in range(1, m.posts + 1))
    keys: set[WorkerShiftKey] = set()
    problems: dict[int, str] = {}
    for post, found in map_unordered(
        ingest_post,
        jobs,
        total=m.posts,
        max_in_flight=max_in_flight,
        desc="records",
        progress=progress,
    ):
        if isinstance(found, str):
            problems[int(post)] = found  # type: ignore[arg-type]
        else:
            keys.update(found)
    if problems:
        raise RecordsError(problems[min(problems)])
    return root, keys
