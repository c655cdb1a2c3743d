"""Optuna storage: where studies live, a guarded journal, and one driver per study.

**Storage.** The default is an Optuna journal file (``optuna.journal`` in the working folder);
any Optuna storage URL works too (``sqlite:///optuna.db``, a shared RDB).

**One driver per study.** A study is driven by one ``tune`` process at a time (parallelism is
on Ray): a second driver on the same journal file is refused with one line naming the first
(an exclusive ``flock`` of the journal file itself, so a hard link or another path to it is
the same journal; the holder is written in ``<journal>.driver``); on an RDB the study holds a
lease (host, pid, heartbeat) that a second driver respects while it is fresh. Trials a dead
driver left RUNNING are failed and enqueued again when the study is resumed.

**A guarded journal.** After every batch the driver records the journal's size and the
SHA-256 of its content in ``<journal>.sum``, and whether a driver is still at work on it.
Opening the journal verifies it: lost records (a deleted line, an emptied file), changed
bytes, an incomplete line, or records past the recorded size when no driver was at work (a
trial appended by something else) are reported in one line naming the file and how to
recover, never used silently (a trial that silently lost a parameter, a study that silently
restarts). Records past the size that a killed driver left (its last batch) are kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from harness.adapters.optuna_batched import BatchedJournal
from harness.runtime.errors import HarnessError

JOURNAL = "optuna.journal"
"""Default storage: an Optuna journal file in the working folder."""
LEASE_S = 120.0
"""An RDB study's driver lease is fresh for this long after its last heartbeat."""


