"""From a study to a recommendation that never leaves the user worse off: the start as trial 0,
the best trial nearest the start, tuned vs start on the tuning and held-out days with
intervals, optional cross-validation, and the tuned parameters recommended only when the
rule (:mod:`harness.tuning._rule`) shows their gain, on more held-out days where needed
(:mod:`harness.tuning._holdout`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
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
from harness.evaluation.results import ShiftResult
from harness.runtime.errors import HarnessError
from harness.tuning._config import TuneConfig
from harness.tuning._features import (
    Features,
    ScoreCache,
    pick,
    results_of,
    score_key,
    trial_metrics,
)
from harness.tuning._holdout import HeldOut
from harness.tuning._objectives import (
    DEFAULT_OBJECTIVE,
    Objective,
    get_objective,
    objective_values,
)
from harness.tuning._rule import Decision, Paired, day_counts, days_needed, decide, gain_interval
from harness.tuning._space import SearchSpace
from harness.tuning._sweep import SWEEPABLE, SweepPlan, plan_sweep
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
    """Trial 0 of a new study: the start's values of the sampled parameters (a start off a
    range's grid is still the start)."""
    values = start.to_dict()
    optuna_studies.enqueue(
        study, {name: values[name] for name in space.ranges}, attrs={"start": True}
    )


def trial_params(space: SearchSpace, trial: optuna_studies.TrialRow) -> core.ModelParams:
    """A trial's model parameters: the sampled ones and the thresholds its sweep chose (its
    params since they are stored as such; a user attribute before)."""
    swept = {n: v for n, v in trial.params.items() if n in SWEEPABLE and n not in space.ranges}
    return replace(space.params(trial.params), **{**trial.attrs.get("swept", {}), **swept})


def choose_best(
    study: optuna_studies.Study,
    space: SearchSpace,
    objectives: tuple[Objective, ...],
    features: Features,
    rows: np.ndarray,
    cache: ScoreCache,
) -> tuple[core.ModelParams, list[optuna_studies.TrialRow], int]:
    """The best trial's parameters, the Pareto front (empty for one objective) and the best
    trial's number (marks of earlier recommendations left out: they repeat trials).

    With one objective, of the trials that share the best value the one nearest the start
    is chosen (on few tuning shifts many settings tie, and the extreme ones do not carry over
    to new days); trial 0 is the start itself, so the best is never below it. With several
    objectives the Pareto trial with the best root-cause F1 on the tuning days (``features``,
    at ``rows`` of the cache) is chosen.
    """
    trials = optuna_studies.complete(study)
    if not trials:
        raise HarnessError(
            f"no trial of study {optuna_studies.name_of(study)!r} completed; see the fail_reason "
            "of its trials (trials.parquet)"
        )
    if len(objectives) == 1:
        best = max(t.values[0] for t in trials)
        tied = [t for t in trials if abs(t.values[0] - best) <= 1e-12]
        nearest = min(tied, key=lambda t: (space.distance_to_base(t.params), t.number))
        return trial_params(space, nearest), [], nearest.number
    front = optuna_studies.pareto_front(study)
    candidates = [trial_params(space, t) for t in front]
    found = cache.get(score_key(p) for p in candidates)
    f1 = get_objective(DEFAULT_OBJECTIVE).value
    scores = [f1(trial_metrics(features, p, pick(found[score_key(p)], rows))) for p in candidates]
    chosen = int(np.argmax(scores))
    return candidates[chosen], front, front[chosen].number


def start_warning(records: Sequence[ShiftResult], start: core.ModelParams) -> str | None:
    """One line when the start flags nobody, or everybody, in its shift ``records`` of the
    tuning days (None otherwise): such a start cannot tell culprits from the rest."""
    workers = [w for r in records for w in r.workers]
    flagged = sum(w.management or w.training for w in workers)
    if flagged and flagged < len(workers):
        return None
    who = "nobody" if not flagged else "everybody"
    return (
        f"the start (τ_Z {start.tau_Z:g}, τ_Y {start.tau_Y:g}) flags {who} on the tuning days "
        f"({flagged} of {len(workers)} worker-shifts have Z > τ_Z or Y < τ_Y): it cannot tell "
        "culprits from the rest, so the study's gain over it may be large and uninformative"
    )


