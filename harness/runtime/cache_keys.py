"""The one cache key: a hash of what shapes a cached thing, content and code alike.

Every cache (history stores, graders trained on demand, ingested records) and the source hash
every MLflow run carries are keyed here, by the content that shapes them and by every file —
code and data, recursively — of the packages and files that do. Editing any of them, a table
such as ``sim/speed_error.json`` or a module deep in ``core/perception/``, gives a new key, so
a stale cache is never used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
"""The folder that holds the ``core``, ``sim`` and ``harness`` packages."""
SKIPPED = ("__pycache__",)
"""Folders that hold nothing a reader wrote (byte code)."""


def source_files(*parts: str) -> list[Path]:
    """Every file under ``parts`` (paths relative to :data:`ROOT`: a package or one file), in a
    fixed order; byte code left out.

    Raises:
        FileNotFoundError: a part that does not exist (a renamed module must not silently
            drop out of a key).
    """
    files: list[Path] = []
    for part in parts:
        path = ROOT / part
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(s in p.relative_to(ROOT).parts for s in SKIPPED)
                and p.suffix != ".pyc"
            ]
        else:
            raise FileNotFoundError(f"cache key part {part!r} is not under {ROOT}")
    return sorted(set(files))


def cache_key(content: Any, *parts: str, extra: Iterable[bytes] = ()) -> str:
    """16 hex digits of SHA-256 over ``content`` (JSON), ``extra`` and every file of ``parts``
    (its path relative to :data:`ROOT` and its bytes)."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode())
    for chunk in extra:
        digest.update(chunk)
    for path in source_files(*parts):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
