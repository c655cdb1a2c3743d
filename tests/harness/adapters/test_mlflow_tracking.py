"""The MLflow adapter logs MLflow's way: settings as params, each interval once, a failed or
killed run's reason as its note (``mlflow.note.content``, the run's description in the UI)."""

from __future__ import annotations

import mlflow
import pytest

from harness.adapters.mlflow_tracking import TAG_NOTE, log_metrics, tracked_run
from harness.runtime.errors import HarnessError
from harness.runtime.interrupts import Interrupted

METRICS = {
    "root_cause": {"f1": 0.8, "precision": 0.9, "recall": 0.7, "ci95": [0.6, 0.9],
                   "f1_ci95": [0.6, 0.9], "precision_ci95": [0.7, 1.0]},
    "faults_explained": {"value": 0.5, "ci95": [0.3, 0.7]},
    "bootstrap": {"replicates": 1000, "seed": 7, "days": 3, "people": 6,
                  "resampled": "days and people"},
}  # fmt: skip


def _run(run_id: str):
    return mlflow.MlflowClient().get_run(run_id)


def test_settings_are_params_an_interval_is_logged_once_and_a_note_says_why_a_run_ended():
    """(One test: each pays for a fresh MLflow store.)"""
    with tracked_run(experiment="e", run_name="r", params={}, command="run") as run_id:
        log_metrics(METRICS)
        log_metrics(METRICS)  # again (a resumed run): the params are not logged twice
    data = _run(run_id).data
    assert data.params["bootstrap.replicates"] == "1000" and data.params["bootstrap.seed"] == "7"
    assert data.params["bootstrap.resampled"] == "days and people"
    assert not [k for k in data.metrics if k.startswith("bootstrap")]
    assert "root_cause.f1_ci95.low" in data.metrics and "root_cause.ci95.low" not in data.metrics
    assert data.metrics["faults_explained.ci95.high"] == 0.7  # its only name: kept
    assert data.metrics["root_cause.precision_ci95.low"] == 0.7
    with (
        pytest.raises(HarnessError),
        tracked_run(experiment="e", run_name="r", params={}, command="run") as failed,
    ):
        raise HarnessError("records.json: `seed` must be an integer")
    with (
        pytest.raises(Interrupted),
        tracked_run(experiment="e", run_name="r", params={}, command="tune") as killed,
    ):
        raise Interrupted(15)
    note = _run(failed).data.tags[TAG_NOTE]
    assert TAG_NOTE == "mlflow.note.content"
    assert _run(failed).info.status == "FAILED"
    assert (
        note == "hazard-harness run failed: HarnessError: records.json: `seed` must be an integer"
    )
    assert _run(killed).info.status == "KILLED"
    assert _run(killed).data.tags[TAG_NOTE] == "hazard-harness tune interrupted by SIGTERM"
