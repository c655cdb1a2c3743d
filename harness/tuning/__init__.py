"""Threshold tuning of the tracking model: an Optuna study over cached features on Ray.

See :mod:`harness.tuning._features` for what is cached and what a trial recomputes,
:mod:`harness.tuning._trials` for trial batches on Ray, :mod:`harness.tuning._choice` for the
choice after a study, :mod:`harness.tuning._rule` for the recommendation rule,
:mod:`harness.tuning._holdout` for held-out days (and more of them), and the Optuna adapter
(:mod:`harness.adapters.optuna_storage`, :mod:`harness.adapters.optuna_studies`) for storage,
resume, the ask/tell loop and the mark of the recommended trial.
"""

from __future__ import annotations

from harness.tuning._features import Features, ScoreCache, build_features, evaluate
from harness.tuning._objectives import OBJECTIVES, Objective, get_objective
from harness.tuning._space import RANGES, SearchSpace, make_space
from harness.tuning._trials import RayEvaluator

__all__ = [
    "OBJECTIVES",
    "RANGES",
    "Features",
    "Objective",
    "RayEvaluator",
    "ScoreCache",
    "SearchSpace",
    "build_features",
    "evaluate",
    "get_objective",
    "make_space",
]
