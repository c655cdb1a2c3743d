"""``hazard-harness tune``: a study on the tuning days, reported on held-out days, logged."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

import core
from harness import outputs
from harness._errors import HarnessError
from harness.execution import ray_session
from harness.params_file import dump_params
from harness.run import RunConfig, make_config
from harness.tracking import log_child_runs, log_metrics, sigterm_as_interrupt, tracked_run
from harness.tuning._features import Features, ProficiencyCache, build_features, evaluate, y_key
from harness.tuning._objectives import (
    DEFAULT_OBJECTIVE,
    Objective,
    get_objective,
    resolve_objectives,
)
from harness.tuning._space import SearchSpace, make_space
from harness.tuning._study import (
    FINISHED,
    OptimizeStats,
    RayEvaluator,
    make_storage,
    open_study,
    optimize,
    recover_stale,
)

BEST_PARAMS = "best_params.yaml"
TRIALS = "trials.parquet"
COMPARISON = "comparison.csv"
PARETO = "pareto.parquet"
REPORTED = (
    ("root_cause_f1", ("root_cause", "f1")),
    ("root_cause_precision", ("root_cause", "precision")),
    ("root_cause_recall", ("root_cause", "recall")),
    ("management_f1", ("management", "f1")),
    ("management_auc", ("management", "auc")),
    ("training_f1", ("training", "f1")),
    ("training_auc", ("training", "auc")),
)
"""Columns of the tuned-vs-default table: name and path in the run metrics."""


@dataclass(frozen=True)
class TuneConfig:
    """Everything ``tune`` needs, checked before any work starts."""

    run: RunConfig
    """Scenario, output folder, Ray and cache settings (as for ``run``)."""
    space: SearchSpace
    """Tuned parameters and their ranges."""
    objectives: tuple[Objective, ...]
    """What the study optimises (several: multi-objective, NSGA-II)."""
    n_trials: int
    """Finished trials the study should hold (a resumed study runs the rest)."""
    study_name: str
    """Optuna study name; an existing one is resumed."""
    storage: str | None
    """Optuna storage URL or journal path (default: ``optuna.journal`` in the working folder)."""
    tuning_days: tuple[int, ...]
    """Evaluated days the study sees."""
    holdout_days: tuple[int, ...]
    """The last evaluated days, never seen by the study."""
    seed: int
    """Sampler seed (default: the scenario's)."""
    batch_size: int
    """Trials asked per batch (spread over the Ray workers)."""


def make_tune_config(
    scenario_path: str | Path,
    out_dir: str | Path,
    *,
    n_trials: int = 100,
    objectives: tuple[str | Objective, ...] = (DEFAULT_OBJECTIVE,),
    study_name: str | None = None,
    storage: str | None = None,
    holdout_days: int | None = None,
    seed: int | None = None,
    tune: tuple[str, ...] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    batch_size: int | None = None,
    address: str | None = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> TuneConfig:
    """Validate every input of a study; raises :class:`HarnessError` with the reason."""
    run = make_config(
        scenario_path, out_dir, address=address, workers=workers, cache_dir=cache_dir,
        progress=progress,
    )  # fmt: skip
    scenario = run.scenario
    resolved = resolve_objectives(objectives)
    space = make_space(names=tune, overrides=ranges, fidelity=scenario.fidelity)
    if n_trials < 1:
        raise HarnessError(f"--trials must be >= 1, got {n_trials}")
    if batch_size is not None and batch_size < 1:
        raise HarnessError(f"--batch-size must be >= 1, got {batch_size}")
    days = tuple(scenario.evaluate_days)
    if len(days) < 2:
        raise HarnessError(
            f"tuning needs >= 2 evaluated days (tuning + held-out), the scenario has "
            f"{len(days)}: raise days.evaluate"
        )
    k = max(1, round(len(days) / 3)) if holdout_days is None else holdout_days
    if not 1 <= k < len(days):
        raise HarnessError(f"--holdout-days must be in 1..{len(days) - 1}, got {k}")
    return TuneConfig(
        run=run,
        space=space,
        objectives=resolved,
        n_trials=n_trials,
        study_name=study_name or f"{scenario.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        storage=storage,
        tuning_days=days[:-k],
        holdout_days=days[-k:],
        seed=scenario.seed if seed is None else seed,
        batch_size=batch_size or 8 * (workers or 2),
    )


def tune(config: TuneConfig) -> dict[str, Any]:
    """Run (or resume) the study, write the outputs into the output folder, log to MLflow."""
    run, scenario = config.run, config.run.scenario
    attrs = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "objectives": [o.name for o in config.objectives],
        "tuning_days": list(config.tuning_days),
        "holdout_days": list(config.holdout_days),
    }
    study, resumed = open_study(
        name=config.study_name, storage=make_storage(config.storage),
        objectives=config.objectives, seed=config.seed, attrs=attrs,
    )  # fmt: skip
    recovered = recover_stale(study)
    before = {t.number for t in study.get_trials(deepcopy=False, states=FINISHED)}
    with sigterm_as_interrupt(), outputs.staged(run.out_dir) as staging, tracked_run(
        experiment=f"hazard-harness/{scenario.name}",
        run_name=f"tune-{config.study_name}",
        params={**attrs, "study": config.study_name, "space": config.space.describe()},
        tags={"command": "tune", "optuna.study": config.study_name},
        run_id=study.user_attrs.get("mlflow_run_id"),
    ) as run_id:  # fmt: skip
        study.set_user_attr("mlflow_run_id", run_id)
        with ray_session(address=run.address, workers=run.workers):
            features, cache = build_features(
                scenario, cache_dir=run.cache_dir, max_in_flight=2 * (run.workers or 2),
                progress=run.progress,
            )  # fmt: skip
            tuning = features.select(config.tuning_days)
            stats = optimize(
                study,
                space=config.space,
                evaluate_batch=RayEvaluator(
                    features=tuning,
                    rows=features.rows_of(config.tuning_days),
                    cache=cache,
                    objectives=config.objectives,
                    workers=run.workers or 2,
                ),
                n_trials=config.n_trials,
                batch_size=config.batch_size,
                progress=run.progress,
            )
            best, front = choose_best(study, config, features, cache)
            table = compare(config, features, cache, best)
        summary = {
            "study": config.study_name,
            "resumed": resumed,
            "recovered_trials": recovered,
            "trials_total": len(study.trials),
            "trials_session": stats.trials,
            "trials_per_s": stats.trials_per_s,
            "optuna_fraction": stats.optuna_fraction,
            "best_params": best.to_dict(),
            "pareto_front": [
                {"number": t.number, **dict(zip(attrs["objectives"], t.values, strict=True))}
                for t in front
            ],
            "comparison": table.to_dict(orient="records"),
            "mlflow_run_id": run_id,
        }
        _write(staging, study, best, front, table, summary, config)
        _log(study, stats, table, run_id, before, config, staging)
    return summary


def choose_best(
    study: optuna.Study, config: TuneConfig, features: Features, cache: ProficiencyCache
) -> tuple[core.ModelParams, list[optuna.trial.FrozenTrial]]:
    """The best trial's parameters, and the Pareto front (empty for one objective).

    With one objective, of the trials that share the best value the one nearest MODEL.md's
    defaults is chosen (on few tuning shifts many settings tie, and the extreme ones do not
    carry over to new days). With several objectives the Pareto trial with the best
    root-cause F1 on the tuning days is chosen (the harness's default objective breaks the
    tie).
    """
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        raise HarnessError(
            f"no trial of study {config.study_name!r} completed; see the fail_reason of its "
            "trials (e.g. `optuna trials`)"
        )
    if len(config.objectives) == 1:
        best = study.best_value
        tied = [
            t
            for t in study.trials
            if t.state == optuna.trial.TrialState.COMPLETE and abs(t.value - best) <= 1e-12
        ]
        nearest = min(tied, key=lambda t: (config.space.distance_to_base(t.params), t.number))
        return config.space.params(nearest.params), []
    front = study.best_trials
    candidates = [config.space.params(t.params) for t in front]
    tuning = features.select(config.tuning_days)
    rows = features.rows_of(config.tuning_days)
    ys = cache.get(y_key(p) for p in candidates)
    f1 = get_objective(DEFAULT_OBJECTIVE).value
    scores = [f1(evaluate(tuning, p, ys[y_key(p)][rows])) for p in candidates]
    return candidates[int(np.argmax(scores))], front


def compare(
    config: TuneConfig, features: Features, cache: ProficiencyCache, best: core.ModelParams
) -> pd.DataFrame:
    """Tuned vs MODEL.md's default parameters on the tuning and the held-out days."""
    default = core.ModelParams()
    ys = cache.get([y_key(default), y_key(best)])
    rows = []
    for label, params in (("default", default), ("tuned", best)):
        for split, days in (("tuning", config.tuning_days), ("held-out", config.holdout_days)):
            metrics = evaluate(
                features.select(days), params, ys[y_key(params)][features.rows_of(days)]
            )
            row: dict[str, Any] = {"params": label, "days": split}
            for name, path in REPORTED:
                value: Any = metrics
                for key in path:
                    value = value[key]
                row[name] = float(value)
            rows.append(row)
    return pd.DataFrame(rows)


def _write(
    folder: Path,
    study: optuna.Study,
    best: core.ModelParams,
    front: list[optuna.trial.FrozenTrial],
    table: pd.DataFrame,
    summary: dict[str, Any],
    config: TuneConfig,
) -> None:
    dump_params(best, folder / BEST_PARAMS)
    trials = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs"))
    if len(config.objectives) > 1:
        trials = trials.rename(
            columns={f"values_{k}": o.name for k, o in enumerate(config.objectives)}
        )
    trials.to_parquet(folder / TRIALS, index=False)
    table.to_csv(folder / COMPARISON, index=False)
    if front:
        pd.DataFrame(
            [
                {"number": t.number, **dict(zip([o.name for o in config.objectives], t.values,
                                                strict=True)), **t.params}
                for t in front
            ]
        ).to_parquet(folder / PARETO, index=False)  # fmt: skip
    _plots(study, folder, config.objectives)
    outputs.write_json(folder / "tune.json", summary)


def _plots(study: optuna.Study, folder: Path, objectives: tuple[Objective, ...]) -> None:
    """Optimisation history (or Pareto front) and parameter importances, as PNG files."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    first = objectives[0].name
    target = None if len(objectives) == 1 else (lambda t: t.values[0])
    plots = {
        "optimization_history.png": lambda: vis.plot_optimization_history(
            study, target=target, target_name=first
        ),
        "param_importances.png": lambda: vis.plot_param_importances(
            study, target=target, target_name=first
        ),
    }
    if len(objectives) > 1:
        plots["pareto_front.png"] = lambda: vis.plot_pareto_front(
            study, target_names=[o.name for o in objectives]
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        for name, plot in plots.items():
            try:
                ax = plot()
            except (ValueError, RuntimeError):  # e.g. importances need >= 2 distinct trials
                continue
            ax.figure.savefig(folder / name, dpi=90, bbox_inches="tight")
            plt.close(ax.figure)


def _log(
    study: optuna.Study,
    stats: OptimizeStats,
    table: pd.DataFrame,
    run_id: str,
    before: set[int],
    config: TuneConfig,
    folder: Path,
) -> None:
    """Parent-run metrics and artifacts, one child run per trial of this session."""
    import mlflow

    metrics: dict[str, Any] = {
        "trials_per_s": stats.trials_per_s,
        "optuna_fraction": stats.optuna_fraction,
        "trials_total": len(study.trials),
    }
    for rec in table.to_dict(orient="records"):
        key = f"{rec['days'].replace('-', '')}.{rec['params']}"
        metrics[key] = {k: v for k, v in rec.items() if k not in ("params", "days")}
    log_metrics(metrics)
    names = [o.name for o in config.objectives]
    children = [
        (
            f"trial-{t.number}",
            t.params,
            {n: v for n, v in zip(names, t.values or (), strict=False) if math.isfinite(v)},
            "FINISHED" if t.state == optuna.trial.TrialState.COMPLETE else "FAILED",
        )
        for t in study.get_trials(deepcopy=False, states=FINISHED)
        if t.number not in before
    ]
    log_child_runs(children, parent_run_id=run_id)
    mlflow.log_artifacts(str(folder))
