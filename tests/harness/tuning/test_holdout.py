"""More held-out days: a scenario evaluated longer simulates the same days, and the features
of added days alone — their post databases, Z and Y — equal those of a full evaluation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import core
from harness.adapters.ray_cluster import ray_session
from harness.evaluation.graders import true_levels
from harness.runtime.errors import HarnessError
from harness.tuning._features import build_features, results_of
from harness.tuning._holdout import HeldOut, with_evaluated_days
from sim import load_scenario
from tests.harness.conftest import TUNE_TINY

SCENARIO = load_scenario(TUNE_TINY)  # days 5..8 evaluated


def test_a_longer_scenario_is_the_same_scenario_evaluated_longer():
    longer = with_evaluated_days(SCENARIO, 12)
    assert list(longer.evaluate_days) == list(range(5, 13))
    assert longer.model_dump(exclude={"days"}) == SCENARIO.model_dump(exclude={"days"})
    with pytest.raises(HarnessError, match=r"days\.evaluate"):
        with_evaluated_days(SCENARIO, 10_000)


def test_a_scenario_with_integer_keys_is_evaluated_longer():
    """A fitted twin's cast names destinations by area number; JSON would make them strings,
    which the strict scenario refuses."""
    data = SCENARIO.model_dump()
    data["workers"]["cast"] = [{"post": 1, "destinations": {0: 1.0}}]
    longer = with_evaluated_days(load_scenario(data), 12)
    assert longer.workers.cast[0].destinations == {0: 1.0}


def test_held_out_days_are_added_after_the_last_one():
    made = []

    def make(days):
        made.append(days)
        return None, None

    held = HeldOut([(None, None, (7, 8))], make=make)
    held.extend(5)
    held.extend(5)  # already there: nothing made
    held.extend(9)
    assert made == [(9, 10, 11), (12, 13, 14, 15)]
    assert held.days == tuple(range(7, 16)) and held.added == list(range(9, 16))
    with pytest.raises(HarnessError, match="records folder"):
        HeldOut([(None, None, (7, 8))]).extend(4)


def _rows(shift) -> list[tuple]:
    return [(w.worker, w.post, w.Z, w.Y, w.needs_management, w.needs_training) for w in shift.rows]


def _same(a, b) -> None:
    assert (a.day, a.shift) == (b.day, b.shift)
    assert np.array_equal(a.levels, b.levels) and np.array_equal(a.dwell, b.dwell)
    assert [s.culprits for s in a.states] == [s.culprits for s in b.states]
    assert _rows(a) == _rows(b)


@pytest.mark.slow
def test_added_days_score_as_a_full_evaluation_of_the_longer_scenario(tmp_path: Path):
    longer = with_evaluated_days(SCENARIO, 11)
    other = core.ModelParams(eps=2.0, rho_min=0.5)  # rescored: not the cache's default key
    with ray_session(address=None, workers=2, timeout=10) as session:
        kw = {"cache_dir": tmp_path, "max_in_flight": session.max_in_flight, "progress": False,
              "levels_of": true_levels}  # fmt: skip
        base, _ = build_features(SCENARIO, **kw)
        full, full_cache = build_features(longer, **kw)
        added, added_cache = build_features(longer, days=(9, 10, 11), **kw)
        assert added.days == (9, 10, 11)
        for a, b in zip(base.shifts, full.shifts[: len(base.shifts)], strict=True):
            _same(a, b)  # the scenario's own days: the same when evaluated longer
        for a, b in zip(added.shifts, full.shifts[len(base.shifts) :], strict=True):
            _same(a, b)  # the added days alone: their databases hold the days before them
        got = results_of(added, added_cache, other, (9, 10, 11))
        want = results_of(full, full_cache, other, (9, 10, 11))
        assert [dataclasses.astuple(r) for r in got] == [dataclasses.astuple(r) for r in want]