class JournalGuard:
    """Integrity record of a journal file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sum_path = path.with_name(path.name + ".sum")
        self.driving = False
        """Set while this process drives the journal (:func:`exclusive`)."""

    def _recovery(self) -> str:
        return (
            f"restore {self.path} from a backup, or start afresh with another --study and "
            f"--storage (delete {self.sum_path} only if you accept the journal as it is)"
        )

    def verify(self) -> None:
        """Raise :class:`HarnessError` unless the journal holds what was recorded, intact."""
        recorded = json.loads(self.sum_path.read_text()) if self.sum_path.is_file() else None
        data = self.path.read_bytes() if self.path.is_file() else b""
        if recorded is not None:
            size = int(recorded["size"])
            if len(data) < size:
                raise HarnessError(
                    f"Optuna journal {self.path} lost records: {size} bytes were written, "
                    f"{len(data)} remain: {self._recovery()}"
                )
            if hashlib.sha256(data[:size]).hexdigest() != recorded["sha256"]:
                raise HarnessError(
                    f"Optuna journal {self.path} was changed or damaged (its first {size} bytes "
                    f"no longer match {self.sum_path.name}): {self._recovery()}"
                )
        for number, line in enumerate(data.splitlines(keepends=True), start=1):
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("no line end")
                json.loads(line)
            except (ValueError, UnicodeDecodeError):
                raise HarnessError(
                    f"Optuna journal {self.path} line {number} is incomplete or garbled (a crash "
                    f"while writing?): remove that line if it is the last, else "
                    f"{self._recovery()}"
                ) from None
        if recorded is not None and recorded.get("driver", "") is None:
            size = int(recorded["size"])
            if len(data) > size:
                raise HarnessError(
                    f"Optuna journal {self.path} holds {len(data) - size} bytes past the "
                    f"{size} its last driver recorded when it closed the study: records "
                    f"appended by something else are not used; {self._recovery()}"
                )

    def record(self) -> None:
        """Record the journal's current size and hash (atomically)."""
        data = self.path.read_bytes() if self.path.is_file() else b""
        tmp = self.sum_path.with_name(self.sum_path.name + f".{os.getpid()}.tmp")
        driver = _me() if self.driving else None
        tmp.write_text(json.dumps({"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                   "driver": driver}))  # fmt: skip
        os.replace(tmp, self.sum_path)


@dataclass(frozen=True)
class StudyStore:
    """An opened storage: what Optuna takes, its description, and the journal's guard."""

    storage: Any
    """An Optuna storage object or URL."""
    description: str
    """The journal path or URL, for messages."""
    guard: JournalGuard | None = None
    """Set for journal files."""

    def record(self) -> None:
        """Update the journal's integrity record (no-op for RDB storages)."""
        if self.guard is not None:
            self.guard.record()

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """A batch of asks and tells written at once (a journal file; else no-op)."""
        backend = getattr(self.storage, "_backend", None)
        if isinstance(backend, BatchedJournal):
            return backend.batch()
        return contextlib.nullcontext()


def open_storage(url: str | os.PathLike[str] | None) -> StudyStore:
    """Open ``url`` (an Optuna URL or a ``.journal`` path; default :data:`JOURNAL`), verified.

    Raises:
        HarnessError: a damaged journal, or a storage that cannot be opened.
    """
    text = str(url) if url is not None else JOURNAL
    if "://" not in text:
        from optuna.storages.journal import JournalStorage

        path = Path(text).resolve()
        if path.is_dir():
            raise HarnessError(f"--storage {text!r} is a folder; expected a .journal file")
        if path.exists() and not path.is_file():
            raise HarnessError(f"--storage {text!r} is not a regular file (a device or FIFO); "
                               "expected a .journal file")  # fmt: skip
        guard = JournalGuard(path)
        guard.verify()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            storage = JournalStorage(BatchedJournal(str(path)))
        except (OSError, ValueError) as exc:
            raise HarnessError(f"Optuna journal {str(path)!r} cannot be opened: {exc}") from None
        return StudyStore(storage, str(path), guard)
    try:
        storage = optuna.storages.get_storage(text)
    except Exception as exc:  # any back-end error: bad URL, unreachable server, driver missing
        raise HarnessError(f"Optuna storage {text!r} cannot be opened: {exc}") from None
    return StudyStore(storage, text)


def study_names(store: StudyStore) -> list[str]:
    """Names of the studies in ``store``."""
    return list(optuna.get_all_study_names(store.storage))


@contextlib.contextmanager
def exclusive(store: StudyStore, study: str) -> Iterator[None]:
    """Hold ``study`` for this driver alone (see the module docstring); refuse if held."""
    guard = store.guard
    if guard is not None:
        holder_path = guard.path.with_name(guard.path.name + ".driver")
        with open(guard.path, "ab") as journal, open(holder_path, "a+") as holder:
            try:  # the journal file itself, whatever the path (a hard link is the same file)
                fcntl.flock(journal, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder.seek(0)
                who = holder.read().strip() or "another process, through another path"
                raise HarnessError(
                    f"Optuna journal {store.description} is in use by another tune driver "
                    f"({who}): wait for it to finish, or use another --storage"
                ) from None
            holder.seek(0)
            holder.truncate()
            holder.write(f"pid {os.getpid()} on {socket.gethostname()}, study {study!r}")
            holder.flush()
            guard.driving = True
            try:
                yield
            finally:
                guard.driving = False
                guard.record()  # closed: records past this size are no driver's
                holder.truncate(0)
                fcntl.flock(journal, fcntl.LOCK_UN)
        return
    yield  # an RDB study is held by its lease (see take_lease)


def _me() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}


def take_lease(study: optuna.Study) -> None:
    """On an RDB storage, take (or renew) the study's driver lease; refuse a fresh foreign one."""
    lease = study.user_attrs.get("driver")
    me = _me()
    if lease and (lease["host"], lease["pid"]) != (me["host"], me["pid"]):
        fresh = time.time() - float(lease["heartbeat"]) < LEASE_S
        if fresh:
            raise HarnessError(
                f"study {study.study_name!r} is driven by pid {lease['pid']} on "
                f"{lease['host']} (heartbeat {time.time() - lease['heartbeat']:.0f} s ago): wait "
                "for it to finish, or use another --study"
            )
    study.set_user_attr("driver", me)
