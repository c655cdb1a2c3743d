"""``hazard-harness report``: rebuild a run's HTML report from its folder or MLflow run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from harness import outputs, preflight
from harness._errors import HarnessError
from harness.report import EVIDENCE, write_report
from harness.settings import connect_timeout


def read_results(path: Path) -> dict[str, Any]:
    """A run's ``results.json``; a missing, unreadable or malformed one is a HarnessError."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read {str(path)!r}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{str(path)!r} is not valid JSON: {exc}") from None
    missing = [k for k in ("scenario", "params", "shifts", "metrics") if k not in results]
    if not isinstance(results, dict) or missing:
        raise HarnessError(f"{str(path)!r} is not a results.json of hazard-harness (no {missing})")
    return results


def rebuild_report(source: str, *, out: Path | None = None, timeout: float | None = None) -> Path:
    """Rebuild plots and ``report.html`` from ``results.json`` in a folder or an MLflow run."""
    folder = Path(source)
    if folder.is_dir():
        results_path = folder / outputs.RESULTS
        if not results_path.is_file():
            raise HarnessError(f"{source!r} holds no {outputs.RESULTS}: is it a run folder?")
        target = Path(out) if out else folder
    else:
        if folder.exists():
            raise HarnessError(f"{source!r} is a file; give a run folder or an MLflow run id")
        from harness.tracking import download_artifact

        preflight.check_tracking(connect_timeout(timeout))
        results_path = download_artifact(source, outputs.RESULTS, Path(tempfile.mkdtemp()))
        target = Path(out) if out else Path(f"report-{source}")
    preflight.check_writable(target, option="--out")
    results = read_results(results_path)
    target.mkdir(parents=True, exist_ok=True)
    evidence_path = results_path.with_name(EVIDENCE)
    evidence = json.loads(evidence_path.read_text()) if evidence_path.is_file() else None
    return write_report(results, target, evidence)
