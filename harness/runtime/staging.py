"""Command outputs, published without half-written files.

Everything is written into a staging folder beside the output folder and moved in only when
complete (``results.json`` last, signals held back during the moves); an interrupted command
leaves the output folder as it was, and the next command removes the staging folders of
processes that died.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.runtime import interrupts

RESULTS = "results.json"
_PREFIX = ".{name}.partial-"


@contextlib.contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """A staging folder whose files are moved into ``out_dir`` when the block succeeds.

    Staging folders that killed processes left beside ``out_dir`` (for any output folder
    there) are removed first.
    """
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
            for name in [n for n in names if n != RESULTS] + [n for n in names if n == RESULTS]:
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
