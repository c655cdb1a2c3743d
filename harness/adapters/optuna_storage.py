"""Optuna storage: where studies live, a guarded journal, and one driver per study.

**Storage.** The default is an Optuna journal file (``optuna.journal`` in the working folder);
any Optuna storage URL works too (``sqlite:///optuna.db``, a shared RDB).

**One driver per study.** A study is driven by one ``tune`` process at a time (parallelism is
on Ray): a second driver on the same journal file is refused with one line naming the first
(an exclusive ``flock`` of the journal file itself, so a hard link or another path to it is
the same journal; the holder is written in ``<journal>.driver``); on an RDB the driver holds
the study through a lock study (:class:`_Lease`: atomic, with host, pid and heartbeat). Trials
a dead driver left RUNNING are failed and enqueued again when the study is resumed.

**A guarded journal.** After every batch the driver records the journal's size and the
SHA-256 of its content in ``<journal>.sum``. Opening the journal verifies it: lost records
(a deleted line, an emptied file), changed bytes, an incomplete line, or bytes past the
recorded size that are not Optuna journal records are reported in one line naming the file
and how to recover, never used silently (a trial that silently lost a parameter, a study
that silently restarts). Records appended
through Optuna's own API — a killed driver's last batch, a note or a user attribute from
optuna-dashboard, trials of another tool — are the study's and are kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from harness.adapters.optuna_batched import BatchedJournal
from harness.runtime import interrupts
from harness.runtime.errors import HarnessError
from harness.runtime.locks import first_use

JOURNAL = "optuna.journal"
"""Default storage: an Optuna journal file in the working folder."""
LEASE_S = 120.0
"""An RDB study's driver lease is fresh for this long after its last heartbeat."""


def _is_journal_record(record: Any) -> bool:
    """Whether ``record`` is an operation Optuna's journal storage writes (``op_code``,
    ``worker_id``): what Optuna's own API appends (a study run by another tool, a note or a
    user attribute from optuna-dashboard) is the study's, not tampering."""
    from optuna.storages.journal._storage import JournalOperation

    return (
        isinstance(record, dict)
        and isinstance(record.get("worker_id"), str)
        and type(record.get("op_code")) is int
        and record["op_code"] in set(JournalOperation)
    )


