"""A tuning study's session: open (or resume) the study, run its trials on Ray, conclude.

Every trial reaches MLflow right after its batch is told — as metrics of the study's run at
step = the trial's number (one batched call per batch) — so an interrupted session loses
none; a resumed session logs whatever an earlier one could not.
``n_trials`` means that many COMPLETE trials (failed placeholders of recovered trials don't
count). The choice after the study (best trial, held-out comparison, recommendation) is
:mod:`harness.tuning._choice`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import core
from harness.adapters import optuna_storage, optuna_studies
from harness.adapters.mlflow_tracking import log_trials, logged_trials, study_runs
from harness.adapters.ray_cluster import RaySession
from harness.evaluation.graders import levels_source
from harness.runtime.errors import HarnessError
from harness.tuning._choice import (
    Study,
    choose_best,
    compare,
    cross_validate,
    decide_held_out,
    enqueue_start,
    held_out_summary,
    mark_recommended,
    recommend,
    rho_grid,
    score_grid,
    start_warning,
)
from harness.tuning._config import TuneConfig
from harness.tuning._features import build_features, results_of, score_key
from harness.tuning._holdout import HeldOut, simulated_days
from harness.tuning._rule import Decision, Paired, day_counts
from harness.tuning._space import SearchSpace
from harness.tuning._sweep import SweepPlan, plan_sweep

LOG = logging.getLogger("harness.tune")


def check_not_lost(store: optuna_storage.StudyStore, name: str) -> None:
    """A study MLflow logged trials of must be in the storage: else it was lost, not new."""
    if name in optuna_storage.study_names(store):
        return
    for run in study_runs(name):
        if run["trials"] > 0:
            raise HarnessError(
                f"MLflow run {run['run_id']} logged {run['trials']} trials of study {name!r}, "
                f"but {store.description} holds no such study (emptied, deleted, or another "
                "storage?): restore it, pass the --storage it used, or choose a new --study"
            )


@dataclass
class OpenStudy:
    """The study a session holds (under :func:`harness.adapters.optuna_storage.exclusive`):
    created or resumed, and once :meth:`log_to` names its MLflow run, every finished trial
    logged there once."""

    study: optuna_studies.Study
    resumed: bool
    """An existing study was resumed."""
    recovered: int
    """Trials a dead driver left RUNNING, failed and enqueued again."""
    attrs: dict[str, Any]
    """What the study was made with (checked on resume; its run's params)."""
    searched: SearchSpace
    """What the sampler asks (the space less the swept thresholds)."""
    plan: SweepPlan | None
    """The thresholds swept per trial (None: none)."""
    no_sweep: str
    """Why nothing is swept ("" when something is)."""
    names: list[str]
    """The objectives' names."""
    store: optuna_storage.StudyStore
    earlier_run: str | None
    """The MLflow run an earlier session logged the study on (None: none)."""
    run_id: str = ""
    """The study's MLflow run, once :meth:`log_to` names it."""
    logged: set[int] = field(default_factory=set)
    """Numbers of the trials logged on the run."""

    def log_to(self, run_id: str) -> None:
        """Make ``run_id`` the study's run and log on it the finished trials it lacks."""
        self.run_id = run_id
        optuna_studies.set_study_attr(self.study, "mlflow_run_id", run_id)
        self.logged = logged_trials(run_id)
        self.log_batch(optuna_studies.trials(self.study, *optuna_studies.FINISHED))

    def log_batch(self, trials: list[optuna_studies.TrialRow]) -> None:
        """Record the journal and log the trials not yet logged (marks of recommendations
        aside)."""
        self.store.record()
        marks = optuna_studies.MARK
        fresh = [t for t in trials if t.number not in self.logged and marks not in t.attrs]
        log_trials([_logged(t, self.names) for t in fresh], run_id=self.run_id)
        self.logged.update(t.number for t in fresh)


def open_study(config: TuneConfig) -> OpenStudy:
    """Create or resume ``config``'s study (refused if made with other settings), enqueue the
    start as trial 0 of a new one, recover the trials a dead driver left RUNNING."""
    scenario = config.scenario
    names = [o.name for o in config.objectives]
    plan, no_sweep = plan_sweep(config.sweep, names, dict(config.space.ranges), config.start)
    searched = config.space.without(plan.names if plan else ())
    attrs = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "graders": config.graders.requested,
        "objectives": names,
        "tuning_days": list(config.tuning_days),
        "holdout_days": list(config.holdout_days),
        "start": config.start.to_dict(),
        "swept": list(plan.names) if plan else [],
    }
    study, resumed = optuna_studies.create_study(
        name=config.study_name,
        store=config.store,
        directions=[o.direction for o in config.objectives],
        seed=config.seed,
        metric_names=names,
        batch_size=config.batch_size,
    )
    _check_attrs(study, resumed, attrs)
    if not optuna_studies.count(study):
        enqueue_start(study, searched, config.start)
    recovered = optuna_studies.recover_stale(study)
    config.store.record()
    return OpenStudy(
        study=study, resumed=resumed, recovered=recovered, attrs=attrs, searched=searched,
        plan=plan, no_sweep=no_sweep, names=names, store=config.store,
        earlier_run=optuna_studies.study_attrs(study).get("mlflow_run_id"),
    )  # fmt: skip


