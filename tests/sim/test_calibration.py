"""MODEL.md's defaults make sense on simulated workers (core's Z and Y on 30 history days)."""

from __future__ import annotations

import numpy as np
import pytest

import core
from sim import Scenario, load_scenario, simulate_workers
from tests.sim.conftest import scenario_dict


@pytest.fixture(scope="module")
def line() -> Scenario:
    return load_scenario(
        scenario_dict(
            line={"posts": 6},
            shifts={"per_day": 1, "length_s": 28800, "breaks": [[14400, 15300]]},
            days={"history": 30, "evaluate": 2},
            workers={
                "cast": [
                    {"post": 3, "profile": "wanderer", "from_day": 31},
                    {"post": 4, "profile": "novice", "from_day": 31},
                ]
            },
            equipment={},
            environment={},
        )
    )


def _scores(line: Scenario, post: int) -> list[tuple[float, float]]:
    history = [
        simulate_workers(line, post=post, day=d, shift="day")[0].record for d in line.history_days
    ]
    positions = np.stack([r.positions for r in history])
    speeds = np.stack([r.speeds for r in history])
    out = []
    for day in line.evaluate_days:
        (w,) = simulate_workers(line, post=post, day=day, shift="day")
        z = core.onpost_state(positions, w.record.positions, post, line.n_posts)
        y = core.proficiency(positions, speeds, w.record.speeds, post, line.n_posts)
        out.append((z, y))
    return out


def test_normal_worker_is_on_post_and_proficient(line: Scenario) -> None:
    for z, y in _scores(line, 2):
        assert z == pytest.approx(0.02, abs=0.015)
        assert y > 0.9


def test_wanderer_is_off_post(line: Scenario) -> None:
    for z, _ in _scores(line, 3):
        assert z > 0.2
        assert z == pytest.approx(0.3, abs=0.05)


def test_novice_is_on_post_but_not_proficient(line: Scenario) -> None:
    for z, y in _scores(line, 4):
        assert z < 0.1
        assert y < 0.8
