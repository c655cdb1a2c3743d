"""``tune`` end to end on a tiny scenario, resume, and input checks before any work."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml

from harness._errors import HarnessError
from harness.cli import main
from harness.inputs import load_params
from harness.run import make_config
from harness.studies import open_storage
from harness.tuning import make_tune_config, tune
from tests.harness.conftest import TUNE_TINY


@pytest.fixture
def tiny(tune_yaml: Path) -> Path:
    """The tiny tuning scenario in a fresh working folder with its own MLflow and cache."""
    return tune_yaml


def _config(scenario: Path, out: str, **kwargs):
    return make_tune_config(scenario, out, workers=2, progress=False, batch_size=4, **kwargs)


def test_tune_end_to_end_and_best_params_load_into_run(tiny: Path):
    summary = tune(_config(tiny, "out", n_trials=8, study_name="e2e"))
    out = Path("out")
    for name in ("best_params.yaml", "trials.parquet", "comparison.csv", "tune.json"):
        assert (out / name).exists(), name
    assert summary["trials_session"] == 8 and summary["trials_complete"] == 8
    assert {(r["params"], r["days"]) for r in summary["comparison"]} == {
        (p, d) for p in ("default", "tuned") for d in ("tuning", "held-out")
    }
    params = make_config(tiny, "run-out", params_path=out / "best_params.yaml").params
    assert params.to_dict() == summary["best_params"]
    assert load_params(out / "best_params.yaml") == params
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1 + 8  # parent + one child per trial
    assert {r.info.status for r in runs} == {"FINISHED"}
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert "heldout.tuned.root_cause_f1" in parent.data.metrics


@pytest.mark.slow
def test_interrupted_study_resumes_and_keeps_its_trials(tiny: Path):
    first = tune(_config(tiny, "out", n_trials=4, study_name="resume"))
    assert first["trials_total"] == 4
    store = open_storage(None)
    study = optuna.load_study(study_name="resume", storage=store.storage)
    kept = [t.params for t in study.trials]
    store.guard.driving = True  # a driver at work records its batches as such…
    store.record()
    stale = study.ask({"tau_D": optuna.distributions.FloatDistribution(0.2, 1.6)})
    # …and dies here: trial `stale` stays RUNNING in the journal, past the recorded size

    second = tune(_config(tiny, "out", n_trials=8, study_name="resume"))
    assert second["resumed"] and second["recovered_trials"] == 1
    trials = optuna.load_study(study_name="resume", storage=open_storage(None).storage).trials
    assert [t.params for t in trials[:4]] == kept
    assert trials[stale.number].state == optuna.trial.TrialState.FAIL
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == stale.number)
    assert retry.state == optuna.trial.TrialState.COMPLETE
    assert retry.params["tau_D"] == stale.params["tau_D"]
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == 8


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
        ({"tune": ("alpha",)}, "no effect at signal fidelity"),
        ({"tune": ("tau_D",), "ranges": {"tau_Z": (0.1, 0.2)}}, "--tune leaves out"),
        ({"holdout_days": 4}, "--holdout-days must be in 1..3"),
        ({"n_trials": 0}, "--trials"),
    ],
)
def test_bad_input_is_rejected_before_any_work(tiny: Path, kwargs, message):
    with pytest.raises(HarnessError, match=message):
        _config(tiny, "out", **kwargs)
    assert not Path("out").exists() and not Path("cache").exists()


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
    from harness.tuning._tune import day_blocks

    assert day_blocks((31, 32, 33, 34, 35), 2) == [(31, 32), (33, 34, 35)]
    assert day_blocks((1, 2, 3), 3) == [(1,), (2,), (3,)]


def test_paired_difference_and_cross_validation_are_reported(tiny: Path, capsys):
    code = main(["tune", str(tiny), "--out", "out", "--trials", "6", "--batch-size", "3",
                 "--workers", "2", "--cv", "2", "--study", "cv", "--no-progress"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "held-out root_cause_f1: tuned − default = " in out and "2-fold cross-validation" in out
    summary = json.loads(Path("out/tune.json").read_text())
    diff = summary["held_out_difference"]["root_cause.f1"]
    rows = {(r["params"], r["days"]): r for r in summary["comparison"]}
    assert diff["a"] == rows["tuned", "held-out"]["root_cause_f1"]
    assert diff["difference"] == pytest.approx(diff["a"] - diff["b"])
    assert diff["ci95"] is None or diff["ci95"][0] <= diff["difference"] <= diff["ci95"][1]
    cv = summary["cv"]
    assert cv["k"] == 2 and [f["held_out_days"] for f in cv["folds"]] == [[5, 6], [7, 8]]
    assert summary["too_small_to_tell"]  # four tiny days: too few culprits to tell
