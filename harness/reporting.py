"""``hazard-harness report``: rebuild a run's HTML report from its folder or MLflow run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from harness import outputs
from harness._errors import HarnessError
from harness.tracking import tracking_uri


def rebuild_report(source: str, *, out: str | None = None) -> Path:
    """Rebuild plots and ``report.html`` from ``results.json`` in a folder or an MLflow run."""
    folder = Path(source)
    if folder.is_dir():
        results_path = folder / outputs.RESULTS
        if not results_path.is_file():
            raise HarnessError(f"{source!r} holds no {outputs.RESULTS}: is it a run folder?")
    else:
        results_path = _download(source)
    results = json.loads(results_path.read_text())
    target = Path(out) if out else (folder if folder.is_dir() else Path(f"report-{source}"))
    target.mkdir(parents=True, exist_ok=True)
    outputs.write_plots(results, target)
    return outputs.write_report(results, target)


def _download(run_id: str) -> Path:
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri())
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=outputs.RESULTS, dst_path=tempfile.mkdtemp()
        )
    except MlflowException as exc:
        raise HarnessError(
            f"{run_id!r} is neither a run folder nor an MLflow run with {outputs.RESULTS} "
            f"at {tracking_uri()}"
        ) from exc
    return Path(local)
