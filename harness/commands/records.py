"""The ``records`` commands: ``records export`` and ``records check`` (no Ray, no MLflow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.records._export import export_scenario
from harness.records._format import FORMAT_VERSION
from harness.records._ingest import read_post
from harness.records._source import load
from harness.records._tables import check_labels
from harness.runtime.inputs import load_scenario_file
from harness.runtime.storage import Location


def export(scenario_path: str | Path, out: Path | Location) -> dict[str, Any]:
    """``records export SCENARIO --out DIR``: the scenario as a records folder (local, or on
    object storage)."""
    return export_scenario(load_scenario_file(scenario_path), out)


def check(folder: str | Path | Location) -> dict[str, Any]:
    """``records check DIR``: every check ``run`` makes, post by post in this process.

    Raises:
        RecordsError: the first problem, naming the file, the column and the rows.
    """
    recorded = load(folder)
    m = recorded.manifest
    keys = set()
    for post in range(1, m.posts + 1):
        for (day, shift), found in read_post(m, post).items():
            keys.update((day, shift, post, r.worker) for r in found)
    if recorded.labels is not None:
        check_labels(m, recorded.labels, keys)
    return {
        "folder": m.folder.uri,
        "format_version": FORMAT_VERSION,
        "posts": m.posts,
        "days": m.days,
        "worker_shifts": len(keys),
        "labelled": recorded.labels is not None,
    }
