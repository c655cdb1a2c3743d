"""`hazard-harness train`: input checks, a tiny study end to end, registry, determinism, run."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import sim
from core.perception import load_model, predict_levels
from harness.cli import main
from harness.graders import GraderLevels
from harness.grading_data import history_day_states, post_examples, shift_change_diff, split_days
from harness.registry import load_graders, model_name
from harness.train import StudyBudget, post_study
from tests.harness.conftest import TINY, write_yaml

TINY_BUDGET = ["--trials", "2", "--epochs", "2", "--augment", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """One CLI train of every post of the tiny scenario (shared by the registry and run tests)."""
    base = tmp_path_factory.mktemp("train")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    mp.setenv("HAZARD_HARNESS_CACHE", str(base / "cache"))
    mp.delenv("RAY_ADDRESS", raising=False)
    mp.chdir(base)
    try:
        scenario = write_yaml(base / "tiny.yaml", TINY)
        argv = ["train", str(scenario), "--out", "out", "--posts", "all", *TINY_BUDGET]
        code = main([*argv, "--workers", "2", "--no-progress"])
    finally:
        mp.undo()
    return base, code


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--posts", "0,5"], "--posts must be 'all' or post numbers in 1..4"),
        (["--posts", "two"], "--posts must be 'all' or post numbers in 1..4"),
        (["--trials", "0"], "'--trials': 0 is not in the range 1<=x<=10000"),
        (["--epochs", "-2"], "'--epochs': -2 is not in the range 1<=x<=10000"),
        (["--augment", "-1"], "'--augment': -1 is not in the range 0<=x<=1000"),
    ],
)
def test_bad_ranges_are_rejected_with_a_clear_message(tiny_yaml, capsys, args, message):
    assert main(["train", str(tiny_yaml), "--out", "out", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hazard-harness train: error: ") and message in err
    assert not Path("out").exists()


def test_an_unknown_option_is_rejected(tiny_yaml, capsys):
    assert main(["train", str(tiny_yaml), "--out", "out", "--learning-rate", "3"]) == 2
    assert "No such option '--learning-rate'" in capsys.readouterr().err


def test_too_few_history_days_are_rejected(tmp_path, capsys):
    scenario = write_yaml(tmp_path / "s.yaml", {**TINY, "days": {"history": 2, "evaluate": 6}})
    assert main(["train", str(scenario), "--out", "out"]) == 2
    assert "needs >= 3 history days" in capsys.readouterr().err


def test_a_small_study_runs_end_to_end(trained):
    base, code = trained
    assert code == 0
    summary = json.loads((base / "out" / "train.json").read_text())
    assert sorted(summary["posts"]) == ["1", "2", "3", "4"]
    for r in summary["posts"].values():
        assert r["registered_version"] == "1"
        assert r["champion"]["decision"] == "first" and r["champion"]["version"] == "1"
        assert r["trials"]["complete"] + r["trials"]["pruned"] == 2
        assert 0 <= r["test"]["macro_f1"] <= 1
        assert set(r["params"]) == {"channels", "depth", "lr", "batch_size", "input_size"}
    assert (base / "out" / "studies" / "post-1.journal").is_file()
    mlflow.set_tracking_uri(f"sqlite:///{base / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert set(runs["status"]) == {"FINISHED"} and len(runs) == 5


def test_the_registry_holds_one_model_per_trained_post_that_predicts_the_same(trained):
    base, _ = trained
    mlflow.set_tracking_uri(f"sqlite:///{base / 'mlflow.db'}")
    client = MlflowClient()
    names = sorted(m.name for m in client.search_registered_models())
    assert names == [model_name(p) for p in range(1, 5)]
    scenario = sim.load_scenario(base / "tiny.yaml")
    states = history_day_states(scenario, 2)
    for post in range(1, 5):
        version = client.get_model_version(model_name(post), "1")
        assert version.tags["scenario"] == "tiny" and version.tags["seed"] == "5"
        assert version.aliases == ["champion"] and version.tags["grading_key"]
        run_artifacts = [a.path for a in client.list_artifacts(version.run_id)]
        assert "confusion.json" in run_artifacts
        logged = [a.path for a in client.list_artifacts(version.run_id, "grader")]
        assert "grader/python_model.pkl" not in logged and "grader/MLmodel" in logged
        ours = load_graders({post: "1"})[post]  # the harness's own, pickle-free loader
        model = mlflow.pyfunc.load_model(f"models:/{model_name(post)}/1")  # MLflow serving
        saved, _ = load_model(base / "out" / "graders" / f"post-{post}.safetensors")
        diff = np.stack(
            [shift_change_diff(scenario, s[post - 1], day=2, shift=k[1]) for k, s in states.items()]
        )
        env = np.stack([s[post - 1].environment for s in states.values()])
        expected = predict_levels(saved, diff, env)
        np.testing.assert_array_equal(model.predict({"diff": diff, "env": env}), expected)
        np.testing.assert_array_equal(predict_levels(ours, diff, env), expected)


def test_the_same_study_twice_gives_the_same_weights(tmp_path):
    scenario = sim.load_scenario(TINY)
    real = {}
    for day in scenario.history_days:
        real.update({k: s[1] for k, s in history_day_states(scenario, day).items()})
    budget = StudyBudget(trials=2, epochs=2, augment=1)
    a = post_study(scenario, 2, real, budget, str(tmp_path / "a.journal"))
    b = post_study(scenario, 2, real, budget, str(tmp_path / "b.journal"))
    assert a["params"] == b["params"] and a["trial"] == b["trial"]
    assert a["state"].keys() == b["state"].keys()
    for key in a["state"]:
        np.testing.assert_array_equal(a["state"][key], b["state"][key])


def test_augmentation_represents_every_level_and_splits_by_day():
    scenario = sim.load_scenario(TINY)
    real = {}
    for day in scenario.history_days:
        real.update({k: s[0] for k, s in history_day_states(scenario, day).items()})
    data = post_examples(scenario, 1, real, rounds=4)
    assert len(data.labels) == 5 * len(real) and data.real.sum() == len(real)
    assert (np.bincount(data.labels[~data.real], minlength=5) > 0).all()
    train, val, test = data.split(list(scenario.history_days))
    assert set(train.day) == {1, 2, 3, 4} and set(val.day) == {5} and set(test.day) == {6}
    assert split_days(range(1, 11)) == ([1, 2, 3, 4, 5, 6], [7, 8], [9, 10])


def test_run_with_a_missing_grader_fails_before_any_work(tiny_yaml, capsys):
    assert main(["run", str(tiny_yaml), "--out", "out", "--graders", "champion"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "registered model 'grader-post-1'" in err and "hazard-harness train" in err
    assert not Path("out").exists() and not Path("cache").exists()


def test_run_rejects_a_malformed_graders_option(tiny_yaml, capsys):
    assert main(["run", str(tiny_yaml), "--out", "out", "--graders", "1:3"]) == 2
    assert "--graders must be auto | truth | champion | latest" in capsys.readouterr().err


def test_run_names_the_missing_registered_version(trained, monkeypatch, tiny_yaml, capsys):
    base, _ = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    assert main(["run", str(tiny_yaml), "--out", "out", "--graders", "1=1,2=7"]) == 2
    assert "registered model 'grader-post-2' version '7' not found" in capsys.readouterr().err


@pytest.mark.slow
def test_run_takes_its_levels_from_the_registered_graders(trained, monkeypatch, tiny_yaml):
    base, _ = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    argv = ["run", str(tiny_yaml), "--out", "out", "--graders", "latest", "--workers", "2"]
    assert main([*argv, "--no-progress"]) == 0
    results = json.loads(Path("out/results.json").read_text())
    scenario = sim.load_scenario(tiny_yaml)
    assert results["graders"]["source"] == "registry"
    assert results["graders"]["posts"]["1"]["version"] == "1"
    levels_of = GraderLevels(load_graders(dict.fromkeys(range(1, 5), "1")))
    for record in results["shifts"]:
        states = history_day_states(scenario, record["day"])[(record["day"], record["shift"])]
        expected = levels_of(scenario, record["day"], record["shift"], states)
        assert [p["level"] for p in record["posts"]] == expected.tolist()
        assert [p["true_level"] for p in record["posts"]] == [s.true_level for s in states]
