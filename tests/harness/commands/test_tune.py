"""``tune`` end to end on a tiny scenario, resume, and input checks before any work."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import optuna
import pytest
import yaml

import core
from harness.adapters import optuna_studies
from harness.adapters.optuna_storage import open_storage
from harness.cli import main
from harness.commands.preflight import ComputeOptions
from harness.commands.run import make_config
from harness.commands.tune import make_tune_config, tune
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import load_params
from harness.tuning import get_objective, holdout_budget, make_space
from harness.tuning._choice import trial_params
from tests.harness.conftest import TUNE_TINY


@pytest.fixture
def tiny(tune_yaml: Path) -> Path:
    """The tiny tuning scenario in a fresh working folder with its own MLflow and cache."""
    return tune_yaml


def _config(scenario: Path, out: str, **kwargs):
    compute = ComputeOptions(workers=2, progress=False)
    return make_tune_config(scenario, out, compute=compute, batch_size=4, **kwargs)


@pytest.mark.slow
def test_tune_end_to_end_and_best_params_load_into_run(tiny: Path):
    summary = tune(_config(tiny, "out", n_trials=8, study_name="e2e"))
    out = Path("out")
    for name in ("best_params.yaml", "candidate_params.yaml", "trials.parquet", "comparison.csv",
                 "tune.json"):  # fmt: skip
        assert (out / name).exists(), name
    assert summary["trials_session"] == 8 and summary["trials_complete"] == 8
    assert {(r["params"], r["days"]) for r in summary["comparison"]} == {
        (p, d) for p in ("start", "tuned") for d in ("tuning", "held-out")
    }
    params = make_config(tiny, "run-out", params_path=out / "best_params.yaml").params
    assert params.to_dict() == summary["best_params"]
    assert load_params(out / "best_params.yaml") == params
    assert load_params(out / "candidate_params.yaml").to_dict() == summary["candidate_params"]
    # the start is trial 0, and the in-sample best never falls below it
    study = optuna.load_study(study_name="e2e", storage=open_storage(None).storage)
    assert study.trials[0].user_attrs["start"] is True
    rows = {(r["params"], r["days"]): r for r in summary["comparison"]}
    assert rows["tuned", "tuning"]["root_cause_f1"] >= rows["start", "tuning"]["root_cause_f1"]
    assert study.best_value >= rows["start", "tuning"]["root_cause_f1"]
    assert summary["swept"] == ["tau_Z", "tau_Y"] and "tau_Z" not in summary["sampled"]
    chosen = (
        summary["candidate_params"] if summary["recommendation"] == "tuned" else (summary["start"])
    )
    assert summary["best_params"] == chosen
    (parent,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert parent.info.status == "FINISHED"
    assert "heldout.tuned.root_cause_f1" in parent.data.metrics
    history = mlflow.MlflowClient().get_metric_history(parent.info.run_id, "trial.root_cause_f1")
    assert sorted(m.step for m in history) == list(range(8))  # one value per trial
    # Optuna's view: every trial shows its swept thresholds as params, and one more trial,
    # marked, repeats the recommendation
    assert all({"tau_Z", "tau_Y"} <= set(t.params) for t in study.trials)
    marked = optuna_studies.trials(study)[summary["recommended_trial"]]
    assert marked.number == 8 and marked.attrs["recommended"] is True
    assert (
        trial_params(make_space().without(("tau_Z", "tau_Y")), marked).to_dict()
        == (summary["best_params"])
    )
    assert summary["trials_total"] == 9
    # the held-out days: the scenario's last one, then (auto) simulated ones after it
    days = summary["holdout_days"]
    assert days[0] == 8 and days == list(range(8, 8 + len(days)))
    assert summary["holdout_days_added"] == len(days) - 1
    assert summary["holdout_stop_reason"] and summary["holdout_looks"][0]["days"] == 1
    assert summary["recommendation_gain"]["days"] == len(days)
    assert summary["start_warning"] is None


@pytest.mark.slow
def test_the_start_that_flags_nobody_is_named_and_fixed_holdout_days_stay(tiny: Path, capsys):
    Path("start.yaml").write_text("tau_Z: 0.9\ntau_Y: 0.05\n")
    code = main(["tune", str(tiny), "--out", "out", "--trials", "4", "--batch-size", "2",
                 "--workers", "2", "--params", "start.yaml", "--holdout-days", "2",
                 "--study", "nobody", "--no-progress"])  # fmt: skip
    assert code == 0
    summary = json.loads(Path("out/tune.json").read_text())
    assert "flags nobody on the tuning days" in summary["start_warning"]
    assert summary["holdout_days"] == [7, 8] and summary["holdout_days_added"] == 0
    assert len(summary["holdout_looks"]) == 1 and summary["holdout_looks"][0]["level"] == 0.05
    err = capsys.readouterr().err
    assert err.count("flags nobody") == 1  # one console line


@pytest.mark.slow
def test_interrupted_study_resumes_and_keeps_its_trials(tiny: Path):
    first = tune(_config(tiny, "out", n_trials=4, study_name="resume", holdout_days=1))
    assert first["trials_total"] == 5 and first["trials_complete"] == 4  # and the mark
    store = open_storage(None)
    study = optuna.load_study(study_name="resume", storage=store.storage)
    kept = [t.params for t in study.trials]
    store.record()  # a driver at work records its batches…
    stale = study.ask({"tau_D": optuna.distributions.FloatDistribution(0.2, 1.6)})
    # …and dies here: trial `stale` stays RUNNING in the journal, past the recorded size

    second = tune(_config(tiny, "out", n_trials=8, study_name="resume", holdout_days=1))
    assert second["resumed"] and second["recovered_trials"] == 1
    resumed = optuna.load_study(study_name="resume", storage=open_storage(None).storage)
    trials = resumed.trials
    assert [t.params for t in trials[: len(kept)]] == kept
    assert trials[stale.number].state == optuna.trial.TrialState.FAIL
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == stale.number)
    assert retry.state == optuna.trial.TrialState.COMPLETE
    assert retry.params["tau_D"] == stale.params["tau_D"]
    assert len(optuna_studies.complete(resumed)) == 8  # the marks of the two sessions apart
    assert sum("recommended" in t.user_attrs for t in trials) == 2


def test_resume_with_other_objective_is_refused(tiny: Path):
    storage = open_storage(None).storage
    optuna.create_study(study_name="other", storage=storage).set_user_attr("config", {"x": 1})
    with pytest.raises(HarnessError, match="resume it with the same"):
        tune(_config(tiny, "out", n_trials=2, study_name="other"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objectives": ("root_cause_f2",)}, "did you mean 'root_cause_f1'"),
        ({"ranges": {"tau_P": (0.5, 1.5)}}, "tau_P"),
        ({"ranges": {"tau_Z": (0.4, 0.2)}}, "low < high"),
        ({"ranges": {"tua_D": (0.1, 0.2)}}, "did you mean 'tau_D'"),
        ({"tune": ("alpha",)}, "'alpha' is not tunable"),
        ({"sweep": "grid"}, "--sweep must be one of"),
        ({"min_gain": -0.1}, "--min-gain must be a number in"),
        ({"min_gain": 1.0}, "--min-gain must be a number in"),
        ({"tune": ("tau_D",), "ranges": {"tau_Z": (0.1, 0.2)}}, "--tune leaves out"),
        ({"holdout_days": 4}, "--holdout-days must be in 1..3"),
        ({"holdout_days": "some"}, "--holdout-days must be auto or a number"),
        ({"holdout_days": 2, "max_holdout_days": 9}, "with --holdout-days N the held-out"),
        ({"max_holdout_days": 9, "cv": 2}, "with --cv the cross-validation decides"),
        ({"max_holdout_days": 0}, "--max-holdout-days must be an integer >= 1"),
        ({"n_trials": 0}, "--trials"),
    ],
)
def test_bad_input_is_rejected_before_any_work(tiny: Path, kwargs, message):
    with pytest.raises(HarnessError, match=message):
        _config(tiny, "out", **kwargs)
    assert not Path("out").exists() and not Path("cache").exists()


def test_holdout_days_auto_and_their_budget():
    def _holdout(days, most, evaluated, records, cv):
        return holdout_budget(days, most=most, evaluated=evaluated, records=records, cv=cv)

    assert _holdout("auto", None, 14, False, None) == (5, 60)  # a third, then up to 60
    assert _holdout("auto", 20, 14, False, None) == (5, 20)
    assert _holdout("auto", None, 240, False, None) == (80, 80)  # its own are more than 60
    assert _holdout(3, None, 14, False, None) == (3, None)  # fixed: those 3
    assert _holdout("auto", None, 14, True, None) == (5, None)  # records: what was recorded
    assert _holdout("auto", None, 14, False, 4) == (5, None)  # --cv decides
    with pytest.raises(HarnessError, match=r"must be >= the scenario's own held-out days \(5\)"):
        _holdout("auto", 4, 14, False, None)
    with pytest.raises(HarnessError, match="what was recorded"):
        _holdout("auto", 30, 14, True, None)


def test_too_few_evaluated_days(tmp_path: Path):
    path = tmp_path / "one-day.yaml"
    path.write_text(yaml.safe_dump({**TUNE_TINY, "days": {"history": 2, "evaluate": 1}}))
    with pytest.raises(HarnessError, match=">= 2 evaluated days"):
        _config(path, tmp_path / "out")


def test_cli_rejects_unknown_objective(tiny: Path, capsys: pytest.CaptureFixture[str]):
    code = main(
        ["tune", str(tiny), "--out", "out", "--objective", "root_cause_f1,root_cause_recal"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown objective 'root_cause_recal'" in err and "did you mean" in err


def test_distance_to_base_ranks_ties_toward_model_md_defaults():
    from harness.tuning import make_space

    space = make_space(names=("tau_D", "direction"))
    # tau_D range [0.2, 1.6]: |0.9 - 0.5| / 1.4; a different direction counts 1
    assert space.distance_to_base({"tau_D": 0.9, "direction": "out"}) == pytest.approx(0.4 / 1.4)
    assert space.distance_to_base({"tau_D": 0.5, "direction": "both"}) == pytest.approx(1.0)
    assert space.distance_to_base({"tau_D": 0.5, "direction": "out"}) == 0.0


def test_day_blocks_cover_the_days_in_order():
    from harness.tuning._choice import day_blocks

    assert day_blocks((31, 32, 33, 34, 35), 2) == [(31, 32), (33, 34, 35)]
    assert day_blocks((1, 2, 3), 3) == [(1,), (2,), (3,)]


@pytest.mark.slow
def test_paired_difference_and_cross_validation_are_reported(tiny: Path, capsys):
    code = main(["tune", str(tiny), "--out", "out", "--trials", "6", "--batch-size", "3",
                 "--workers", "2", "--cv", "2", "--study", "cv", "--no-progress"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "root_cause_f1 on the 2-fold cross-validation's left-out days: tuned − start = " in out
    assert "recommended: the " in out
    summary = json.loads(Path("out/tune.json").read_text())
    diff = summary["held_out_difference"]["root_cause.f1"]
    rows = {(r["params"], r["days"]): r for r in summary["comparison"]}
    assert diff["a"] == rows["tuned", "held-out"]["root_cause_f1"]
    assert diff["difference"] == pytest.approx(diff["a"] - diff["b"])
    assert diff["ci95"] is None or diff["ci95"][0] <= diff["difference"] <= diff["ci95"][1]
    cv = summary["cv"]
    assert cv["k"] == 2 and [f["held_out_days"] for f in cv["folds"]] == [[5, 6], [7, 8]]
    assert summary["too_small_to_tell"]  # four tiny days: too few culprits to tell
    assert summary["recommendation_gain"]["on"] == "2-fold cross-validation's left-out days"
    assert summary["recommendation_gain"]["difference"] == pytest.approx(cv["pooled"]["difference"])
    assert summary["recommendation_gain"]["days"] == 4 and summary["holdout_days_added"] == 0


def test_a_pixel_scenario_is_refused_with_how(tmp_path: Path):
    path = tmp_path / "pixel.yaml"
    path.write_text(yaml.safe_dump({**TUNE_TINY, "fidelity": "pixel"}))
    with pytest.raises(HarnessError, match=r"fidelity: pixel.*tune a copy with fidelity: signal"):
        _config(path, tmp_path / "out")


def _recommend(tuned, start, *, min_gain=0.0, on="held-out days"):
    from harness.tuning._choice import recommend
    from harness.tuning._rule import Paired, decide

    config = SimpleNamespace(
        objectives=(get_objective("root_cause_f1"),), min_gain=min_gain,
        scenario=SimpleNamespace(seed=0),
    )  # fmt: skip
    paired = Paired("root_cause.f1", np.array(tuned), np.array(start))
    return recommend(config, decide(paired, min_gain=min_gain, seed=0), paired, on)


CAUGHT, MISSED, NOTHING = (1, 0, 0), (0, 0, 1), (0, 0, 0)


@pytest.mark.parametrize(
    ("tuned", "start", "min_gain", "verdict", "why"),
    [
        ([CAUGHT] * 6, [MISSED] * 6, 0.0, "tuned", "p = 0.016 <= 0.05"),  # 1/64
        ([CAUGHT] * 4, [MISSED] * 4, 0.0, "start", "not decided"),  # p = 1/16: not shown
        ([CAUGHT, MISSED] * 3, [CAUGHT, MISSED] * 3, 0.0, "start", "p = 1"),  # alike: nothing
        ([MISSED] * 6, [CAUGHT] * 6, 0.0, "start", "upper bound"),  # worse: never handed back
        ([(1, 0, 1)] * 6, [(0, 0, 2)] * 6, 0.7, "start", "< 0.7"),  # gain 2/3: below 0.7
        ([(0, 1, 0)] + [NOTHING] * 5, [NOTHING] * 6, 0.0, "start", "undefined"),  # no culprit
    ],
)
def test_recommendation_rule(tuned, start, min_gain, verdict, why):
    out = _recommend(tuned, start, min_gain=min_gain)
    assert out["recommendation"] == verdict
    assert out["recommendation_gain"]["on"] == "held-out days"
    assert why in out["recommendation_reason"]
    assert ("stays" in out["recommendation_reason"]) == (verdict == "start")


def test_recommendation_names_the_cross_validation_when_it_decides():
    out = _recommend([CAUGHT] * 6, [MISSED] * 6, on="3-fold cross-validation's left-out days")
    assert out["recommendation_gain"]["on"] == "3-fold cross-validation's left-out days"
    assert out["recommendation_gain"]["days"] == 6 and out["recommendation_gain"]["level"] == 0.05


def test_the_start_is_trial_0_and_the_best_is_never_below_it(tmp_path: Path):
    """Whatever the objective, the enqueued start is scored first, so the study's best (and
    choose_best's pick) is at least the start's value."""
    from harness.adapters import optuna_storage, optuna_studies
    from harness.tuning import make_space
    from harness.tuning._choice import choose_best, enqueue_start, trial_params

    start = core.ModelParams(tau_D=1.1, lam=0.3, direction="both", eps=2.5)
    space = make_space(names=("tau_D", "lam", "direction", "eps"), base=start)
    store = optuna_storage.open_storage(tmp_path / "s.journal")
    study, _ = optuna_studies.create_study(
        name="s", store=store, directions=["maximize"], seed=0, batch_size=4
    )
    enqueue_start(study, space, start)

    def peak_at_the_start(asked):  # the start is the optimum: nothing may beat it
        return {
            n: (-abs(v["tau_D"] - 1.1) - abs(v["lam"] - 0.3) - (v["direction"] != "both"),)
            for n, v in asked
        }

    optuna_studies.optimize(
        study, distributions=space.distributions(), evaluate_batch=peak_at_the_start,
        n_complete=12, batch_size=4, store=store,
    )  # fmt: skip
    first = optuna_studies.trials(study)[0]
    assert first.attrs["start"] is True and trial_params(space, first) == start
    assert first.values == (0.0,) and study.best_value == 0.0
    best, _, number = choose_best(study, space, (get_objective("root_cause_f1"),), None, None, None)
    assert best == start and number == 0  # ties go to the trial nearest the start: itself


def test_a_trials_params_carry_the_thresholds_its_sweep_chose():
    from harness.tuning import make_space
    from harness.tuning._choice import trial_params

    space = make_space().without(("tau_Z", "tau_Y"))
    trial = optuna_studies.TrialRow(
        number=0, state=optuna_studies.COMPLETE, values=(0.5,), params={"tau_D": 0.9},
        attrs={"swept": {"tau_Z": 0.33, "tau_Y": 0.71}},
    )  # fmt: skip
    assert trial_params(space, trial) == core.ModelParams(tau_D=0.9, tau_Z=0.33, tau_Y=0.71)
