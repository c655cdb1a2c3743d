"""Threshold tuning of the tracking model: an Optuna study over cached features on Ray.

See :mod:`harness.tuning._study` for a study's session (open or resume, trials, conclusion),
:mod:`harness.tuning._features` for what is cached and what a trial recomputes,
:mod:`harness.tuning._trials` for trial batches on Ray, :mod:`harness.tuning._choice` for the
choice after a study, :mod:`harness.tuning._rule` for the recommendation rule,
:mod:`harness.tuning._holdout` for held-out days (and more of them), and the Optuna adapter
(:mod:`harness.adapters.optuna_storage`, :mod:`harness.adapters.optuna_studies`) for storage,
resume, the ask/tell loop, the mark of the recommended trial and every read of a study (its
trials as rows).
"""

from __future__ import annotations

from harness.tuning._choice import ci_text
from harness.tuning._config import TuneConfig
from harness.tuning._features import Features, ScoreCache, build_features, trial_metrics
from harness.tuning._holdout import AUTO_HOLDOUT, holdout_budget, with_evaluated_days
from harness.tuning._objectives import (
    DEFAULT_OBJECTIVE,
    OBJECTIVES,
    Objective,
    get_objective,
    resolve_objectives,
)
from harness.tuning._rule import check_figure
from harness.tuning._space import RANGES, SearchSpace, fit_window, make_space
from harness.tuning._study import (
    Candidate,
    OpenStudy,
    TuneResult,
    check_not_lost,
    conclude,
    open_study,
    run_study,
)
from harness.tuning._sweep import SWEEPS
from harness.tuning._trials import RayEvaluator

__all__ = [
    "AUTO_HOLDOUT",
    "DEFAULT_OBJECTIVE",
    "OBJECTIVES",
    "RANGES",
    "SWEEPS",
    "Candidate",
    "Features",
    "Objective",
    "OpenStudy",
    "RayEvaluator",
    "ScoreCache",
    "SearchSpace",
    "TuneConfig",
    "TuneResult",
    "build_features",
    "check_figure",
    "check_not_lost",
    "ci_text",
    "conclude",
    "fit_window",
    "get_objective",
    "holdout_budget",
    "make_space",
    "open_study",
    "resolve_objectives",
    "run_study",
    "trial_metrics",
    "with_evaluated_days",
]
