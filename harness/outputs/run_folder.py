"""A run's output folder: ``results.json``, the Parquet tables, the evidence, the report, and a
copy of what it ran (the scenario, or a records folder's manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import records
from harness.evaluation.results import Evidence, RunResult
from harness.outputs import run_report, tables
from harness.runtime import staging
from harness.runtime.storage import Location


def write_run(
    result: RunResult,
    folder: staging.Folder,
    source_file: Path | Location | None,
    evidence: list[Evidence],
) -> dict[str, Any]:
    """results.json, Parquet tables, the evidence, the report and a copy of ``source_file``
    (the scenario YAML, or a records folder's manifest); returns results.json's content."""
    tables.write(result, folder)
    staging.write_json(folder / run_report.EVIDENCE, evidence)
    run_report.write_report(result, folder, evidence)
    if source_file is not None:
        name = records.MANIFEST if source_file.name == records.MANIFEST else "scenario.yaml"
        (folder / name).write_bytes(source_file.read_bytes())
    results = result.to_json()
    staging.write_json(folder / staging.RESULTS, results)
    return results
