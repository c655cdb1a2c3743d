"""``hazard-harness tune``: a study on the tuning days, reported on held-out days, logged.

Every trial reaches MLflow right after its batch is told — as metrics of the study's run at
step = the trial's number (one batched call per batch) — so an interrupted session loses
none; a resumed session logs whatever an earlier one could not.
``--trials N`` means N COMPLETE trials (failed placeholders of recovered trials don't count).
The choice after the study (best trial, held-out comparison, recommendation) is
:mod:`harness.tuning._choice`.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

import core
from harness.adapters import optuna_storage, optuna_studies
from harness.adapters.mlflow_tracking import log_metrics, log_trials, logged_trials, study_runs
from harness.commands import preflight
from harness.commands.context import command_context
from harness.evaluation.graders import AUTO, GraderPlan, levels_source, parse_spec, plan
from harness.outputs import tables
from harness.records import is_records
from harness.records import load as load_records
from harness.runtime import settings, staging
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import dump_params, load_params, load_scenario_file
from harness.runtime.storage import is_uri
from harness.tuning._choice import (
    Study,
    choose_best,
    ci_text,
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
from harness.tuning._features import (
    build_features,
    records_of,
    score_key,
)
from harness.tuning._holdout import HeldOut, simulated_days, with_evaluated_days
from harness.tuning._objectives import (
    DEFAULT_OBJECTIVE,
    Objective,
    resolve_objectives,
)
from harness.tuning._rule import DEFAULT_MAX_HOLDOUT_DAYS, check_figure, day_counts
from harness.tuning._space import fit_window, make_space
from harness.tuning._sweep import SWEEPS, plan_sweep

LOG = logging.getLogger("harness.tune")


BEST_PARAMS = "best_params.yaml"


CANDIDATE_PARAMS = "candidate_params.yaml"


TRIALS = "trials.parquet"


COMPARISON = "comparison.csv"


PARETO = "pareto.parquet"


AUTO_HOLDOUT = "auto"
"""``--holdout-days auto``: a third of the evaluated days, and more simulated while undecided."""


def _positive(name: str, value: int | None, low: int = 1) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
        raise HarnessError(f"--{name} must be an integer >= {low}, got {value!r}")


def make_tune_config(
    scenario_path: str | Path,
    out_dir: str | Path,
    *,
    n_trials: int = 100,
    objectives: tuple[str | Objective, ...] = (DEFAULT_OBJECTIVE,),
    study_name: str | None = None,
    storage: str | None = None,
    holdout_days: int | str = AUTO_HOLDOUT,
    max_holdout_days: int | None = None,
    seed: int | None = None,
    tune: tuple[str, ...] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    batch_size: int | None = None,
    address: str | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    graders: str = AUTO,
    cv: int | None = None,
    params_path: str | Path | None = None,
    sweep: str = "thresholds",
    min_gain: float = 0.0,
) -> TuneConfig:
    """Check every input of a study before any work; raises :class:`HarnessError`.

    ``scenario_path`` is a scenario YAML or a labelled records folder (``docs/records.md``).
    ``holdout_days``: ``"auto"`` (about a third of the evaluated days, and for a scenario more
    simulated while the rule is undecided, up to ``max_holdout_days`` in all) or a fixed count.
    """
    recorded = None
    if is_uri(str(scenario_path)) or is_records(scenario_path):
        recorded = load_records(scenario_path)
        if recorded.labels is None:
            raise HarnessError(
                f"tune needs labels to score trials; records folder {str(scenario_path)!r} "
                "has none (labels/posts.parquet, labels/workers.parquet: docs/records.md)"
            )
        recorded.check_graders(graders)
        scenario = recorded.scenario
    else:
        scenario = load_scenario_file(scenario_path)
        if scenario.fidelity != "signal":
            raise HarnessError(
                f"scenario {scenario.name!r} has fidelity: {scenario.fidelity}, but tune scores "
                "signal-fidelity features (the calibrated model of the pixel path); tune a copy "
                "with fidelity: signal, then check the result with run --fidelity pixel"
            )
        parse_spec(graders, scenario.n_posts)
    resolved = resolve_objectives(objectives)
    check_figure(resolved[0].figure)
    start = load_params(params_path)
    space = make_space(names=tune, overrides=ranges, base=start)
    space = fit_window(space, history_days=scenario.days.history,
                       given="history_window_days" in (ranges or {}))  # fmt: skip
    if sweep not in SWEEPS:
        raise HarnessError(f"--sweep must be one of {list(SWEEPS)}, got {sweep!r}")
    if (
        isinstance(min_gain, bool)
        or not isinstance(min_gain, (int, float))
        or not (0.0 <= min_gain < 1.0)
    ):
        raise HarnessError(f"--min-gain must be a number in [0, 1), got {min_gain!r}")
    if study_name is not None:  # an empty --study is an error, not a new name
        optuna_storage.check_study_name(study_name)
    _positive("trials", n_trials)
    _positive("batch-size", batch_size)
    _positive("seed", seed, low=0)
    days = tuple(scenario.evaluate_days)
    if len(days) < 2:
        raise HarnessError(
            f"tuning needs >= 2 evaluated days (tuning + held-out), the scenario has "
            f"{len(days)}: raise days.evaluate"
        )
    _positive("cv", cv, low=2)
    if cv is not None and cv > len(days):
        raise HarnessError(
            f"--cv must be <= the evaluated days ({len(days)}, days.evaluate), got {cv}"
        )
    k, most = _holdout(holdout_days, max_holdout_days, len(days), recorded is not None, cv)
    cache = settings.cache_dir(cache_dir)
    if storage is None or "://" not in storage:
        journal = Path(storage or optuna_storage.JOURNAL)
        preflight.check_writable(journal, option="--storage", folder=False)
    longest = scenario if most is None else with_evaluated_days(scenario, days[-k] + most - 1)
    out, where = preflight.checked(out_dir, cache=cache, scenario=longest, address=address,
                                   workers=workers, timeout=timeout, progress=progress)  # fmt: skip
    grading = plan(graders, scenario) if recorded is None else GraderPlan("truth", graders)
    store = optuna_storage.open_storage(storage)
    name = study_name or f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    _check_study_not_lost(store, name)
    return TuneConfig(
        scenario=scenario,
        out_dir=out,
        compute=where,
        cache_dir=cache,
        space=space,
        objectives=resolved,
        n_trials=n_trials,
        study_name=name,
        store=store,
        tuning_days=days[:-k],
        holdout_days=days[-k:],
        max_holdout_days=most,
        seed=scenario.seed if seed is None else seed,
        batch_size=batch_size or 32 * (where.workers or 2),
        graders=grading,
        cv=cv,
        start=start,
        start_path=Path(params_path) if params_path else None,
        sweep=sweep,
        min_gain=float(min_gain),
        records=recorded,
    )


def _holdout(
    holdout_days: int | str, most: int | None, evaluated: int, records: bool, cv: int | None
) -> tuple[int, int | None]:
    """The study's own held-out days, and the most held-out days in all (None: no more are
    simulated): ``--holdout-days auto|N`` and ``--max-holdout-days``."""
    auto = holdout_days == AUTO_HOLDOUT
    if not auto and (isinstance(holdout_days, bool) or not isinstance(holdout_days, int)):
        raise HarnessError(f"--holdout-days must be auto or a number of days, got {holdout_days!r}")
    k = max(1, round(evaluated / 3)) if auto else holdout_days
    if not 1 <= k < evaluated:
        raise HarnessError(f"--holdout-days must be in 1..{evaluated - 1}, got {k}")
    if most is not None:
        why = (
            "with --holdout-days N the held-out days are those N" if not auto
            else "a records folder's held-out days are what was recorded" if records
            else "with --cv the cross-validation decides, over the evaluated days" if cv
            else ""
        )  # fmt: skip
        if why:
            raise HarnessError(f"--max-holdout-days applies to simulated held-out days; {why}")
        _positive("max-holdout-days", most)
        if most < k:
            raise HarnessError(
                f"--max-holdout-days must be >= the scenario's own held-out days ({k}), got {most}"
            )
    if not auto or records or cv:
        return k, None
    return k, max(k, DEFAULT_MAX_HOLDOUT_DAYS) if most is None else most


def _check_study_not_lost(store: optuna_storage.StudyStore, name: str) -> None:
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


def tune(config: TuneConfig) -> dict[str, Any]:
    """Run (or resume) the study, write the outputs into the output folder, log to MLflow."""
    scenario, c = config.scenario, config.compute
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
    with command_context(config.out_dir) as ctx:
        ctx.hold(optuna_storage.exclusive(config.store, config.study_name))
        study, resumed = optuna_studies.create_study(
            name=config.study_name,
            store=config.store,
            directions=[o.direction for o in config.objectives],
            seed=config.seed,
            metric_names=names,
            batch_size=config.batch_size,
        )
        _check_attrs(study, resumed, attrs)
        if not study.trials:
            enqueue_start(study, searched, config.start)
        recovered = optuna_studies.recover_stale(study)
        config.store.record()
        run_id = ctx.track(
            experiment=f"hazard-harness/{scenario.name}",
            run_name=f"tune-{config.study_name}",
            params={**attrs, "study": config.study_name, "space": config.space.describe()},
            command="tune",
            tags={"optuna.study": config.study_name, "optuna.storage": config.store.description},
            run_id=study.user_attrs.get("mlflow_run_id"),
        )
        study.set_user_attr("mlflow_run_id", run_id)
        logged = logged_trials(run_id)

        def log_batch(trials: list[Any]) -> None:
            config.store.record()
            marks = optuna_studies.MARK
            fresh = [t for t in trials if t.number not in logged and marks not in t.user_attrs]
            log_trials([_logged(t, names) for t in fresh], run_id=run_id)
            logged.update(t.number for t in fresh)

        log_batch(study.get_trials(deepcopy=False, states=optuna_studies.FINISHED))
        with c.ray() as session:
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
                records_of(features, cache, config.start, config.tuning_days), config.start
            )
            if warning:
                LOG.warning("%s", warning)
            prefill_started = time.perf_counter()
            cache.get(score_key(p) for p in score_grid(config.space))
            prefill_s = time.perf_counter() - prefill_started
            study_days = Study(features, cache, config.tuning_days)
            stats = optuna_studies.optimize(
                study,
                distributions=searched.distributions(),
                evaluate_batch=study_days.evaluator(
                    config.objectives, searched, plan, session.workers
                ),
                n_complete=config.n_trials,
                batch_size=config.batch_size,
                on_batch=log_batch,
                progress=c.progress,
                store=config.store,
            )
            best, front, best_number = choose_best(
                study, searched, config.objectives, study_days.features, study_days.rows,
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
                deciding = day_counts(held.records(best), held.records(config.start), figure)
                evidence = "held-out days"
        recommendation = recommend(config, decision, deciding, evidence)
        holdout = held_out_summary(decision, held, deciding, config)
        chosen = best if recommendation["recommendation"] == "tuned" else config.start
        label = "tuned" if chosen is best else "start"
        with config.store.batch():
            marked, note = mark_recommended(
                study, space=searched, plan=plan, params=chosen,
                values=comparison["tuning"][label],
                repeats=best_number if chosen is best else "start",
                reason=recommendation["recommendation_reason"],
            )  # fmt: skip
        config.store.record()
        complete = optuna_studies.complete(study)
        summary = {
            "study": config.study_name,
            "storage": config.store.description,
            "resumed": resumed,
            "recovered_trials": recovered,
            "trials_total": len(study.trials),
            "trials_complete": len(complete),
            "trials_session": stats.trials,
            "trials_per_s": stats.trials_per_s,
            "optuna_fraction": stats.optuna_fraction,
            "rescoring_s": prefill_s,
            "score_sets": len(cache),
            "sweep": config.sweep if plan else "none",
            "swept": list(plan.names) if plan else [],
            "sampled": list(searched.ranges),
            "not_swept_because": no_sweep or None,
            "start": config.start.to_dict(),
            "start_source": str(config.start_path) if config.start_path else "MODEL.md",
            "start_warning": warning,
            **recommendation,
            "best_params": chosen.to_dict(),
            "candidate_params": best.to_dict(),
            "candidate_trial": best_number,
            "recommended_trial": marked,
            "best_trial_note": note,
            "holdout_days": list(held.days),
            **holdout,
            "pareto_front": [
                {"number": t.number, **dict(zip(names, t.values, strict=True))} for t in front
            ],
            "comparison": comparison["table"],
            "held_out_difference": comparison["paired"],
            "too_small_to_tell": comparison["too_small_to_tell"],
            "cv": cv,
            "mlflow_run_id": run_id,
        }
        _write(ctx.stage, study, chosen, best, front, summary, config)
        _log(summary, stats, len(study.trials))
    return summary


def _check_attrs(study: optuna_studies.Study, resumed: bool, attrs: dict[str, Any]) -> None:
    if not resumed:
        study.set_user_attr("config", attrs)
        return
    stored = study.user_attrs.get("config")
    if stored != attrs:
        raise HarnessError(
            f"study {study.study_name!r} was made with {stored}, not {attrs}; resume it with "
            "the same scenario, objectives and hold-out days, or pick a new --study name"
        )


def _logged(trial: Any, names: list[str]) -> tuple[int, dict, dict, bool]:
    values = {n: v for n, v in zip(names, trial.values or (), strict=False) if math.isfinite(v)}
    params = {**trial.params, **trial.user_attrs.get("swept", {})}
    return trial.number, values, params, trial.state == optuna_studies.COMPLETE


def _write(
    folder: staging.Folder,
    study: optuna_studies.Study,
    recommended: core.ModelParams,
    candidate: core.ModelParams,
    front: list[Any],
    summary: dict[str, Any],
    config: TuneConfig,
) -> None:
    names = [o.name for o in config.objectives]
    dump_params(recommended, folder / BEST_PARAMS)
    dump_params(candidate, folder / CANDIDATE_PARAMS)
    trials = optuna_studies.trial_rows(study, names)
    typed = tables.trials_table(trials, objectives=names, swept=summary["swept"])
    tables.write_table(typed, folder / TRIALS)
    table = pd.DataFrame(summary["comparison"])
    for column in [c for c in table.columns if c.endswith("_ci95")]:
        bounds = table.pop(column).map(lambda v: v if v else [None, None])
        table[f"{column}_low"] = bounds.map(lambda v: v[0])
        table[f"{column}_high"] = bounds.map(lambda v: v[1])
    (folder / COMPARISON).write_text(table.to_csv(index=False))
    if front:
        pareto = pd.DataFrame(
            [{"number": t.number, **dict(zip(names, t.values, strict=True)), **t.params}
             for t in front]
        )  # fmt: skip
        (folder / PARETO).write_bytes(pareto.to_parquet(index=False))
    optuna_studies.save_plots(study, folder, names)
    staging.write_json(folder / "tune.json", summary)


def _log(summary: dict[str, Any], stats: optuna_studies.OptimizeStats, total: int) -> None:
    """The parent run's metrics (tuned vs start per split, the paired difference, the
    cross-validation's spread)."""
    metrics: dict[str, Any] = {
        "trials_per_s": stats.trials_per_s,
        "optuna_fraction": stats.optuna_fraction,
        "trials_total": total,
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
    log_metrics(metrics)


def format_summary(summary: dict[str, Any], config: TuneConfig) -> str:
    """The console summary of a study: trials, tuned vs start with intervals, the paired
    held-out difference, the cross-validation, and where things are."""
    objective = config.objectives[0]
    lines = [
        f"study {summary['study']}: {summary['trials_session']} trials this session, "
        f"{summary['trials_complete']} complete of {summary['trials_total']}; "
        f"{summary['trials_per_s']:.1f} trials/s, Optuna {100 * summary['optuna_fraction']:.0f}% "
        "of the time",
        f"{'params':8} {'days':9} {'root-cause F1 [95% CI]':>24} {'faults expl.':>12} "
        f"{'mgmt AUC':>8} {'train AUC':>9}",
    ]
    for row in summary["comparison"]:
        lines.append(
            f"{row['params']:8} {row['days']:9} {row['root_cause_f1']:6.3f} "
            f"{ci_text(row['root_cause_f1_ci95']):>17} {row['faults_explained']:12.3f} "
            f"{row['management_auc']:8.3f} {row['training_auc']:9.3f}"
        )
    gain = summary["recommendation_gain"]
    lines.append(
        f"{objective.name} on the {gain['on']}: tuned − start = {gain['difference']:+.3f} "
        f"{ci_text(gain['ci95'])} over {gain['days']} days (95 % day bootstrap of the defined "
        f"replicates); randomisation p = {gain['p']:.2g} ({gain['test']}) at level "
        f"{gain['level']:.3g}"
    )
    lines.append(
        f"held-out days: {len(summary['holdout_days'])} ({summary['holdout_days_added']} "
        f"simulated beyond the source's own); {summary['holdout_stop_reason']}"
    )
    for reason in summary["too_small_to_tell"]:
        lines.append(f"days × people intervals too wide to carry to other people: {reason}")
    if summary["cv"]:
        cv = summary["cv"]
        lines.append(
            f"{cv['k']}-fold cross-validation over blocks of days ({cv['objective']} on the "
            f"left-out block): tuned {cv['tuned_mean']:.3f} ± {cv['tuned_sd']:.3f}, start "
            f"{cv['start_mean']:.3f} ± {cv['start_sd']:.3f}, difference "
            f"{cv['difference_mean']:+.3f} ± {cv['difference_sd']:.3f} (mean ± sd over folds)"
        )
    for point in summary["pareto_front"]:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in point.items() if k != "number")
        lines.append(f"Pareto trial {shown} (#{point['number']})")
    held = (
        "recommended: the tuned params"
        if summary["recommendation"] == "tuned"
        else ("recommended: the start")
    )
    lines.append(f"{held} ({summary['recommendation_reason']})")
    lines.append(
        f"best params: {config.out_dir / BEST_PARAMS}; tuned candidate: "
        f"{config.out_dir / CANDIDATE_PARAMS}; Optuna: trial {summary['recommended_trial']} "
        "repeats the recommendation (user attribute 'recommended')"
    )
    if summary["best_trial_note"]:
        lines.append(summary["best_trial_note"])
    lines.append(f"resume with: --study {summary['study']}; MLflow run {summary['mlflow_run_id']}")
    return "\n".join(lines)
