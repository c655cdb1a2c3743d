"""The per-post history database: a Parquet dataset partitioned by post.

Layout: ``ROOT/post=<post>/shift=<shift>/day=<day>.parquet``, one file per post-shift-day
holding that shift's worker records, one row each: ``day``, ``worker``, and the record's arrays
as one little-endian binary value each (``positions``: ``T`` int16 area ids, ``speeds``:
``T × 14`` float32 px/s, row-major; the field metadata names dtype and shape). A value per
record, not a list of ``T × 14`` values: Parquet writes and reads it as one copy and a page
checksum, where a list column cost three times as much in repetition levels (issue 26's
profile); this is the cache's own layout (plant records have theirs, docs/records.md). A file is
written under a hidden temporary name and renamed into place, so an interrupted write never
leaves a partial file where readers look (on object storage a file is one upload: it appears
whole or not at all). Every data page carries a CRC checksum that reads
verify, so a damaged file (garbled or zeroed bytes, truncation) raises :class:`StoreError`
instead of being used; the store is derived data, and :func:`build_history` rebuilds what is
damaged or missing. Each file also carries its identity in its Parquet metadata (the store's
records key, which is the root folder's name, and its post, shift and day), checked on every
read: a file copied to another day, shift, post or store is damaged, never used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from core import N_KEYPOINTS, PostHistory, WorkerShift
from sim._errors import StoreError
from sim.scenario import Scenario
from sim.workers import SimWorker, simulate_workers

IDENTITY = b"hazard_harness.identity"
"""Parquet metadata key of a day file's identity (see the module docstring)."""
WorkersOf = Callable[..., list[SimWorker]]
"""``(scenario, *, post, day, shift) -> workers``: where a stored history comes from."""


def post_folder(post: int) -> str:
    """A post's folder, relative to the store's root (``post=<post>``): its day files, and
    what a writer of the store keeps beside them for the post."""
    return f"post={post}"


