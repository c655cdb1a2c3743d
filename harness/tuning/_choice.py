"""From a study to a recommendation that never leaves the user worse off: the start as trial 0,
the best trial nearest the start, tuned vs start on the tuning and held-out days with
intervals, optional cross-validation, and the tuned parameters recommended only when their
gain is shown.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import core
from harness.adapters import optuna_studies
from harness.evaluation.metrics import (
    CATALOGUE,
    interval,
    paired_difference,
    run_metrics,
    too_small_to_tell,
)
from harness.evaluation.results import ShiftRecord
from harness.runtime.errors import HarnessError
from harness.tuning._config import TuneConfig
from harness.tuning._features import (
    Features,
    ScoreCache,
    evaluate,
    pick,
    score_key,
    shift_records,
)
from harness.tuning._objectives import (
    DEFAULT_OBJECTIVE,
    Objective,
    get_objective,
)
from harness.tuning._space import SearchSpace
from harness.tuning._sweep import SweepPlan, plan_sweep
from harness.tuning._trials import RayEvaluator


@dataclass(frozen=True)
class Study:
    """The days a study scores its trials on: their cached features and rows in the cache."""

    all_features: Features
    cache: ScoreCache
    days: tuple[int, ...]

    @property
    def features(self) -> Features:
        """The features of the study's days."""
        return self.all_features.select(self.days)

    @property
    def rows(self) -> np.ndarray:
        """Their rows in the cache's scores."""
        return self.all_features.rows_of(self.days)

    def evaluator(
        self,
        objectives: tuple[Objective, ...],
        space: SearchSpace,
        plan: SweepPlan | None,
        workers: int,
    ) -> RayEvaluator:
        """Scores trial batches on these days on Ray."""
        return RayEvaluator(
            space=space, features=self.features, rows=self.rows, cache=self.cache,
            objectives=objectives, workers=workers, plan=plan,
        )  # fmt: skip


PREFILL_GROUPS = 100
"""Most rescoring passes (points of the grid but ``rho_min``) scored before a study starts."""


def score_grid(space: SearchSpace) -> list[core.ModelParams]:
    """One parameter set per rescoring pass the space can ask for (every grid point of the
    Y-shaping parameters but ``rho_min``, which each pass scores whole), or none when the
    space has a continuous one or more than :data:`PREFILL_GROUPS` points."""
    axes: dict[str, list[Any]] = {}
    for name in ("eps", "proficiency_seconds", "history_pool", "history_window_days"):
        r = space.ranges.get(name)
        if r is None:
            continue
        if r.choices is not None:
            axes[name] = list(r.choices)
        elif r.step is not None:
            count = round((r.high - r.low) / r.step) + 1
            axes[name] = [r.low + k * r.step for k in range(count)]
            axes[name] = [int(v) if r.integer else round(v, 9) for v in axes[name]]
        else:
            return []
    points = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    if len(points) > PREFILL_GROUPS:
        return []
    return [replace(space.base, **point) for point in points]


def rho_grid(space: SearchSpace) -> tuple[float, ...]:
    """Every ``rho_min`` the space can sample (scored together, one pass per other key)."""
    r = space.ranges.get("rho_min")
    if r is None or r.step is None:
        return ()
    count = round((r.high - r.low) / r.step) + 1
    return tuple(round(r.low + k * r.step, 9) for k in range(count))


def enqueue_start(study: optuna_studies.Study, space: SearchSpace, start: core.ModelParams) -> None:
    """Trial 0 of a new study: the start's values of the sampled parameters."""
    values = start.to_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a start off a range's grid is still the start
        study.enqueue_trial(
            {name: values[name] for name in space.ranges}, user_attrs={"start": True}
        )


def trial_params(space: SearchSpace, trial: Any) -> core.ModelParams:
    """A trial's model parameters: the sampled ones and the thresholds its sweep chose."""
    return replace(space.params(trial.params), **trial.user_attrs.get("swept", {}))


