"""Exclusive file locks between processes, for a file's first use (a fresh store's tables)."""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path

from harness.runtime import interrupts

_HELD: set[tuple[int, Path]] = set()
"""The files whose lock each thread of this process holds."""


@contextlib.contextmanager
def first_use(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` of ``path`` (created empty if missing) for the block.

    For the first use of a store kept in one file (MLflow's or Optuna's SQLite database): two
    commands starting together on a fresh store would both create its tables ("table …
    already exists"); with the lock the second waits, then finds them. SQLite locks byte
    ranges with ``fcntl``; ``flock`` does not interfere. The moment ``store_wait`` (another
    process holds the lock) lets tests order two commands
    (:func:`harness.runtime.interrupts.checkpoint`). Re-entrant in a thread: a block nested
    in one that holds the lock goes on (a second ``flock`` would wait on the first forever).
    """
    key = (threading.get_ident(), path.resolve())
    if key in _HELD:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            interrupts.checkpoint("store_wait")
            fcntl.flock(file, fcntl.LOCK_EX)  # an interrupt ends the wait
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
            fcntl.flock(file, fcntl.LOCK_UN)