def _check_attrs(study: optuna_studies.Study, resumed: bool, attrs: dict[str, Any]) -> None:
    if not resumed:
        optuna_studies.set_study_attr(study, "config", attrs)
        return
    stored = optuna_studies.study_attrs(study).get("config")
    if stored != attrs:
        raise HarnessError(
            f"study {optuna_studies.name_of(study)!r} was made with {stored}, not {attrs}; resume "
            "it with the same scenario, objectives and hold-out days, or pick a new --study name"
        )


def _logged(trial: optuna_studies.TrialRow, names: list[str]) -> tuple[int, dict, dict, bool]:
    values = {n: v for n, v in zip(names, trial.values, strict=False) if math.isfinite(v)}
    params = {**trial.params, **trial.attrs.get("swept", {})}
    return trial.number, values, params, trial.state == optuna_studies.COMPLETE


@dataclass(frozen=True)
class Candidate:
    """The tuned candidate of a session's trials and the evidence on it against the start."""

    params: core.ModelParams
    """The best trial nearest the start, on the tuning days."""
    trial: int
    """Its trial number."""
    front: list[optuna_studies.TrialRow]
    """The Pareto front's trials."""
    stats: optuna_studies.OptimizeStats
    """Where the session's trial time went."""
    rescoring_s: float
    """Seconds of rescoring the space's grid before the trials."""
    score_sets: int
    """Score sets in the cache."""
    start_warning: str | None
    """Why the start may be a poor one (it flags nobody), if it may."""
    comparison: dict[str, Any]
    """Tuned vs start on the tuning and held-out days (:func:`harness.tuning._choice.compare`)."""
    held: HeldOut
    """The held-out days, the added ones included."""
    decision: Decision
    """The rule's decision."""
    deciding: Paired
    """The per-day counts it decided on."""
    evidence: str
    """What those days are, in words."""
    cv: dict[str, Any] | None
    """The cross-validation's summary (None: none)."""


def run_study(config: TuneConfig, study: OpenStudy, *, session: RaySession) -> Candidate:
    """Build the cached features, run the trials to ``config.n_trials`` complete, choose the
    best, and weigh it against the start on held-out days (more simulated while the rule is
    undecided) or by cross-validation."""
    scenario, c = config.scenario, config.compute
    if config.records is not None:
        levels_of, _ = config.records.levels_source(config.graders.requested)
    else:
        levels_of, _ = levels_source(
            config.graders, scenario, config.cache_dir,
            max_in_flight=session.max_in_flight, progress=c.progress,
        )  # fmt: skip
    features, cache = build_features(
        scenario, cache_dir=config.cache_dir, max_in_flight=session.max_in_flight,
        progress=c.progress, levels_of=levels_of, records=config.records,
    )  # fmt: skip
    cache = cache.with_rho_grid(rho_grid(config.space))
    warning = start_warning(
        results_of(features, cache, config.start, config.tuning_days), config.start
    )
    if warning:
        LOG.warning("%s", warning)
    prefill_started = time.perf_counter()
    cache.get(score_key(p) for p in score_grid(config.space))
    prefill_s = time.perf_counter() - prefill_started
    study_days = Study(features, cache, config.tuning_days)
    stats = optuna_studies.optimize(
        study.study,
        distributions=study.searched.distributions(),
        evaluate_batch=study_days.evaluator(
            config.objectives, study.searched, study.plan, session.workers
        ),
        n_complete=config.n_trials,
        batch_size=config.batch_size,
        on_batch=study.log_batch,
        progress=c.progress,
        store=config.store,
    )
    best, front, best_number = choose_best(
        study.study, study.searched, config.objectives, study_days.features, study_days.rows,
        cache,
    )  # fmt: skip
    make = None
    if config.max_holdout_days is not None:
        simulate = simulated_days(
            scenario, cache_dir=config.cache_dir, levels_of=levels_of,
            max_in_flight=session.max_in_flight, progress=c.progress,
        )  # fmt: skip

        def make(days: tuple[int, ...]) -> Any:
            LOG.info("simulating held-out days %d..%d", days[0], days[-1])
            made = simulate(days)
            config.store.record()  # the study is still this driver's
            return made

    held = HeldOut([(features, cache, config.holdout_days)], make=make)
    decision = decide_held_out(config, held, best)
    comparison = compare(config, features, cache, best, held)
    cv = None
    if config.cv:
        cv, decision, deciding = cross_validate(
            config, features, cache, session.workers, c.progress
        )
        evidence = f"{cv['k']}-fold cross-validation's left-out days"
    else:
        figure = config.objectives[0].figure
        deciding = day_counts(held.results(best), held.results(config.start), figure)
        evidence = "held-out days"
    return Candidate(
        params=best, trial=best_number, front=front, stats=stats, rescoring_s=prefill_s,
        score_sets=len(cache), start_warning=warning, comparison=comparison, held=held,
        decision=decision, deciding=deciding, evidence=evidence, cv=cv,
    )  # fmt: skip