def compare(
    config: TuneConfig,
    features: Features,
    cache: ScoreCache,
    best: core.ModelParams,
    held: HeldOut,
) -> dict[str, Any]:
    """Tuned vs the start on the tuning and held-out days (``held``'s, the added ones
    included), each figure with its 95 % two-way interval; the two-way paired difference on
    the held-out days; whether they are too few to tell; each set's objective values on the
    tuning days."""
    seed = config.scenario.seed
    figure = config.objectives[0].figure
    table, records, too_small, tuning = [], {}, [], {}
    for label, params in (("start", config.start), ("tuned", best)):
        for split in ("tuning", "held-out"):
            records[label, split] = (
                results_of(features, cache, params, config.tuning_days)
                if split == "tuning"
                else held.results(params)
            )
            found = run_metrics(records[label, split], tau_D=params.tau_D, seed=seed)
            row: dict[str, Any] = {"params": label, "days": split}
            for f in CATALOGUE:
                group, key = f.path.split(".")
                row[f.name] = float(found[group][key])
                row[f"{f.name}_ci95"] = interval(found, f.path)
            table.append(row)
            if split == "tuning":
                tuning[label] = objective_values(config.objectives, found)
            if (label, split) == ("tuned", "held-out"):
                too_small = too_small_to_tell(found, figure=figure)
    paired = paired_difference(
        records["tuned", "held-out"], records["start", "held-out"], seed=seed
    )
    return {"table": table, "paired": paired, "too_small_to_tell": too_small, "tuning": tuning}


def decide_held_out(config: TuneConfig, held: HeldOut, best: core.ModelParams) -> Decision:
    """The rule (:mod:`harness.tuning._rule`) on the held-out days, adding days while it is
    undecided where ``held`` can make them (up to ``config.max_holdout_days``)."""
    figure = config.objectives[0].figure

    def paired() -> Paired:
        return day_counts(held.results(best), held.results(config.start), figure)

    def more(total: int) -> Paired:
        held.extend(total)
        return paired()

    return decide(
        paired(), min_gain=config.min_gain, seed=config.scenario.seed,
        more=more if held.make is not None else None, most_days=config.max_holdout_days,
        same=best == config.start,
    )  # fmt: skip


def recommend(
    config: TuneConfig, decision: Decision, paired: Paired, evidence: str
) -> dict[str, Any]:
    """The rule's verdict as ``tune.json`` gives it: the recommendation, why, and the gain
    on the deciding days (``paired``: their per-day counts) with its intervals."""
    objective = config.objectives[0]
    last = decision.last
    ci95, _ = gain_interval(paired, level=0.025, seed=config.scenario.seed)
    if decision.verdict == "tuned":
        reason = f"tuned − start {objective.name} on the {evidence}: {last.reason}"
    else:
        reason = (
            f"tuned − start {objective.name} on the {evidence}: {decision.stop_reason}: the "
            "gain is not shown, so the start stays"
        )
    return {
        "recommendation": decision.verdict,
        "recommendation_reason": reason,
        "recommendation_gain": {
            "difference": last.gain,
            "ci95": ci95,
            "on": evidence,
            "days": last.days,
            "p": last.p,
            "level": last.level,
            "bounds": last.ci,
            "test": last.test,
            "defined_replicates": last.defined,
        },
        "min_gain": config.min_gain,
    }


