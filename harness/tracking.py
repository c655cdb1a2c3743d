"""MLflow adapter: where runs go, and a run that always ends FINISHED, FAILED or KILLED.

The tracking URI is ``MLFLOW_TRACKING_URI`` when set (a tracking server for clusters), else a
SQLite file ``mlflow.db`` in the working folder. Only the driver logs: no concurrent writers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_DB = "mlflow.db"


def tracking_uri() -> str:
    """The tracking URI in force: the environment's, else the SQLite file in the working folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / DEFAULT_DB}"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def tracked_run(
    *,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    run_id: str | None = None,
) -> Iterator[str]:
    """Start an MLflow run, yield its id, and end it FINISHED, FAILED or KILLED.

    With ``run_id``, that run is resumed instead (e.g. a resumed study's parent run).

    KeyboardInterrupt (Ctrl-C, or SIGTERM inside :func:`sigterm_as_interrupt`) and SystemExit
    (Ray's own SIGTERM handler while it starts) end the run KILLED; any other exception
    FAILED; all are re-raised.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    run = mlflow.start_run(
        run_name=run_name,
        experiment_id=experiment_id,
        tags=dict(tags or {}),
        nested=parent_run_id is not None,
        parent_run_id=parent_run_id,
        run_id=run_id,
    )
    status = "FAILED"
    try:
        mlflow.log_params(flatten(params))
        yield run.info.run_id
        status = "FINISHED"
    except (KeyboardInterrupt, SystemExit):
        status = "KILLED"
        raise
    finally:
        mlflow.end_run(status=status)


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``a.b.c`` keys (MLflow params are flat)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def log_metrics(metrics: Mapping[str, Any], *, step: int | None = None) -> None:
    """Log the finite numbers of a nested metrics mapping (NaN and non-numbers are skipped)."""
    import math

    import mlflow

    numbers = {
        k: float(v)
        for k, v in flatten(metrics).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    mlflow.log_metrics(numbers, step=step)


def log_child_runs(
    children: Sequence[tuple[str, Mapping[str, Any], Mapping[str, float], str]],
    *,
    parent_run_id: str,
) -> None:
    """Log finished child runs ``(name, params, metrics, status)`` of the parent, batched.

    Each child is created, logged in one batch call and ended with its status (``FINISHED``
    or ``FAILED``), so none is left RUNNING; meant for many fast trials.
    """
    import time

    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

    client = mlflow.MlflowClient(tracking_uri())
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    now = int(time.time() * 1000)
    for name, params, metrics, status in children:
        run = client.create_run(
            experiment_id, tags={MLFLOW_PARENT_RUN_ID: parent_run_id, MLFLOW_RUN_NAME: name}
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in flatten(params).items()],
        )
        client.set_terminated(run.info.run_id, status=status)
