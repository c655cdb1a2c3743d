"""Shared fixtures of the simulator tests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim import Scenario, ShiftOutcome, load_scenario

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "experiments" / "scenarios" / "demo.yaml"


def scenario_dict(**overrides: Any) -> dict[str, Any]:
    """A small valid scenario as a dict: 4 posts, 1-hour shifts with a break."""
    base: dict[str, Any] = {
        "name": "small",
        "seed": 11,
        "line": {"posts": 4},
        "shifts": {"per_day": 2, "length_s": 3600, "rate_hz": 1.0, "breaks": [[1800, 2100]]},
        "days": {"history": 3, "evaluate": 2},
        "workers": {
            "per_post": 1,
            "cast": [
                {"post": 2, "shift": "day", "profile": "wanderer"},
                {"post": 3, "shift": "night", "profile": "novice", "from_day": 4},
            ],
        },
        "equipment": {
            "fault_rate": 0.2,
            "faults": [{"post": 4, "day": 4, "shift": "day", "kind": "guard_missing"}],
        },
        "environment": {"excursions": [{"post": 1, "day": 5, "shift": "day", "temperature_c": 45}]},
    }
    base.update(overrides)
    return base


@pytest.fixture
def small() -> Scenario:
    """The small scenario."""
    return load_scenario(scenario_dict())


@pytest.fixture
def demo() -> Scenario:
    """The shipped demo scenario."""
    return load_scenario(DEMO)


def outcome_hash(outcomes: list[ShiftOutcome]) -> str:
    """Hash of every array and ground-truth value of shift outcomes."""
    h = hashlib.sha256()
    for o in outcomes:
        h.update(f"{o.day}{o.shift}".encode())
        for w in o.workers:
            for a in (w.record.positions, w.record.speeds, w.true_positions):
                h.update(np.ascontiguousarray(a).tobytes())
            h.update(repr((w.record.worker, w.profile, w.offpost_rate, w.skill)).encode())
        for p in o.posts:
            h.update(repr((p.post, p.faults, p.displacement_px, sorted(p.missing))).encode())
            h.update(p.environment.tobytes() + bytes([p.true_level]))
    return h.hexdigest()
