"""The per-post grader studies: the same study twice gives the same weights."""

from __future__ import annotations

import numpy as np

import sim
from harness.evaluation.grading_data import history_day_states
from harness.training.graders import StudyBudget, post_study
from tests.harness.conftest import TINY


def test_the_same_study_twice_gives_the_same_weights(tmp_path):
    scenario = sim.load_scenario(TINY)
    real = {}
    for day in scenario.history_days:
        real.update({k: s[1] for k, s in history_day_states(scenario, day).items()})
    budget = StudyBudget(trials=2, epochs=2, augment=1)
    a = post_study(scenario, 2, real, budget, str(tmp_path / "a.journal"))
    b = post_study(scenario, 2, real, budget, str(tmp_path / "b.journal"))
    assert a["params"] == b["params"] and a["trial"] == b["trial"]
    assert a["state"].keys() == b["state"].keys()
    for key in a["state"]:
        np.testing.assert_array_equal(a["state"][key], b["state"][key])
