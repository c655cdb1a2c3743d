"""The run's records against the model's own types."""

from __future__ import annotations

import dataclasses

import core
from harness.evaluation.results import CauseResult, WorkerResult


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_a_cause_record_is_the_models_root_cause_but_the_workers_scores() -> None:
    scores = ["Z", "Y"]
    assert set(scores) <= set(_names(WorkerResult))
    assert _names(CauseResult) == [n for n in _names(core.RootCause) if n not in scores]


def test_a_cause_record_keeps_the_models_decision() -> None:
    cause = core.RootCause(hazard_post=2, post=3, worker="w7", Z=0.4, Y=float("nan"),
                           reasons=(core.OFF_POST,))  # fmt: skip
    assert CauseResult.of(cause) == CauseResult(hazard_post=2, post=3, worker="w7",
                                                reasons=("off_post",))  # fmt: skip