def choose_best(
    study: optuna_studies.Study,
    space: SearchSpace,
    objectives: tuple[Objective, ...],
    features: Features,
    rows: np.ndarray,
    cache: ScoreCache,
) -> tuple[core.ModelParams, list[Any]]:
    """The best trial's parameters, and the Pareto front (empty for one objective).

    With one objective, of the trials that share the best value the one nearest the start
    is chosen (on few tuning shifts many settings tie, and the extreme ones do not carry over
    to new days); trial 0 is the start itself, so the best is never below it. With several
    objectives the Pareto trial with the best root-cause F1 on the tuning days (``features``,
    at ``rows`` of the cache) is chosen.
    """
    if not optuna_studies.count(study, optuna_studies.COMPLETE):
        raise HarnessError(
            f"no trial of study {study.study_name!r} completed; see the fail_reason of its "
            "trials (trials.parquet)"
        )
    if len(objectives) == 1:
        best = study.best_value
        tied = [
            t
            for t in study.get_trials(deepcopy=False, states=(optuna_studies.COMPLETE,))
            if abs(t.value - best) <= 1e-12
        ]
        nearest = min(tied, key=lambda t: (space.distance_to_base(t.params), t.number))
        return trial_params(space, nearest), []
    front = study.best_trials
    candidates = [trial_params(space, t) for t in front]
    found = cache.get(score_key(p) for p in candidates)
    f1 = get_objective(DEFAULT_OBJECTIVE).value
    scores = [f1(evaluate(features, p, pick(found[score_key(p)], rows))) for p in candidates]
    return candidates[int(np.argmax(scores))], front


def _records(
    features: Features, cache: ScoreCache, params: core.ModelParams, days: tuple[int, ...]
) -> list[ShiftRecord]:
    scores = cache.get([score_key(params)])[score_key(params)]
    return shift_records(features.select(days), params, pick(scores, features.rows_of(days)))


def compare(
    config: TuneConfig, features: Features, cache: ScoreCache, best: core.ModelParams
) -> dict[str, Any]:
    """Tuned vs the start on the tuning and held-out days, each figure with its 95 % interval;
    the paired difference on the held-out days; whether they are too few to tell."""
    seed = config.scenario.seed
    figure = config.objectives[0].figure
    table, records, too_small = [], {}, []
    for label, params in (("start", config.start), ("tuned", best)):
        for split, days in (("tuning", config.tuning_days), ("held-out", config.holdout_days)):
            records[label, split] = _records(features, cache, params, days)
            found = run_metrics(records[label, split], tau_D=params.tau_D, seed=seed)
            row: dict[str, Any] = {"params": label, "days": split}
            for f in CATALOGUE:
                group, key = f.path.split(".")
                row[f.name] = float(found[group][key])
                row[f"{f.name}_ci95"] = interval(found, f.path)
            table.append(row)
            if (label, split) == ("tuned", "held-out"):
                too_small = too_small_to_tell(found, figure=figure)
    paired = paired_difference(
        records["tuned", "held-out"], records["start", "held-out"], seed=seed
    )
    return {"table": table, "paired": paired, "too_small_to_tell": too_small}


def recommend(
    config: TuneConfig, comparison: dict[str, Any], cv: dict[str, Any] | None
) -> dict[str, Any]:
    """Whether to hand back the tuned params or the start, and why.

    The tuned params are recommended only when the 95 % interval of their paired gain over
    the start on days the study did not see — the cross-validation's left-out blocks with
    ``--cv``, else the held-out days — lies above ``min_gain``.
    """
    objective = config.objectives[0]
    if cv is not None:
        gain, evidence = cv["pooled"], f"{cv['k']}-fold cross-validation's left-out days"
    else:
        gain, evidence = comparison["paired"][objective.figure], "held-out days"
    difference, ci = gain["difference"], gain["ci95"]
    shown = f"{difference:+.3f} {ci_text(ci)}" if math.isfinite(difference) else "undefined"
    if ci is not None and ci[0] > config.min_gain:
        verdict, reason = (
            "tuned",
            (f"tuned − start {objective.name} on the {evidence}: {shown}, above {config.min_gain}"),
        )
    else:
        verdict, reason = (
            "start",
            (
                f"tuned − start {objective.name} on the {evidence}: {shown}, not above "
                f"{config.min_gain}: the gain is not shown, so the start stays"
            ),
        )
    return {
        "recommendation": verdict,
        "recommendation_reason": reason,
        "recommendation_gain": {"difference": difference, "ci95": ci, "on": evidence},
        "min_gain": config.min_gain,
    }