class HistoryStore:
    """Position and speed records of past shifts, per post and shift type.

    Args:
        root: folder of the dataset (created on first write), a path on ``filesystem``.
        filesystem: where the folder is (default: the local disk); object storage works the
            same, each file read and written on the store itself.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, filesystem: pafs.FileSystem | None = None
    ) -> None:
        self.fs = filesystem or pafs.LocalFileSystem()
        self.root = os.fspath(root).rstrip("/") or "/"
        if self.fs.get_file_info(self.root).type == pafs.FileType.File:
            raise StoreError(f'"root" must be a folder, got the file {self.root!r}')

    def _folder(self, post: int, shift: str) -> str:
        if isinstance(post, bool) or not isinstance(post, (int, np.integer)) or post < 1:
            raise StoreError(f"`post` must be an int ≥ 1, got {post!r}")
        if not isinstance(shift, str) or not shift.isidentifier():
            raise StoreError(f"`shift` must be a shift name like 'day', got {shift!r}")
        return f"{self.root}/{post_folder(post)}/shift={shift}"

    def _file(self, post: int, shift: str, day: int) -> str:
        return f"{self._folder(post, shift)}/day={day}.parquet"

    def _identity(self, post: int, shift: str, day: int) -> dict[str, object]:
        name = self.root.rsplit("/", 1)[-1]
        return {"records": name, "post": int(post), "shift": shift, "day": int(day)}

    def _read_day(
        self, post: int, shift: str, day: int
    ) -> tuple[int, list[tuple[int, str, np.ndarray, np.ndarray]]]:
        """T and the rows of one day file, its checksums and identity checked."""
        return _read_file(self.fs, self._file(post, shift, day), self._identity(post, shift, day))

    def write(
        self,
        *,
        post: int,
        shift: str,
        day: int,
        records: Sequence[WorkerShift],
        samples: int | None = None,
    ) -> None:
        """Store one post-shift's records atomically (replacing that day's file if any).

        A post-shift nobody worked (absences) is stored as a file without records; then
        ``samples`` (T) must be given.
        """
        folder = self._folder(post, shift)
        if not records and not samples:
            raise StoreError(f"post {post}: `samples` is needed to store day {day} without records")
        n = int(np.asarray(records[0].positions).shape[0]) if records else int(samples or 0)
        for r in records:
            if r.post != post or np.shape(r.positions) != (n,):
                raise StoreError(
                    f"post {post}: record {r.worker!r} is not a (T,) record of post {post}"
                )
            if np.shape(r.speeds) != (n, N_KEYPOINTS):
                raise StoreError(f"post {post}: record {r.worker!r} speeds must be ({n}, 14)")
        table = _day_table(records, n, self._identity(post, shift, day))
        options = {"compression": "none", "use_dictionary": False, "write_statistics": False,
                   "write_page_checksum": True}  # fmt: skip
        final = self._file(post, shift, day)
        if not isinstance(self.fs, pafs.LocalFileSystem):  # one upload: whole or absent
            buffer = pa.BufferOutputStream()
            pq.write_table(table, buffer, **options)  # type: ignore[arg-type]
            with self.fs.open_output_stream(final) as f:
                f.write(buffer.getvalue())
            return
        self.fs.create_dir(folder, recursive=True)
        tmp = f"{folder}/.day={day}.parquet.{os.getpid()}.tmp"
        try:
            pq.write_table(table, tmp, filesystem=self.fs, **options)  # type: ignore[arg-type]
            self.fs.move(tmp, final)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def days(self, *, post: int, shift: str) -> list[int]:
        """Days stored for the post and shift, ascending."""
        selector = pafs.FileSelector(self._folder(post, shift), allow_not_found=True)
        names = [f.base_name for f in self.fs.get_file_info(selector)]
        return sorted(
            int(n.removeprefix("day=").removesuffix(".parquet"))
            for n in names
            if n.startswith("day=") and n.endswith(".parquet")
        )

    def read(self, *, post: int, shift: str, days: Iterable[int] | None = None) -> PostHistory:
        """The post's history for a shift type, records sorted by (day, worker).

        Days nobody worked hold no records; with none at all the arrays have 0 rows.

        Raises:
            StoreError: no such partition, a missing day, or an unreadable file.
        """
        folder = self._folder(post, shift)
        wanted = self.days(post=post, shift=shift) if days is None else sorted(set(days))
        if not wanted:
            raise StoreError(f"post {post}: no history for shift {shift!r} in {folder!r}")
        rows: list[tuple[int, str, np.ndarray, np.ndarray]] = []
        lengths = set()
        for day in wanted:
            n, found = self._read_day(post, shift, day)
            lengths.add(n)
            rows.extend(found)
        if len(lengths) > 1:
            raise StoreError(f"post {post}: records of different lengths {sorted(lengths)}")
        rows.sort(key=lambda r: (r[0], r[1]))
        (n,) = lengths
        if not rows:
            return PostHistory(
                np.zeros((0, n), np.int16), np.zeros((0, n, N_KEYPOINTS), np.float32)
            )
        return PostHistory(
            positions=np.stack([r[2] for r in rows]), speeds=np.stack([r[3] for r in rows])
        )

    def worker_shifts(self, *, post: int, shift: str, day: int) -> list[WorkerShift]:
        """The records of one post-shift-day, in stored order (checksums and identity checked).

        Raises:
            StoreError: a missing or unreadable file, or one that is not that day's.
        """
        _, rows = self._read_day(post, shift, day)
        return [
            WorkerShift(worker, post, positions, speeds) for _, worker, positions, speeds in rows
        ]

    def damaged(self, *, post: int, shift: str) -> list[int]:
        """Days of the post and shift whose file fails to read (bad checksum, truncated) or is
        not that day's (its identity names another store, post, shift or day)."""
        bad = []
        for day in self.days(post=post, shift=shift):
            try:
                self._read_day(post, shift, day)
            except StoreError:
                bad.append(day)
        return bad

    def remove(self, *, post: int, shift: str, day: int) -> None:
        """Delete one post-shift-day file (e.g. a damaged one, to be rebuilt)."""
        path = self._file(post, shift, day)
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            self.fs.delete_file(path)


def _read_file(
    fs: pafs.FileSystem, path: str, identity: dict[str, object]
) -> tuple[int, list[tuple[int, str, np.ndarray, np.ndarray]]]:
    """T and the rows ``(day, worker, positions, speeds)`` of the day file ``identity`` names."""
    post = identity["post"]
    if fs.get_file_info(path).type != pafs.FileType.File:
        raise StoreError(f"post {post}: history file {path!r} does not exist")
    try:
        with fs.open_input_file(path) as f:
            table = pq.ParquetFile(f, page_checksum_verification=True).read()
        stored = json.loads((table.schema.metadata or {}).get(IDENTITY, b"null"))
        n, rows = _day_rows(table)
    except (pa.ArrowException, OSError, KeyError, AttributeError, ValueError) as exc:
        raise StoreError(f"post {post}: cannot read history file {path!r}: {exc}") from exc
    if stored != identity:
        raise StoreError(
            f"post {post}: history file {path!r} is {_named(stored)}, not {_named(identity)}"
            " (copied or moved?)"
        )
    if {r[0] for r in rows} - {identity["day"]}:
        days = sorted({r[0] for r in rows})
        raise StoreError(f"post {post}: history file {path!r} holds days {days}")
    return n, rows


_ARRAYS = {"positions": (np.dtype("<i2"), ()), "speeds": (np.dtype("<f4"), (N_KEYPOINTS,))}
"""The record arrays of a day file: dtype and the shape of each of the T samples."""


