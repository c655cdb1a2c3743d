"""One small scenario's decisions held to a digest checked in before the speed work of
issue 26: a speed-up may change the last bits of D, Z and Y (within
:data:`~tests.harness.evaluation.decisions.FIGURE_TOLERANCE`), never a decision.

The expected file was written by the code of commit 0bb0289 (``python -m
tests.harness.evaluation.test_results_unchanged --write``); rewrite it only for a change that
is meant to change the model's results, and say so in the commit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import core
import sim
from harness.evaluation.decisions import decide_shifts
from harness.evaluation.graders import true_levels
from harness.evaluation.history import stored_days
from harness.evaluation.scoring import group_by_shift, score_posts_task
from tests.harness.evaluation.decisions import digest, figure_differences, figures

EXPECTED = Path(__file__).with_name("unchanged.json")
SCENARIO: dict[str, Any] = {
    "name": "unchanged",
    "seed": 11,
    "line": {"posts": 5, "correlation": "chain"},
    "shifts": {"per_day": 2, "length_s": 3600, "rate_hz": 1.0, "breaks": [[1800, 2100]]},
    "days": {"history": 8, "evaluate": 3},
    "workers": {
        "per_post": 1,
        "cast": [
            {"post": 2, "shift": "day", "profile": "wanderer"},
            {"post": 4, "shift": "night", "profile": "novice"},
        ],
    },
    "equipment": {"fault_rate": 0.3},
}
"""Five posts, a wanderer and a novice, many faults: every kind of decision occurs."""


def shifts_of_run(store: Path) -> list[dict[str, Any]]:
    """``results.json``'s ``shifts`` of the scenario at the true levels (no Ray: in-process)."""
    scenario = sim.Scenario.model_validate(SCENARIO)
    sim.build_history(scenario, sim.HistoryStore(store), days=stored_days(scenario))
    params = core.ModelParams()
    posts = tuple(range(1, scenario.n_posts + 1))
    by_shift = group_by_shift(score_posts_task(scenario, str(store), posts, params))
    return [r.to_json() for r in decide_shifts(scenario, by_shift, params, levels_of=true_levels)]


@pytest.fixture(scope="module")
def run_shifts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return shifts_of_run(tmp_path_factory.mktemp("store"))


def test_the_decisions_and_figures_are_those_checked_in(run_shifts) -> None:
    shifts = run_shifts
    expected = json.loads(EXPECTED.read_text())
    assert digest(shifts) == expected["digest"]
    largest, bad = figure_differences(expected["figures"], figures(shifts))
    assert not bad, f"figures beyond the tolerance (largest gap {largest:.3g}): {bad[:5]}"


def test_the_digest_sees_a_changed_decision(run_shifts) -> None:
    shifts = json.loads(json.dumps(run_shifts))
    before = digest(shifts)
    shifts[0]["workers"][0]["training"] = not shifts[0]["workers"][0]["training"]
    assert digest(shifts) != before


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    with tempfile.TemporaryDirectory() as folder:
        run = shifts_of_run(Path(folder))
    EXPECTED.write_text(json.dumps({"digest": digest(run), "figures": figures(run)}, indent=1))
    print(f"wrote {EXPECTED}")
