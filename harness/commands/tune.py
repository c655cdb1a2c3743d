"""``hazard-harness tune``: a study on the tuning days, reported on held-out days, logged.

The study's session (open or resume it, its trials on Ray, the recommendation) is
:func:`harness.tuning.open_study`, :func:`~harness.tuning.run_study` and
:func:`~harness.tuning.conclude`; the files it leaves and the console summary are
:mod:`harness.outputs.tune_report`. This command checks its inputs and runs the session in one
command context (the study's lock, staging, the MLflow run, the Ray session).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.adapters import optuna_storage
from harness.adapters.mlflow_tracking import log_metrics, tracked_run
from harness.commands import preflight
from harness.commands.context import command_context
from harness.evaluation.graders import AUTO, GraderPlan, parse_spec, plan
from harness.outputs.tune_report import write_tune_files
from harness.records import is_records
from harness.records import load as load_records
from harness.runtime import settings
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_count, check_fraction, load_params, load_scenario_file
from harness.runtime.storage import is_uri
from harness.tuning import (
    AUTO_HOLDOUT,
    DEFAULT_OBJECTIVE,
    SWEEPS,
    Objective,
    TuneConfig,
    check_figure,
    check_not_lost,
    conclude,
    fit_window,
    holdout_budget,
    make_space,
    open_study,
    resolve_objectives,
    run_study,
    with_evaluated_days,
)


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
    compute: preflight.ComputeOptions = preflight.ComputeOptions(),
    cache_dir: str | Path | None = None,
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
    min_gain = check_fraction("min-gain", min_gain, below_one=True)
    if study_name is not None:  # an empty --study is an error, not a new name
        optuna_storage.check_study_name(study_name)
    check_count("trials", n_trials)
    check_count("batch-size", batch_size)
    check_count("seed", seed, low=0)
    days = tuple(scenario.evaluate_days)
    if len(days) < 2:
        raise HarnessError(
            f"tuning needs >= 2 evaluated days (tuning + held-out), the scenario has "
            f"{len(days)}: raise days.evaluate"
        )
    check_count("cv", cv, low=2)
    if cv is not None and cv > len(days):
        raise HarnessError(
            f"--cv must be <= the evaluated days ({len(days)}, days.evaluate), got {cv}"
        )
    k, most = holdout_budget(holdout_days, most=max_holdout_days, evaluated=len(days),
                             records=recorded is not None, cv=cv)  # fmt: skip
    cache = settings.cache_dir(cache_dir)
    if storage is None or "://" not in storage:
        journal = Path(storage or optuna_storage.JOURNAL)
        preflight.check_writable(journal, option="--storage", folder=False)
    longest = scenario if most is None else with_evaluated_days(scenario, days[-k] + most - 1)
    out, where = preflight.checked(out_dir, compute, cache=cache, scenario=longest)
    grading = plan(graders, scenario) if recorded is None else GraderPlan("truth", graders)
    store = optuna_storage.open_storage(storage)
    name = study_name or f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_not_lost(store, name)
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
        min_gain=min_gain,
        records=recorded,
    )


def tune(config: TuneConfig) -> dict[str, Any]:
    """Run (or resume) the study, write the outputs into the output folder, log to MLflow."""
    with command_context(config.out_dir) as ctx:
        ctx.hold(optuna_storage.exclusive(config.store, config.study_name))
        study = open_study(config)
        run_id = ctx.track(
            tracked_run(
                experiment=f"hazard-harness/{config.scenario.name}",
                run_name=f"tune-{config.study_name}",
                params={
                    **study.attrs,
                    "study": config.study_name,
                    "space": config.space.describe(),
                },
                command="tune",
                tags={
                    "optuna.study": config.study_name,
                    "optuna.storage": config.store.description,
                },
                run_id=study.earlier_run,
            )
        )
        study.log_to(run_id)
        with config.compute.ray() as session:
            candidate = run_study(config, study, session=session)
        result = conclude(config, study, candidate)
        write_tune_files(ctx.stage, result, config)
        log_metrics(result.metrics())
    return result.summary