def day_blocks(days: tuple[int, ...], k: int) -> list[tuple[int, ...]]:
    """``days`` cut into ``k`` contiguous blocks of nearly equal size (earliest first)."""
    cuts = np.linspace(0, len(days), k + 1).round().astype(int)
    return [tuple(days[a:b]) for a, b in itertools.pairwise(cuts)]


def cross_validate(
    config: TuneConfig, features: Features, cache: ScoreCache, workers: int, progress: bool
) -> dict[str, Any]:
    """K-fold cross-validation over blocks of the evaluated days: a study (started at the
    start, sweeping as the main one) on K−1 blocks; its best parameters and the start scored
    on the left-out block (paired), and pooled over every block (each day left out once)."""
    k = config.cv
    days = tuple(config.tuning_days + config.holdout_days)
    objective = config.objectives[0]
    names = [o.name for o in config.objectives]
    plan, _ = plan_sweep(config.sweep, names, dict(config.space.ranges), config.start)
    searched = config.space.without(plan.names if plan else ())
    folds, tuned_all, start_all = [], [], []
    for fold, held_out in enumerate(day_blocks(days, k), start=1):
        train = tuple(d for d in days if d not in held_out)
        study, _ = optuna_studies.create_study(
            name=f"{config.study_name}-cv{fold}of{k}", store=config.store,
            directions=[o.direction for o in config.objectives], seed=config.seed + fold,
            metric_names=names, batch_size=config.batch_size,
        )  # fmt: skip
        if not study.trials:
            enqueue_start(study, searched, config.start)
        fold_days = Study(features, cache, train)
        optuna_studies.optimize(
            study,
            distributions=searched.distributions(),
            evaluate_batch=fold_days.evaluator(config.objectives, searched, plan, workers),
            n_complete=config.n_trials,
            batch_size=config.batch_size,
            on_batch=lambda _: config.store.record(),
            progress=progress,
            store=config.store,
        )
        best, _ = choose_best(
            study, searched, config.objectives, fold_days.features, fold_days.rows, cache
        )
        tuned = _records(features, cache, best, held_out)
        start = _records(features, cache, config.start, held_out)
        tuned_all += tuned
        start_all += start
        paired = paired_difference(
            tuned, start, figures=(objective.figure,), seed=config.scenario.seed
        )[objective.figure]
        folds.append(
            {
                "fold": fold,
                "held_out_days": list(held_out),
                "tuned": paired["a"],
                "start": paired["b"],
                "difference": paired["difference"],
                "difference_ci95": paired["ci95"],
                "best_params": best.to_dict(),
            }
        )
    out: dict[str, Any] = {"k": k, "objective": objective.name, "folds": folds}
    for key in ("tuned", "start", "difference"):
        values = np.array([f[key] for f in folds], dtype=float)
        out[f"{key}_mean"] = float(np.nanmean(values))
        out[f"{key}_sd"] = float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0
    pooled = paired_difference(
        tuned_all, start_all, figures=(objective.figure,), seed=config.scenario.seed
    )[objective.figure]
    out["pooled"] = {
        "tuned": pooled["a"], "start": pooled["b"], "difference": pooled["difference"],
        "ci95": pooled["ci95"],
    }  # fmt: skip
    return out


def ci_text(value: Any) -> str:
    return f"[{value[0]:.3f}, {value[1]:.3f}]" if value else "[n/a]"