class JournalGuard:
    """Integrity record of a journal file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sum_path = path.with_name(path.name + ".sum")

    def _recovery(self) -> str:
        return (
            f"restore {self.path} from a backup, or start afresh with another --study and "
            f"--storage (delete {self.sum_path} only if you accept the journal as it is)"
        )

    def verify(self) -> None:
        """Raise :class:`HarnessError` unless the journal holds what was recorded, intact."""
        recorded = self._recorded()
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
        checked = int(recorded["size"]) if recorded is not None else 0
        lines = data.splitlines(keepends=True)
        offset = 0
        for number, line in enumerate(lines, start=1):
            fresh = offset >= checked  # past what a driver of ours recorded
            offset += len(line)
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("no line end")
                record = json.loads(line)
                if fresh and not _is_journal_record(record):
                    raise ValueError("not an Optuna journal record")
            except (ValueError, UnicodeDecodeError):
                raise HarnessError(
                    f"Optuna journal {self.path} line {number} is incomplete, garbled or not an "
                    f"Optuna record (a crash while writing? another program?): remove that "
                    f"line if it is the last, else {self._recovery()}"
                ) from None

    def _recorded(self) -> dict[str, Any] | None:
        """The integrity record (size, sha256), if any; a damaged one is an error."""
        if not self.sum_path.is_file():
            return None
        try:
            recorded = json.loads(self.sum_path.read_text())
            int(recorded["size"]), str(recorded["sha256"])
        except (OSError, ValueError, TypeError, KeyError):
            raise HarnessError(
                f"the integrity record {self.sum_path} of Optuna journal {self.path} is damaged: "
                f"delete it to accept the journal as it is, or {self._recovery()}"
            ) from None
        return recorded

    def record(self) -> None:
        """Record the journal's current size and hash (atomically)."""
        data = self.path.read_bytes() if self.path.is_file() else b""
        tmp = self.sum_path.with_name(self.sum_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
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
    lease: _Lease = field(default_factory=lambda: _Lease())
    """This driver's claim of a study on an RDB storage (:func:`exclusive`)."""

    def record(self) -> None:
        """After a batch: update the journal's integrity record, or renew the RDB lease."""
        if self.guard is not None:
            self.guard.record()
        self.lease.renew(self.storage)

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
    if text.split("?")[0] in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        raise HarnessError(
            f"--storage {text!r} is an in-memory SQLite database: the study would be lost when "
            "the command ends; expected sqlite:///FILE (or a .journal file)"
        )
    database = _sqlite_file(text)
    try:
        with first_use(database) if database else contextlib.nullcontext(), interrupts.held():
            storage = optuna.storages.get_storage(text)  # a new database's tables, uncut
    except Exception as exc:  # any back-end error: bad URL, unreachable server, driver missing
        detail = " ".join(str(exc).split())[:300]
        where = _redacted(text)
        raise HarnessError(f"Optuna storage {where!r} cannot be opened: {detail}") from None
    return StudyStore(storage, _redacted(text))


def _sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///FILE`` URL (its first use is locked), else None."""
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        return None
    path = Path(url.removeprefix("sqlite:///").split("?")[0])
    if path.exists() and not path.is_file():
        raise HarnessError(f"--storage {url!r}: {str(path)!r} is not a regular file")
    return path


MAX_STUDY_NAME = 200
"""Longest study name (it names MLflow runs and tags)."""


def check_study_name(name: object) -> str:
    """``--study``: printable text of 1 to :data:`MAX_STUDY_NAME` characters, not blank (it
    names the study, its MLflow run and tags), and not one of this adapter's lock studies."""
    if (
        not isinstance(name, str)
        or not name.strip()
        or not name.isprintable()
        or len(name) > MAX_STUDY_NAME
        or name.startswith(LOCK_PREFIX)
    ):
        long = isinstance(name, str) and len(name) > 80
        shown = f"{len(name)} characters" if long else repr(name)
        raise HarnessError(
            f"--study must be a name of 1 to {MAX_STUDY_NAME} printable characters (no newline, "
            f"not blank), got {shown}"
        )
    return name


def study_names(store: StudyStore) -> list[str]:
    """Names of the studies in ``store``."""
    return list(optuna.get_all_study_names(store.storage))


@contextlib.contextmanager
def exclusive(store: StudyStore, study: str) -> Iterator[None]:
    """Hold ``study`` for this driver alone (see the module docstring); refuse if held."""
    guard = store.guard
    if guard is None:
        store.lease.claim(store.storage, study, where=store.description)
        try:
            yield
        finally:
            store.lease.release(store.storage)
        return
    holder_path = guard.path.with_name(guard.path.name + ".driver")
    with open(guard.path, "ab") as journal, open(holder_path, "a+") as holder:
        try:  # the journal file itself, whatever the path (a hard link is the same file)
            fcntl.flock(journal, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder.seek(0)
            who = holder.read().strip() or _lock_holder(journal.fileno())
            raise HarnessError(
                f"Optuna journal {store.description} is in use by another tune driver "
                f"({who}): wait for it to finish, or use another --storage"
            ) from None
        holder.seek(0)
        holder.truncate()
        holder.write(f"pid {os.getpid()} on {socket.gethostname()}, study {study!r}")
        holder.flush()
        try:
            yield
        finally:
            guard.record()
            holder.truncate(0)
            fcntl.flock(journal, fcntl.LOCK_UN)


def _lock_holder(fd: int) -> str:
    """Who holds the ``flock`` of ``fd``'s file when it was reached by another path (a hard
    link): the kernel's lock table names the process (Linux ``/proc/locks``)."""
    st = os.fstat(fd)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == inode:
                return f"pid {fields[4]} on {socket.gethostname()}, through another path"
    return "another process, through another path"


LOCK_PREFIX = "hazard-harness driver of "
"""An RDB study ``S`` is held by the study ``LOCK_PREFIX + S`` (see :class:`_Lease`)."""


def _me() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}


def _stale(holder: dict[str, Any]) -> bool:
    """A holder whose heartbeat is older than :data:`LEASE_S`, or whose process on this host
    is gone."""
    import psutil

    if time.time() - float(holder.get("heartbeat", 0)) >= LEASE_S:
        return True
    return holder.get("host") == socket.gethostname() and not psutil.pid_exists(
        int(holder.get("pid", 0))
    )


@dataclass
class _Lease:
    """A driver's claim of a study on an RDB storage: a lock study created with the study's
    name (the storage's unique study names make the claim atomic on any RDB, with Optuna's
    own API), its user attribute ``driver`` naming the holder (host, pid, heartbeat renewed
    after every batch). A stale claim (see :func:`_stale`) is taken over; the lock study is
    deleted when the driver ends."""

    lock_id: int | None = None

    def claim(self, storage: Any, study: str, *, where: str) -> None:
        from optuna.exceptions import DuplicatedStudyError
        from optuna.study import StudyDirection

        name = LOCK_PREFIX + study
        for _ in range(2):  # a stale claim is deleted, then claimed once more
            try:
                self.lock_id = storage.create_new_study([StudyDirection.MINIMIZE], name)
            except DuplicatedStudyError:
                pass
            else:
                self.renew(storage)
                return
            try:
                held = storage.get_study_id_from_name(name)
                holder = storage.get_study_user_attrs(held).get("driver")
            except KeyError:  # released meanwhile: claim again
                continue
            if not isinstance(holder, dict) or not _stale(holder):
                who = (
                    f"pid {holder.get('pid')} on {holder.get('host')}"
                    if isinstance(holder, dict)
                    else "a driver starting at this moment"
                )
                raise HarnessError(
                    f"study {study!r} in {where} is driven by {who} (lock study "
                    f"{name!r}): wait for it to finish, or use another --study"
                )
            with contextlib.suppress(KeyError):  # another driver took it over first
                storage.delete_study(held)
        raise HarnessError(
            f"study {study!r} is being taken over by another driver: wait for it to finish, "
            "or use another --study"
        )

    def renew(self, storage: Any) -> None:
        if self.lock_id is not None:
            storage.set_study_user_attr(self.lock_id, "driver", _me())

    def release(self, storage: Any) -> None:
        if self.lock_id is not None:
            with contextlib.suppress(KeyError):
                storage.delete_study(self.lock_id)
            self.lock_id = None


def _redacted(url: str) -> str:
    """A storage URL without its password, for messages."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)
