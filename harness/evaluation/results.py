"""The records of a run: one shift's ``results.json`` record from the model's root-cause
table and the truth.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import core
import sim
from harness.evaluation.scoring import WorkerRow


def _roster_facts(spec: sim.WorkerSpec | None) -> dict[str, Any]:
    """What ``results.json`` says of who worked: the roster's facts and the effective traits."""
    if spec is None:
        return {}
    return {
        "skill": spec.skill,
        "offpost_rate": spec.offpost_rate,
        "plateau_skill": spec.plateau_skill,
        "plateau_offpost_rate": spec.plateau_offpost_rate,
        "days_at_post": spec.days_at_post,
        "floater": spec.floater,
        "covering": spec.covering,
    }


def shift_record(
    day: int,
    shift: str,
    table: core.RootCauseTable,
    true_D: np.ndarray,
    states: tuple[sim.PostState, ...],
    rows: list[WorkerRow] | tuple[WorkerRow, ...],
) -> dict[str, Any]:
    """One shift's ``results.json`` record from the model's table and the truth."""
    truth = {r.worker: r for r in rows}
    return {
        "day": day,
        "shift": shift,
        "posts": [
            {
                "post": s.post,
                "level": int(table.levels[s.post - 1]),
                "true_level": int(s.true_level),
                "D": float(table.D[s.post - 1]),
                "true_D": float(true_D[s.post - 1]),
                "hazard": s.post in table.sets,
                "set": table.sets.get(s.post, []),
                "faults": [f.kind for f in s.faults],
                "culprits": list(s.culprits),
                "fault_culprits": [list(f.culprits) for f in s.faults if f.culprits],
                "equipment_cause": bool(s.equipment_cause),
            }
            for s in states
        ],
        "workers": [
            {
                "worker": d.worker,
                "post": d.post,
                "Z": d.Z,
                "Y": None if math.isnan(d.Y) else d.Y,
                "management": d.management,
                "training": d.training,
                "checked": d.checked,
                "profile": truth[d.worker].profile,
                "needs_management": truth[d.worker].needs_management,
                "needs_training": truth[d.worker].needs_training,
                **_roster_facts(truth[d.worker].spec),
            }
            for d in table.workers
        ],
        "root_causes": [
            {
                "hazard_post": c.hazard_post,
                "post": c.post,
                "worker": c.worker,
                "reasons": list(c.reasons),
            }
            for c in table.root_causes
        ],
        "equipment_causes": list(table.equipment_causes),
    }
