"""What ``tune`` leaves: the params files, the trials, the comparison, the Pareto front, the
study's plots and ``tune.json``; and the console summary of a study."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.adapters import optuna_studies
from harness.outputs import tables
from harness.runtime import staging
from harness.runtime.inputs import dump_params
from harness.tuning import TuneConfig, TuneResult, ci_text

BEST_PARAMS = "best_params.yaml"


CANDIDATE_PARAMS = "candidate_params.yaml"


TRIALS = "trials.parquet"


COMPARISON = "comparison.csv"


PARETO = "pareto.parquet"


def write_tune_files(folder: staging.Folder, result: TuneResult, config: TuneConfig) -> None:
    """The study's files and ``tune.json`` into ``folder``."""
    names = [o.name for o in config.objectives]
    summary, study, front = result.summary, result.study, result.front
    dump_params(result.recommended, folder / BEST_PARAMS)
    dump_params(result.candidate, folder / CANDIDATE_PARAMS)
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
