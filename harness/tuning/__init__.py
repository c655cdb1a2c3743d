"""Threshold tuning of the tracking model: an Optuna study over cached features on Ray.

See :mod:`harness.tuning._features` for what is cached and what a trial recomputes, and
:mod:`harness.tuning._study` for the ask/tell loop, storage and failure handling.
"""

from __future__ import annotations

from harness.tuning._cli import register
from harness.tuning._features import Features, ProficiencyCache, build_features, evaluate
from harness.tuning._objectives import OBJECTIVES, Objective, get_objective
from harness.tuning._space import RANGES, SearchSpace, make_space
from harness.tuning._study import RayEvaluator, make_storage, open_study, optimize
from harness.tuning._tune import TuneConfig, make_tune_config, tune

__all__ = [
    "OBJECTIVES",
    "RANGES",
    "Features",
    "Objective",
    "ProficiencyCache",
    "RayEvaluator",
    "SearchSpace",
    "TuneConfig",
    "build_features",
    "evaluate",
    "get_objective",
    "make_space",
    "make_storage",
    "make_tune_config",
    "open_study",
    "optimize",
    "register",
    "tune",
]
