"""The ask/tell loop on Ray: a worker that dies ends its trials FAIL (or is retried), no hang."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import optuna
import pytest

import core
from harness.adapters import optuna_studies
from harness.adapters.ray_cluster import ray_session
from harness.runtime.errors import HarnessError
from harness.tuning import Features, RayEvaluator, ScoreCache, make_space
from harness.tuning._features import score_key


@pytest.fixture(scope="module")
def ray_running():
    with ray_session(address=None, workers=2, timeout=10):
        yield


def _evaluator(task) -> RayEvaluator:
    empty = Features(G=np.eye(1), T=1.0, shifts=())
    cache = ScoreCache(
        scenario_ref=None, store_root="", arrays={}, layout={}, order=[],
        known={score_key(core.ModelParams()): []},
    )  # fmt: skip
    return RayEvaluator(
        space=SPACE,
        features=empty, rows=np.zeros(0, dtype=np.intp), cache=cache, objectives=(),
        workers=2, task=task,
    )  # fmt: skip


def _study() -> optuna.Study:
    return optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))


SPACE = make_space(names=("tau_D",))


@pytest.mark.slow
def test_killed_worker_ends_trials_failed_not_hung(ray_running):
    def die(features, batch, ys, objectives, plan):
        os._exit(1)

    study = _study()
    with pytest.raises(HarnessError, match=r"2 trials of study .* failed"):
        optuna_studies.optimize(
            study, distributions=SPACE.distributions(), evaluate_batch=_evaluator(die),
            n_complete=2, batch_size=2, max_failures=2,
        )  # fmt: skip
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    assert all("WorkerCrashedError" in t.user_attrs["fail_reason"] for t in study.trials)


@pytest.mark.slow
def test_worker_killed_once_is_retried(ray_running, tmp_path: Path):
    marker = str(tmp_path / "died")

    def die_once(features, batch, ys, objectives, plan):
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)
        return {number: (params.tau_D,) for number, params in batch}

    study = _study()
    optuna_studies.optimize(
        study, distributions=SPACE.distributions(), evaluate_batch=_evaluator(die_once),
        n_complete=3, batch_size=3,
    )  # fmt: skip
    assert Path(marker).exists()
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert [t.value for t in study.trials] == [t.params["tau_D"] for t in study.trials]