@dataclass(frozen=True)
class TuneResult:
    """A session's outcome: ``tune.json``'s summary and what the other outputs are made of."""

    summary: dict[str, Any]
    """``tune.json``."""
    study: optuna_studies.Study
    """The study, the recommendation's mark included."""
    recommended: core.ModelParams
    """The tuned params if the rule recommends them, else the start."""
    candidate: core.ModelParams
    """The tuned params."""
    front: list[optuna_studies.TrialRow]
    """The Pareto front's trials."""

    def metrics(self) -> dict[str, Any]:
        """The study run's own metrics: tuned vs start per split, the paired difference, the
        cross-validation's spread."""
        summary = self.summary
        metrics: dict[str, Any] = {
            "trials_per_s": summary["trials_per_s"],
            "optuna_fraction": summary["optuna_fraction"],
            "trials_total": optuna_studies.count(self.study),
            "recommended_tuned": float(summary["recommendation"] == "tuned"),
            "recommendation_p": summary["recommendation_gain"]["p"],
            "heldout_days": len(summary["holdout_days"]),
            "heldout_days_added": summary["holdout_days_added"],
        }
        for rec in summary["comparison"]:
            key = f"{rec['days'].replace('-', '')}.{rec['params']}"
            metrics[key] = {k: v for k, v in rec.items() if k not in ("params", "days")}
        metrics["heldout_difference"] = {
            name.replace(".", "_"): {
                "value": d["difference"],
                **dict(zip(("low", "high"), d["ci95"] or (), strict=False)),
            }
            for name, d in summary["held_out_difference"].items()
        }
        if summary["cv"]:
            metrics["cv"] = {k: v for k, v in summary["cv"].items() if isinstance(v, float)}
        return metrics


def conclude(config: TuneConfig, study: OpenStudy, candidate: Candidate) -> TuneResult:
    """The recommendation (the candidate, or the start where its gain is not shown), marked
    in the study, and the session's summary."""
    best = candidate.params
    recommendation = recommend(config, candidate.decision, candidate.deciding, candidate.evidence)
    holdout = held_out_summary(candidate.decision, candidate.held, candidate.deciding, config)
    chosen = best if recommendation["recommendation"] == "tuned" else config.start
    label = "tuned" if chosen is best else "start"
    with config.store.batch():
        marked, note = mark_recommended(
            study.study, space=study.searched, plan=study.plan, params=chosen,
            values=candidate.comparison["tuning"][label],
            repeats=candidate.trial if chosen is best else "start",
            reason=recommendation["recommendation_reason"],
        )  # fmt: skip
    config.store.record()
    complete = optuna_studies.complete(study.study)
    plan, stats, comparison = study.plan, candidate.stats, candidate.comparison
    summary = {
        "study": config.study_name,
        "storage": config.store.description,
        "resumed": study.resumed,
        "recovered_trials": study.recovered,
        "trials_total": optuna_studies.count(study.study),
        "trials_complete": len(complete),
        "trials_session": stats.trials,
        "trials_per_s": stats.trials_per_s,
        "optuna_fraction": stats.optuna_fraction,
        "rescoring_s": candidate.rescoring_s,
        "score_sets": candidate.score_sets,
        "sweep": config.sweep if plan else "none",
        "swept": list(plan.names) if plan else [],
        "sampled": list(study.searched.ranges),
        "not_swept_because": study.no_sweep or None,
        "start": config.start.to_dict(),
        "start_source": str(config.start_path) if config.start_path else "MODEL.md",
        "start_warning": candidate.start_warning,
        **recommendation,
        "best_params": chosen.to_dict(),
        "candidate_params": best.to_dict(),
        "candidate_trial": candidate.trial,
        "recommended_trial": marked,
        "best_trial_note": note,
        "holdout_days": list(candidate.held.days),
        **holdout,
        "pareto_front": [
            {"number": t.number, **dict(zip(study.names, t.values, strict=True))}
            for t in candidate.front
        ],
        "comparison": comparison["table"],
        "held_out_difference": comparison["paired"],
        "too_small_to_tell": comparison["too_small_to_tell"],
        "cv": candidate.cv,
        "mlflow_run_id": study.run_id,
    }
    return TuneResult(
        summary=summary, study=study.study, recommended=chosen, candidate=best,
        front=candidate.front,
    )  # fmt: skip
