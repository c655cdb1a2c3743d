"""Command outputs, published without half-written files.

Everything is written into a staging folder beside the output folder and moved in only when
complete (``results.json`` last, signals held back during the moves); an interrupted command
leaves the output folder as it was, and the next command removes the staging folders of
processes that died.

On object storage (an output :class:`~harness.runtime.storage.Location` such as
``s3://bucket/runs/demo``) the staging folder is a temporary prefix beside the output, written
by the command itself; when complete its objects are copied into the output (server-side),
the output's marker files last, and :data:`~harness.runtime.storage.MANIFEST` is written after
them: the list of the output's files and sizes, which marks it complete. Publishing first
removes the old manifest and markers, so a reader (which needs them) never takes a half-copied
output for a whole one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.runtime import interrupts, storage

RESULTS = "results.json"
_PREFIX = ".{name}.partial-"
Folder = Path | storage.Location
"""A local output folder, or one on object storage."""


@contextlib.contextmanager
def staged(out_dir: Folder, *, last: tuple[str, ...] = (RESULTS,)) -> Iterator[Folder]:
    """A staging folder whose files are moved into ``out_dir`` when the block succeeds,
    the files named in ``last`` (the output's markers, which readers need) after the others.

    Staging folders that killed processes left beside ``out_dir`` (for any output folder
    there) are removed first.
    """
    if isinstance(out_dir, storage.Location):
        if out_dir.remote:
            with _staged_remote(out_dir, last) as stage:
                yield stage
            return
        out_dir = Path(out_dir.path)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(out_dir)
    staging = out_dir.parent / f"{_PREFIX.format(name=out_dir.name)}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        with interrupts.deferred():  # a few renames: never half-moved
            out_dir.mkdir(exist_ok=True)
            names = sorted(p.name for p in staging.iterdir())
            for name in [n for n in names if n not in last] + [n for n in names if n in last]:
                target = out_dir / name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_orphans(out_dir: Path) -> list[Path]:
    """Remove the staging folders beside ``out_dir`` (of any output folder there) whose
    process is gone, or is another process that reuses the pid; returns them."""
    import psutil

    removed = []
    for folder in out_dir.parent.glob(f"{_PREFIX.format(name='*')}*"):
        pid = folder.name.rpartition("-")[2]
        if not pid.isdigit() or not folder.is_dir() or int(pid) == os.getpid():
            continue
        try:
            alive = psutil.Process(int(pid)).create_time() <= folder.stat().st_mtime + 1
        except (psutil.Error, OSError):
            alive = False
        if not alive:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def _staged_remote(out: storage.Location, last: tuple[str, ...]) -> Iterator[storage.Location]:
    """:func:`staged` on object storage (see the module docstring)."""
    _remove_remote_orphans(out)
    stage = out.parent / f"{_PREFIX.format(name=out.name)}{socket.gethostname()}-{os.getpid()}"
    stage.delete()
    try:
        yield stage
        with interrupts.deferred():  # copies and deletes: never half-published
            files = dict(storage.walk(stage))
            for name in (storage.MANIFEST, *last):
                (out / name).delete()
            entries = stage.children()
            for entry in sorted(entries, key=lambda e: (e.name in last, e.name)):
                target = out / entry.name
                target.delete()
                entry.copy_to(target)
            manifest = {"format": "hazard-harness output", "files": files}
            (out / storage.MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    finally:
        stage.delete()


def _remove_remote_orphans(out: storage.Location) -> None:
    """Remove the staging prefixes beside ``out`` that a process of this host that is gone
    left (another host's are left alone: its processes cannot be seen from here)."""
    import psutil

    host = socket.gethostname()
    for entry in out.parent.children():
        _, sep, owner = entry.name.partition(".partial-")
        who, _, pid = owner.rpartition("-")
        mine = entry.name.startswith(".") and sep and who == host and pid.isdigit()
        if mine and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)):
            entry.delete()


def write_json(path: Path, data: Any) -> None:
    """JSON with NaN written as null."""
    interrupts.checkpoint("writing")
    path.write_text(json.dumps(json_safe(data), indent=2) + "\n")


def json_safe(value: Any) -> Any:
    """``value`` with NaN floats as None and tuples as lists (strict JSON)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
