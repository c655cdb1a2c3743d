"""The factory simulator: scenarios, SimPy workers, equipment, sensors, ground truth, history."""

from __future__ import annotations

from sim._errors import CameraError, ScenarioError, SimError, StoreError
from sim.equipment import Fault, PostState, environment_level, simulate_post_states
from sim.layout import CAMERA_SIZE
from sim.line import ShiftOutcome, simulate_shift
from sim.registry import FAULT_KINDS, PROFILES
from sim.routine import WorkerSpec
from sim.scenario import Scenario, load_scenario
from sim.store import HistoryStore, build_history
from sim.workers import SimWorker, WorkerSummary, simulate_workers
from sim.workforce import Roster, Traits, roster

__all__ = [
    "CAMERA_SIZE",
    "FAULT_KINDS",
    "PROFILES",
    "CameraError",
    "Fault",
    "HistoryStore",
    "PostState",
    "Roster",
    "Scenario",
    "ScenarioError",
    "ShiftOutcome",
    "SimError",
    "SimWorker",
    "StoreError",
    "Traits",
    "WorkerSpec",
    "WorkerSummary",
    "build_history",
    "environment_level",
    "load_scenario",
    "roster",
    "simulate_post_states",
    "simulate_shift",
    "simulate_workers",
]