def _day_table(records: Sequence[WorkerShift], n: int, identity: dict[str, object]) -> pa.Table:
    """A day file's table: a row per record, its arrays as binary values (module docstring).

    Each value is the record's own memory (a one-value Arrow array over it, no copy)."""
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "day": pa.array(np.full(len(records), identity["day"], dtype=np.int32)),
        "worker": pa.array([r.worker for r in records], type=pa.string()),
    }
    fields = [pa.field("day", pa.int32()), pa.field("worker", pa.string())]
    for name, (dtype, sample) in _ARRAYS.items():
        values = [np.ascontiguousarray(getattr(r, name), dtype=dtype) for r in records]
        columns[name] = pa.chunked_array([_binary_value(v) for v in values], type=pa.binary())
        shape = json.dumps({"dtype": dtype.str, "shape": [n, *sample]})
        fields.append(pa.field(name, pa.binary(), metadata={"array": shape}))
    metadata = {IDENTITY: json.dumps(identity)}
    return pa.table(columns, schema=pa.schema(fields, metadata=metadata))


def _binary_value(values: np.ndarray) -> pa.Array:
    """A one-value binary array holding ``values``' bytes in place."""
    offsets = np.array([0, values.nbytes], dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(),
        1,
        [None, pa.py_buffer(offsets), pa.py_buffer(values.reshape(-1).view(np.uint8))],
    )


def _day_rows(table: pa.Table) -> tuple[int, list[tuple[int, str, np.ndarray, np.ndarray]]]:
    """T and the rows ``(day, worker, positions, speeds)`` of a day file's table; the arrays
    are read-only views of the table's memory."""
    arrays = {}
    n = None
    for name, (dtype, sample) in _ARRAYS.items():
        layout = json.loads(table.schema.field(name).metadata[b"array"])
        n = layout["shape"][0]
        if layout != {"dtype": dtype.str, "shape": [n, *sample]}:
            raise ValueError(f"column {name!r} holds {layout}, not {dtype.str} (T, *{sample})")
        size = n * int(np.prod(sample, dtype=np.int64)) * dtype.itemsize
        arrays[name] = [v.view(dtype).reshape(n, *sample)
                        for v in _binary_values(table.column(name), name, size)]  # fmt: skip
    days = table.column("day").to_pylist()
    workers = table.column("worker").to_pylist()
    rows = [(days[i], workers[i], arrays["positions"][i], arrays["speeds"][i])
            for i in range(table.num_rows)]  # fmt: skip
    return int(n), rows


def _binary_values(column: pa.ChunkedArray, name: str, size: int) -> list[np.ndarray]:
    """The values of a binary column as byte arrays over its buffers (no copy), each checked
    to hold ``size`` bytes."""
    out = []
    for chunk in column.chunks:
        if chunk.null_count:
            raise ValueError(f"column {name!r} holds nulls")
        _, offsets, data = chunk.buffers()
        ends = np.frombuffer(offsets, dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        if len(chunk) and not (np.diff(ends) == size).all():
            raise ValueError(f"column {name!r} holds a value of the wrong size")
        if len(chunk):
            body = np.frombuffer(data, dtype=np.uint8)
            out.extend(body[a : a + size] for a in ends[:-1].tolist())
    return out


def _named(identity: object) -> str:
    if not isinstance(identity, dict):
        return "a file without its identity"
    return (f"post {identity.get('post')} {identity.get('shift')} day {identity.get('day')} of "
            f"records {identity.get('records')!r}")  # fmt: skip


def build_history(
    scenario: Scenario,
    store: HistoryStore,
    *,
    posts: Iterable[int] | None = None,
    days: Iterable[int] | None = None,
    workers: WorkersOf = simulate_workers,
) -> list[tuple[int, str, int]]:
    """Simulate and store every day × shift × post not stored yet.

    Args:
        posts: the posts (default: all).
        days: the days (default: the history days; a rolling post database also needs the
            evaluated days).
        workers: where a post-shift's records come from (default: the signal fidelity).

    Stored files are verified first; damaged ones are rebuilt. Returns the rebuilt
    ``(post, shift, day)`` files.
    """
    chosen = range(1, scenario.n_posts + 1) if posts is None else list(posts)
    wanted = list(scenario.history_days if days is None else days)
    rebuilt = []
    for shift in scenario.shift_names:
        for post in chosen:
            scenario.check_post_shift(post=post, day=1, shift=shift)
            for day in store.damaged(post=post, shift=shift):
                store.remove(post=post, shift=shift, day=day)
                rebuilt.append((post, shift, day))
            done = set(store.days(post=post, shift=shift))
            for day in wanted:
                if day not in done:
                    made = workers(scenario, post=post, day=day, shift=shift)
                    store.write(post=post, shift=shift, day=day,
                                records=[w.record for w in made],
                                samples=scenario.samples_per_shift)  # fmt: skip
    return rebuilt
