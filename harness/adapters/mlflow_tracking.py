"""MLflow adapter: a run that always ends, what it logs, and runs a killed process left behind.

Only the driver logs: no concurrent writers (where the runs go:
:mod:`harness.adapters.mlflow_store`).

- :func:`tracked_run` ends every run FINISHED, FAILED or KILLED (interrupts). Each run is
  tagged with the host and process that ran it, the git commit (or a hash of the source when
  not in git) and the command, and carries MLflow's own ``mlflow.source.name`` / ``.type`` /
  ``.git.commit``.
- A process killed outright (SIGKILL, power loss) cannot end its run; the next command on the
  same tracking store finds runs of this host whose process is gone and marks them FAILED
  with a note (:func:`recover_stale_runs`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.adapters.mlflow_store import store_created, tracking_uri
from harness.runtime import interrupts, logs
from harness.runtime.cache_keys import ROOT, cache_key
from harness.runtime.errors import HarnessError
from harness.runtime.storage import Location, walk

TAG_HOST = "hazard_harness.host"


TAG_PID = "hazard_harness.pid"


TAG_PID_STARTED = "hazard_harness.pid_started"


TAG_COMMAND = "hazard_harness.command"


TAG_GIT = "hazard_harness.git_commit"


TAG_SOURCE = "hazard_harness.source_hash"


TAG_NOTE = "mlflow.note.content"
"""MLflow's own note of a run (its UI shows it as the run's description): why a run failed or
was killed, or was marked FAILED for a process that died."""


MLFLOW_SOURCE_NAME = "mlflow.source.name"


MLFLOW_SOURCE_TYPE = "mlflow.source.type"


MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
"""MLflow's own source fields: its UI shows them and its search filters on them."""


_READY: set[str] = set()
"""Tracking URIs this process has used (their first use went through the store's lock)."""


def adopt_mlflow() -> None:
    """Route MLflow's loggers and what it prints itself (``eprint``) through ours (idempotent).

    MLflow writes "Successfully registered model …" and "Created version …" straight to stderr
    through one module-level stream, replaced here.
    """
    from mlflow.utils import logging_utils

    logs.adopt("mlflow")
    if not isinstance(logging_utils.MLFLOW_LOGGING_STREAM, logs.PrintsToLog):
        logging_utils.MLFLOW_LOGGING_STREAM = logs.PrintsToLog("mlflow")