def held_out_summary(decision: Decision, held: HeldOut, paired: Paired, config: TuneConfig
                     ) -> dict[str, Any]:  # fmt: skip
    """How many held-out days were added, why the looks stopped, and (undecided) about how
    many more days a decision would need (``holdout_more_days_needed``; None: decided, or not
    to be told from the days seen)."""
    more_needed = None
    reason = decision.stop_reason
    if config.cv:
        reason = (
            "--cv: the cross-validation decides, over every evaluated day left out once; no "
            f"days added ({reason})"
        )
    if decision.verdict == "start" and decision.last.verdict == "more":
        if config.records is not None:
            where, unit = "a records folder's held-out days are what was recorded", "labelled days"
        elif config.cv:
            where, unit = "a scenario with more evaluated days has more", "evaluated days"
        elif config.max_holdout_days is None:
            where, unit = "--holdout-days N keeps those (auto simulates more)", "held-out days"
        else:
            where, unit = "a larger --max-holdout-days simulates more", "held-out days"
        needed = days_needed(paired, min_gain=config.min_gain)
        if not math.isfinite(paired.gain):
            more = (
                "the gain is undefined on them (no true culprit, and one set names nobody), so "
                f"how many more {unit} would decide it cannot be told from them: days with "
                "culprits are needed"
            )
        elif needed is None:
            more = (
                "more days are not expected to show a gain above --min-gain (the gain seen is not)"
            )
        else:
            more_needed = max(needed - paired.days, 1)
            more = (
                f"about {more_needed} more {unit} would likely decide it (80 % power, were the "
                "gain and its spread to stay as seen)"
            )
        reason = f"{reason}; {where}: {more}"
    return {
        "holdout_days_added": len(held.added),
        "holdout_stop_reason": reason,
        "holdout_looks": [k.to_dict() for k in decision.looks],
        "holdout_more_days_needed": more_needed,
    }


def mark_recommended(
    study: optuna_studies.Study,
    *,
    space: SearchSpace,
    plan: SweepPlan | None,
    params: core.ModelParams,
    values: tuple[float, ...],
    repeats: int | str,
    reason: str,
) -> tuple[int, str | None]:
    """Mark the recommendation in the study: a trial that repeats ``params`` (``space``'s
    sampled ones and ``plan``'s swept ones, as its params) with ``values`` on the tuning days,
    user attributes ``recommended`` and ``repeats`` (the trial it repeats, or ``"start"``).

    Returns its number, and one line saying why Optuna's best trial is another, if it is."""
    given = params.to_dict()
    shown = {n: (given[n], r.distribution()) for n, r in space.ranges.items()}
    if plan is not None:
        shown.update({n: (given[n], plan.distribution(n)) for n in plan.names})
    number = optuna_studies.mark(
        study, params=shown, values=values, attrs={"repeats": repeats, "reason": reason}
    )
    if len(values) > 1:
        return number, (
            f"several objectives: Optuna's best_trials are the Pareto front; trial {number} "
            "repeats the recommendation (of the front, the best root-cause F1 on the tuning "
            "days, or the start)"
        )
    best = optuna_studies.best_trial(study)
    if best.number == number or trial_params(space, best) == params:
        return number, None
    if repeats == "start":
        return number, (
            f"study.best_trial is trial {best.number}, the best on the tuning days "
            f"({best.values[0]:.3f}); its gain over the start on unseen days was not shown, so "
            f"the start (trial {number}) is recommended"
        )
    return number, (
        f"study.best_trial is trial {best.number}; trial {repeats} ties it on the tuning days "
        f"({best.values[0]:.3f}) and lies nearer the start, and of tied trials the tool takes the "
        f"nearest (trial {number} repeats it)"
    )


def day_blocks(days: tuple[int, ...], k: int) -> list[tuple[int, ...]]:
    """``days`` cut into ``k`` contiguous blocks of nearly equal size (earliest first)."""
    cuts = np.linspace(0, len(days), k + 1).round().astype(int)
    return [tuple(days[a:b]) for a, b in itertools.pairwise(cuts)]


def cross_validate(
    config: TuneConfig, features: Features, cache: ScoreCache, workers: int, progress: bool
) -> tuple[dict[str, Any], Decision, Paired]:
    """K-fold cross-validation over blocks of the evaluated days: a study (started at the
    start, sweeping as the main one) on K−1 blocks; its best parameters and the start scored
    on the left-out block (paired), and pooled over every block (each day left out once).

    Returns the summary, the rule's decision on the pooled left-out days (one look: they are
    every evaluated day) and their per-day counts."""
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
        if not optuna_studies.count(study):
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
        best, _, _ = choose_best(
            study, searched, config.objectives, fold_days.features, fold_days.rows, cache
        )
        tuned = results_of(features, cache, best, held_out)
        start = results_of(features, cache, config.start, held_out)
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
    counts = day_counts(tuned_all, start_all, objective.figure)
    return out, decide(counts, min_gain=config.min_gain, seed=config.scenario.seed), counts


def ci_text(value: Any) -> str:
    return f"[{value[0]:.3f}, {value[1]:.3f}]" if value else "[n/a]"
