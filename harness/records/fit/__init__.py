"""``records fit``: a scenario fitted to a records folder, a labelled twin of the plant.

The records are measured worker-shift by worker-shift (:mod:`._measure`); the workforce is read
from the worker ids (:mod:`._roster`); people's traits, learning, fatigue, variation, the
breaks, the equipment's fault rate and the environment's bands are estimated through the
simulator's own model, calibrated by simulating on the fitted line (:mod:`._calibration`,
:mod:`._fit`); the twin is then simulated by the harness and compared with the records
post by post (:mod:`._compare`, :mod:`._pipeline`).
"""

from __future__ import annotations

from harness.records.fit._compare import ALPHA, TOLERANCES, PostVerdict, Quantity
from harness.records.fit._coverage import check_fittable
from harness.records.fit._estimate import Estimate
from harness.records.fit._fit import Fit, twin_seed
from harness.records.fit._person import PersonFit
from harness.records.fit._pipeline import FitRun, run_fit, validated

__all__ = [
    "ALPHA",
    "TOLERANCES",
    "Estimate",
    "Fit",
    "FitRun",
    "PersonFit",
    "PostVerdict",
    "Quantity",
    "check_fittable",
    "run_fit",
    "twin_seed",
    "validated",
]
