from __future__ import annotations

import numpy as np
import pytest

from sim import Fault, Scenario, environment_level, load_scenario, simulate_shift
from tests.sim.conftest import scenario_dict


def test_every_true_hazard_has_a_cause(small: Scenario) -> None:
    seen_causes = set()
    for day in range(1, 6):
        for shift in small.shift_names:
            outcome = simulate_shift(small, day=day, shift=shift)
            ids = {w.record.worker: w.record.post for w in outcome.workers}
            for p in outcome.posts:
                assert p.true_level == max((f.severity for f in p.faults), default=0)
                if p.true_level > 0:
                    assert p.faults
                for f in p.faults:
                    seen_causes.add(f.cause)
                    if f.cause == "worker":
                        assert f.culprits and all(c in ids for c in f.culprits)
                        assert f.culprit_posts == tuple(ids[c] for c in f.culprits)
                    else:
                        assert not f.culprits and not f.culprit_posts
    assert {"worker", "equipment", "environment"} <= seen_causes


def test_scheduled_fault_and_excursion_appear_with_their_levels(small: Scenario) -> None:
    outcome = simulate_shift(small, day=4, shift="day")
    guard = [f for f in outcome.posts[3].faults if f.kind == "guard_missing"]
    assert any(f.cause == "equipment" and f.severity == 4 for f in guard)
    assert "guard" in outcome.posts[3].missing
    hot = simulate_shift(small, day=5, shift="day").posts[0]
    assert hot.environment[0] == 45.0
    assert hot.true_level == 4 and hot.equipment_cause


def test_wanderer_and_novice_cause_faults_normal_workers_do_not() -> None:
    s = load_scenario(
        scenario_dict(
            line={"posts": 6},
            shifts={"per_day": 1, "length_s": 28800},
            days={"history": 0, "evaluate": 30},
            workers={
                "cast": [{"post": 2, "profile": "wanderer"}, {"post": 5, "profile": "novice"}]
            },
            equipment={},
            environment={},
        )
    )
    culprits: dict[str, set[int]] = {}
    for day in range(1, 31):
        for p in simulate_shift(s, day=day, shift="day").posts:
            for worker in p.culprits:
                culprits.setdefault(worker, set()).add(p.post)
    assert set(culprits) == {"p2-day-1", "p5-day-1"}
    assert 2 in culprits["p2-day-1"] and len(culprits["p2-day-1"]) > 1
    assert culprits["p5-day-1"] <= {5, 6}


@pytest.mark.parametrize(
    ("value", "level"),
    [(24.0, 0), (30.0, 0), (31.0, 1), (34.0, 1), (35.0, 2), (39.0, 3), (45.0, 4), (-9, 4)],
)
def test_environment_level_rule(value: float, level: int) -> None:
    assert environment_level(value, mean=24.0, sd=2.0) == level


def test_fault_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match='"severity"'):
        Fault(kind="displaced", severity=5, cause="equipment")
    with pytest.raises(ValueError, match='"culprits"'):
        Fault(kind="displaced", severity=2, cause="worker")


def test_displacement_follows_displaced_faults(small: Scenario) -> None:
    for day in range(1, 6):
        for p in simulate_shift(small, day=day, shift="day").posts:
            moved = np.hypot(*p.displacement_px) > 0
            assert moved == any(f.kind == "displaced" for f in p.faults)


def test_the_photo_shows_every_fault_severity(small: Scenario) -> None:
    """A facility fault has its kind's severity; a displacement's size grows with severity."""
    from sim.equipment import DISPLACEMENT_PX
    from sim.registry import FAULT_KINDS

    busy = small.model_copy(
        update={"equipment": small.equipment.model_copy(update={"fault_rate": 3.0})}
    )
    seen = set()
    for day in range(1, 6):
        for state in simulate_shift(busy, day=day, shift="day").posts:
            shifts = [f for f in state.faults if f.kind == "displaced"]
            for f in state.faults:
                if f.kind in FAULT_KINDS and FAULT_KINDS.get(f.kind).facility is not None:
                    assert f.severity == FAULT_KINDS.get(f.kind).severity
                    seen.add(f.kind)
            if len(shifts) == 1:
                size = float(np.hypot(*state.displacement_px))
                assert size == pytest.approx(DISPLACEMENT_PX[shifts[0].severity])
    assert len(seen) >= 3


def test_scheduled_severity_must_fit_a_facility_kind() -> None:
    from sim import ScenarioError

    data = scenario_dict(
        equipment={"faults": [{"post": 1, "day": 1, "kind": "sign_missing", "severity": 3}]}
    )
    with pytest.raises(
        ScenarioError, match=r"equipment.faults\[0\].*does not fit kind 'sign_missing'"
    ):
        load_scenario(data)
