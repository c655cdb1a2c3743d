"""What "results unchanged" means for a run: its decisions, identical, and its figures, within
a stated tolerance.

The decisions are what a safety manager acts on: per evaluated shift, the hazard posts and
their sets, every worker's flags and whether it was checked, the root causes and the posts
given to equipment. The figures are D, Z and Y. A speed-up may change the last bits of a
figure (the order of a sum, a float32 pass); it may not change a decision.

Used by ``tests/harness/evaluation/test_results_unchanged.py`` (one small scenario held to a
checked-in digest) and by ``experiments/benchmarks/compare_results.py`` (every repo scenario's
``results.json`` before and after a change).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

FIGURE_TOLERANCE = 1e-6
"""Largest absolute difference allowed in D, Z and Y (fractions and speed ratios near 1)."""


def decisions(shifts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The decisions of ``results.json``'s ``shifts`` (no figures, no truth)."""
    return [
        {
            "day": s["day"],
            "shift": s["shift"],
            "hazards": [[p["post"], list(p["set"])] for p in s["posts"] if p["hazard"]],
            "workers": [
                [w["worker"], w["post"], w["management"], w["training"], w["checked"]]
                for w in s["workers"]
            ],
            "root_causes": [
                [c["hazard_post"], c["post"], c["worker"], list(c["reasons"])]
                for c in s["root_causes"]
            ],
            "equipment_causes": list(s["equipment_causes"]),
        }
        for s in shifts
    ]


def digest(shifts: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 of the decisions, canonical JSON."""
    text = json.dumps(decisions(shifts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def figures(shifts: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """D of every post and Z, Y of every worker, keyed ``day/shift/post`` or ``…/worker``."""
    out: dict[str, float | None] = {}
    for s in shifts:
        where = f"{s['day']}/{s['shift']}"
        for p in s["posts"]:
            out[f"{where}/post {p['post']}/D"] = p["D"]
        for w in s["workers"]:
            out[f"{where}/{w['worker']}/Z"] = w["Z"]
            out[f"{where}/{w['worker']}/Y"] = w["Y"]
    return out


def figure_differences(
    before: Mapping[str, float | None], after: Mapping[str, float | None]
) -> tuple[float, list[str]]:
    """The largest absolute difference, and the figures missing, undefined on one side only or
    further apart than :data:`FIGURE_TOLERANCE`."""
    largest, bad = 0.0, []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, math.inf), after.get(key, math.inf)
        if a is None or b is None:
            if a is not b:
                bad.append(f"{key}: {a} vs {b}")
            continue
        gap = abs(a - b)
        largest = max(largest, gap)
        if not gap <= FIGURE_TOLERANCE:
            bad.append(f"{key}: {a!r} vs {b!r}")
    return largest, bad