def use_mlflow() -> Any:
    """The mlflow module, set to the tracking URI in force, its output routed by
    harness.runtime.logs. A store's first use in this process — tracking and registry, whoever
    asks first (a grader lookup, a run) — is made under :func:`store_created`'s lock."""
    import mlflow

    adopt_mlflow()
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    if uri not in _READY:
        # The first use creates a SQLite store's tables: one command at a time, and never cut
        # by an interrupt (a half-made schema would fail every later command).
        with store_created(uri), interrupts.held():
            interrupts.checkpoint("store")
            client = mlflow.MlflowClient(uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
        _READY.add(uri)
    return mlflow


def _client() -> Any:
    return use_mlflow().MlflowClient(tracking_uri())


@functools.cache
def source_version() -> dict[str, str]:
    """The git commit of the code (with ``-dirty`` when changed), and a hash of its source."""
    tags = {TAG_SOURCE: cache_key(None, "core", "sim", "harness")}
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "core", "sim", "harness"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        tags[TAG_GIT] = commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return tags


def _process_tags(command: str) -> dict[str, str]:
    import psutil

    me = psutil.Process()
    return {
        TAG_HOST: socket.gethostname(),
        TAG_PID: str(me.pid),
        TAG_PID_STARTED: f"{me.create_time():.3f}",
        TAG_COMMAND: command,
        **source_tags(command),
    }


def source_tags(command: str) -> dict[str, str]:
    """MLflow's source fields (``command``: a CLI command, or a script's path) and ours."""
    version = source_version()
    tags = {
        MLFLOW_SOURCE_NAME: command if command.endswith(".py") else f"hazard-harness {command}",
        MLFLOW_SOURCE_TYPE: "LOCAL",
        **version,
    }
    if TAG_GIT in version:  # MLflow wants the bare commit; ours keeps "-dirty"
        tags[MLFLOW_GIT_COMMIT] = version[TAG_GIT].removesuffix("-dirty")
    return tags


def recover_stale_runs() -> list[str]:
    """Mark FAILED the RUNNING runs of this host whose process is gone; their ids.

    A run is stale when the process recorded in its tags no longer exists, or a different
    process now has its pid (start times differ). Runs of other hosts are left alone.
    """
    import psutil
    from mlflow.entities import ViewType

    client = _client()
    host = socket.gethostname()
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    if not experiments:
        return []
    runs = client.search_runs(
        experiments,
        filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG_HOST}` = '{host}'",
        max_results=1000,
    )
    stale = []
    for run in runs:
        tags = run.data.tags
        try:
            pid, started = int(tags[TAG_PID]), float(tags[TAG_PID_STARTED])
            alive = psutil.pid_exists(pid) and abs(psutil.Process(pid).create_time() - started) < 1
        except (KeyError, ValueError, psutil.Error):
            alive = False
        if alive:
            continue
        note = (
            f"marked FAILED by pid {os.getpid()} at {time.strftime('%Y-%m-%d %H:%M:%S')}: the "
            f"process that ran it (pid {tags.get(TAG_PID, '?')}) ended without closing it "
            "(killed?)"
        )
        client.set_tag(run.info.run_id, TAG_NOTE, note)
        client.set_terminated(run.info.run_id, status="FAILED")
        stale.append(run.info.run_id)
    return stale


@contextlib.contextmanager
def tracked_run(
    *,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    command: str,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
    run_id: str | None = None,
) -> Iterator[str]:
    """Start an MLflow run, yield its id, and end it FINISHED, FAILED or KILLED.

    With ``run_id``, that run is resumed instead (e.g. a resumed study's parent run). An
    interrupt (:class:`harness.runtime.interrupts.Interrupted`, Ctrl-C) ends the run KILLED, any
    other exception FAILED; both are re-raised.
    """
    mlflow = use_mlflow()
    if parent_run_id is None:
        recover_stale_runs()
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    run = mlflow.start_run(
        run_name=run_name,
        experiment_id=experiment_id,
        tags={**_process_tags(command), **dict(tags or {})},
        nested=parent_run_id is not None,
        parent_run_id=parent_run_id,
        run_id=run_id,
    )
    status, note = "FAILED", None
    try:
        if run_id is None:
            mlflow.log_params(flatten(params))
        yield run.info.run_id
        status = "FINISHED"
    except KeyboardInterrupt as exc:
        status, note = "KILLED", str(interrupts.taken(exc) or "interrupted")
        raise
    except BaseException as exc:
        note = f"failed: {type(exc).__name__}: {' '.join(str(exc).split())[:1000]}"
        raise
    finally:
        if note is not None:
            with contextlib.suppress(Exception):  # the run ends even if the note cannot be set
                mlflow.set_tag(TAG_NOTE, f"hazard-harness {command} {note}")
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


def finite_numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a nested mapping as flat ``a.b`` keys; an interval ``[low, high]``
    becomes ``a.b.low`` and ``a.b.high`` (NaN, other lists, text left out)."""
    out = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, (list, tuple)) and key.endswith("ci95") and len(value) == 2:
            items = [(f"{key}.low", value[0]), (f"{key}.high", value[1])]
        else:
            items = [(key, value)]
        for name, v in items:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[name] = float(v)
    return out


def _active() -> Any:
    """The mlflow module, with a run started by :func:`tracked_run` in force: MLflow would
    start a run of its own for a log call outside one, and nothing would ever end it."""
    import mlflow

    if mlflow.active_run() is None:
        raise RuntimeError("MLflow logging outside a tracked run (see tracked_run)")
    return mlflow


SETTINGS = ("bootstrap",)
"""Keys of a metrics mapping that say how figures were made (the bootstrap's replicates,
seed, what it resampled): logged as params, not as metrics."""


def log_metrics(metrics: Mapping[str, Any], *, step: int | None = None) -> None:
    """Log the finite numbers of a nested metrics mapping in the active run, MLflow's way:
    the settings under :data:`SETTINGS` as params (once), and a group's headline interval
    ``ci95`` only under its own name (``root_cause.f1_ci95``, not also ``root_cause.ci95``)."""
    mlflow = _active()
    figures, settings = _split_settings(metrics)
    mlflow.log_metrics(finite_numbers(figures), step=step)
    if settings:
        run = mlflow.active_run().info.run_id
        logged = _client().get_run(run).data.params
        mlflow.log_params({k: v for k, v in flatten(settings).items() if k not in logged})


def _split_settings(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``metrics`` without its settings and repeated intervals, and the settings."""
    figures: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    named = {str(v) for k, v in metrics.items() if k.endswith("_ci95")}
    for key, value in metrics.items():
        if key in SETTINGS:
            settings[key] = value
        elif key == "ci95" and str(value) in named:
            continue  # the same interval as one of the group's <figure>_ci95
        elif isinstance(value, Mapping):
            inner, inner_settings = _split_settings(value)
            figures[key] = inner
            settings.update({f"{key}.{k}": v for k, v in inner_settings.items()})
        else:
            figures[key] = value
    return figures, settings


def log_curves(curves: Mapping[str, Sequence[tuple[int, float]]]) -> None:
    """Log ``{name: [(step, value), ...]}`` in the active run, batched (finite values only)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(name, float(v), now, int(step)) for name, points in curves.items()
               for step, v in points if math.isfinite(v)]  # fmt: skip
    run_id = _active().active_run().info.run_id
    for start in range(0, len(metrics), 1000):  # MLflow's limit per batch
        _client().log_batch(run_id, metrics=metrics[start : start + 1000])


def log_artifacts(folder: Path | Location) -> None:
    """Log every file of ``folder`` as artifacts of the active run.

    A folder on object storage goes through a temporary copy: MLflow's artifact API uploads
    local files (its own scratch, removed at once).
    """
    mlflow = _active()
    interrupts.checkpoint("logging")
    if isinstance(folder, Path) or not folder.remote:
        mlflow.log_artifacts(str(folder))
        return
    with tempfile.TemporaryDirectory(prefix="hazard-harness-artifacts-") as scratch:
        for name, _ in walk(folder):
            local = Path(scratch, name)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes((folder / name).read_bytes())
        mlflow.log_artifacts(scratch)


def log_dict(data: Mapping[str, Any], name: str) -> None:
    """Log ``data`` as a JSON artifact ``name`` of the active run."""
    _active().log_dict(dict(data), name)


TRIAL_COMPLETE = "trial.complete"
"""The per-trial metric every logged trial has (1 complete, 0 failed), at step = its number."""


def log_trials(
    trials: Sequence[tuple[int, Mapping[str, float], Mapping[str, Any], bool]], *, run_id: str
) -> None:
    """Log a study's trials ``(number, objective values, params, complete)`` on its run, as
    metrics at step = the trial's number: ``trial.complete``, ``trial.<objective>`` and
    ``trial.param.<name>`` for numeric parameters (MLflow charts them as the optimisation
    history). One call per 1,000 values: thousands of sub-millisecond trials stay cheap, where
    a run per trial cost three database writes each."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = []
    for number, values, params, complete in trials:
        metrics.append(Metric(TRIAL_COMPLETE, float(complete), now, number))
        metrics += [Metric(f"trial.{k}", float(v), now, number) for k, v in values.items()]
        metrics += [
            Metric(f"trial.param.{k}", float(v), now, number)
            for k, v in params.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
    client = _client()
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def logged_trials(run_id: str) -> set[int]:
    """Numbers of the trials already logged on a study's run."""
    return {m.step for m in _client().get_metric_history(run_id, TRIAL_COMPLETE)}


def study_runs(study: str) -> list[dict[str, Any]]:
    """The ``tune`` runs of an Optuna study (tag ``optuna.study``) and their logged trials."""
    from mlflow.entities import ViewType

    client = _client()
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    if not experiments:
        return []
    runs = client.search_runs(
        experiments, filter_string=f"tags.`optuna.study` = '{study}'", max_results=100
    )
    return [{"run_id": r.info.run_id, "trials": len(logged_trials(r.info.run_id))} for r in runs]


def run_exists(run_id: str) -> bool:
    """Whether ``run_id`` names a run of the tracking store."""
    from mlflow.exceptions import MlflowException

    try:
        _client().get_run(run_id)
    except MlflowException:
        return False
    return True


def download_artifact(
    run_id: str, path: str, dst: Path, *, missing_ok: bool = False
) -> Path | None:
    """Download the artifact ``path`` of ``run_id`` into ``dst``.

    Returns:
        The local path, or None when the artifact is missing and ``missing_ok``.

    Raises:
        HarnessError: no such run or artifact.
    """
    from mlflow.exceptions import MlflowException

    mlflow = use_mlflow()
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=str(dst), tracking_uri=tracking_uri()
        )
    except (MlflowException, OSError) as exc:
        if missing_ok:
            return None
        raise HarnessError(
            f"{run_id!r} is neither a run folder nor an MLflow run with {path} at {tracking_uri()}"
        ) from exc
    return Path(local)
