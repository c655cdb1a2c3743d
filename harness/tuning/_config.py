"""What a tuning study needs, checked before any work (``tune`` builds it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import core
import sim
from harness.adapters import optuna_storage
from harness.adapters.ray_cluster import Compute
from harness.evaluation.graders import GraderPlan
from harness.records import Records
from harness.runtime.storage import Location
from harness.tuning._objectives import (
    Objective,
)
from harness.tuning._space import SearchSpace


@dataclass(frozen=True)
class TuneConfig:
    """Everything ``tune`` needs, checked before any work starts."""

    scenario: sim.Scenario
    """The validated scenario."""
    out_dir: Path | Location
    """Where best_params.yaml, trials.parquet, tune.json and the plots go."""
    compute: Compute
    """Where the Ray work runs."""
    cache_dir: Location
    """History stores."""
    space: SearchSpace
    """Tuned parameters and their ranges."""
    objectives: tuple[Objective, ...]
    """What the study optimises (several: multi-objective, NSGA-II)."""
    n_trials: int
    """Completed trials the study should hold (a resumed study runs the rest)."""
    study_name: str
    """Optuna study name; an existing one is resumed."""
    store: optuna_storage.StudyStore
    """The opened (and verified) Optuna storage."""
    tuning_days: tuple[int, ...]
    """Evaluated days the study sees."""
    holdout_days: tuple[int, ...]
    """The last evaluated days, never seen by the study."""
    seed: int
    """Sampler seed (default: the scenario's)."""
    batch_size: int
    """Trials asked per batch (default 32 per worker: a TPE fit and a journal write each)."""
    graders: GraderPlan
    """Where the levels come from (as ``run --graders``): tune against what the model sees."""
    cv: int | None = None
    """K of a K-fold cross-validation over blocks of the evaluated days (None: none)."""
    start: core.ModelParams = core.ModelParams()
    """Where the study starts (trial 0) and what the tuned parameters must beat."""
    start_path: Path | None = None
    """The params file the start came from (None: MODEL.md's defaults)."""
    sweep: str = "thresholds"
    """``thresholds``: τ_Z and τ_Y swept exactly per trial where the objective allows;
    ``none``: sampled like the rest."""
    min_gain: float = 0.0
    """The tuned params are recommended only when their held-out (or cross-validated) gain
    over the start is shown to exceed this (:mod:`harness.tuning._rule`)."""
    records: Records | None = None
    """The labelled records folder when SOURCE is one (its line stands in for a scenario)."""
    max_holdout_days: int | None = None
    """The most held-out days in all, simulated after ``holdout_days`` while the rule is
    undecided (``--holdout-days auto`` on a scenario); None: the held-out days are those."""
