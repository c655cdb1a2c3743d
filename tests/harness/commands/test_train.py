"""`hazard-harness train`: input checks, a tiny study end to end, registry, determinism, run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import sim
from core.perception import load_model, predict_levels
from harness.adapters.mlflow_registry import load_graders, model_name
from harness.cli import main
from harness.evaluation.graders import GraderLevels
from harness.evaluation.grading_data import (
    history_day_states,
    post_examples,
    shift_change_diff,
    split_days,
)
from tests.harness.conftest import TINY, isolate, write_yaml

TINY_BUDGET = ["--trials", "2", "--epochs", "2", "--augment", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """One CLI train of every post of the tiny scenario (shared by the registry and run tests)."""
    base = tmp_path_factory.mktemp("train")
    mp = pytest.MonkeyPatch()
    isolate(mp, base)
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


@pytest.mark.slow
def test_a_small_study_runs_end_to_end(trained):
    base, code = trained
    assert code == 0
    summary = json.loads((base / "out" / "train.json").read_text())
    assert sorted(summary["posts"]) == ["1", "2", "3", "4"]
    for r in summary["posts"].values():
        assert r["registered_version"] == "1"
        gate = r["champion"]
        assert gate["floor"] >= 0.5 and gate["new_macro_f1"] == r["test"]["macro_f1"]
        if r["test"]["macro_f1"] >= gate["floor"]:
            assert gate["decision"] == "first" and gate["version"] == "1"
        else:  # a useless grader is registered but never crowned
            assert gate["decision"] == "below_floor" and gate["version"] is None
        assert r["trials"]["complete"] + r["trials"]["pruned"] == 2
        assert 0 <= r["test"]["macro_f1"] <= 1
        assert set(r["params"]) == {"channels", "depth", "lr", "batch_size", "input_size"}
    assert (base / "out" / "studies" / "post-1.journal").is_file()
    mlflow.set_tracking_uri(f"sqlite:///{base / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert set(runs["status"]) == {"FINISHED"} and len(runs) == 5


@pytest.mark.slow
def test_each_graders_run_logs_its_loss_and_macro_f1_by_epoch(trained):
    base, _ = trained
    client = MlflowClient(f"sqlite:///{base / 'mlflow.db'}")
    summary = json.loads((base / "out" / "train.json").read_text())
    version = client.get_model_version(model_name(1), "1")
    loss = client.get_metric_history(version.run_id, "train_loss")
    f1 = client.get_metric_history(version.run_id, "val_macro_f1")
    epochs = summary["epochs"]
    assert sorted(m.step for m in loss) == list(range(epochs))  # TINY_BUDGET: 2 epochs
    assert sorted(m.step for m in f1) == [epochs - 1]  # every 2nd epoch and the last
    assert f1[-1].value == pytest.approx(summary["posts"]["1"]["val"]["macro_f1"])


@pytest.mark.slow
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
        clears = float(version.tags["held_out_macro_f1"]) >= float(version.tags["floor"])
        assert version.aliases == (["champion"] if clears else []) and version.tags["grading_key"]
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


@pytest.mark.slow
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


def test_the_floor_is_half_or_the_majority_class_and_a_margin():
    from harness.evaluation.graders import floor, majority_macro_f1

    # always 0 on [0, 0, 0, 1]: F1 of level 0 is 2·0.75/1.75, of level 1 is 0: macro 0.4286
    assert majority_macro_f1(np.array([0, 0, 0, 1])) == pytest.approx(3 / 7)
    assert floor(np.array([0, 0, 0, 1])) == pytest.approx(3 / 7 + 0.1)
    assert floor(np.array([0, 1, 2, 3, 4])) == 0.5  # majority 1/15: the 0.5 wins
    assert floor(np.array([0, 1, 2, 3, 4]), 0.7) == 0.7


@pytest.mark.slow
def test_graders_below_the_floor_never_reach_a_run(trained, monkeypatch, tiny_yaml, capsys):
    """A champion below its floor: `champion` refuses naming the post and the figure, `auto`
    trains the recipe's graders instead."""
    from harness.adapters.mlflow_registry import crown
    from harness.evaluation.graders import grading_key, plan

    base, _ = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{base / 'mlflow.db'}")
    client = MlflowClient()
    saved = {p: dict(client.get_model_version(model_name(p), "1").tags) for p in range(1, 5)}
    key = grading_key(sim.load_scenario(tiny_yaml))
    try:
        for post in range(1, 5):
            crown(post, "1")
            tags = {"held_out_macro_f1": "0.9", "floor": "0.5", "grading_key": key}
            if post == 3:
                tags["held_out_macro_f1"] = "0.12"
            for name, value in tags.items():
                client.set_model_version_tag(model_name(post), "1", name, value)
        assert main(["run", str(tiny_yaml), "--out", "out", "--graders", "champion"]) == 2
        err = capsys.readouterr().err
        assert (
            "post 3's champion: grader-post-3 version 1 has held-out macro-F1 0.120, below "
            "its floor 0.500" in err
        )
        assert not Path("out").exists()
        assert plan("auto", sim.load_scenario(tiny_yaml)).source == "on_demand"
        client.set_model_version_tag(model_name(3), "1", "held_out_macro_f1", "0.6")
        chosen = plan("auto", sim.load_scenario(tiny_yaml))
        assert chosen.source == "registry"
        described = chosen.describe()["posts"]["3"]
        assert described["macro_f1"] == 0.6 and described["floor"] == 0.5
    finally:
        for post, tags in saved.items():
            for name, value in tags.items():
                client.set_model_version_tag(model_name(post), "1", name, value)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_a_registered_grader_loads_and_predicts_in_a_fresh_venv_with_only_its_requirements(
    tmp_path,
):
    """A real venv (no system packages, not this project) gets only the version's logged
    requirements; ``mlflow.pyfunc.load_model`` there predicts what the harness predicts."""
    import subprocess
    import sys

    from core.perception import GradingNet
    from harness.adapters.mlflow_registry import log_grader
    from harness.adapters.mlflow_tracking import tracked_run
    from tests.harness.conftest import REPO

    net = GradingNet(channels=8, depth=2, input_size=32)
    rng = np.random.default_rng(0)
    example = {"diff": rng.integers(0, 256, (6, 48, 48, 3), dtype=np.uint8),
               "env": rng.normal(size=(6, 3))}  # fmt: skip
    with tracked_run(experiment="g", run_name="grader-post-1", params={}, command="train"):
        log_grader(net, post=1, tags={}, input_example=example, metadata={"post": 1})
    model = Path(mlflow.artifacts.download_artifacts("models:/grader-post-1/1",
                                                     dst_path=str(tmp_path / "model")))  # fmt: skip
    for name in ("MLmodel", "requirements.txt", "python_env.yaml", "conda.yaml"):
        text = (model / name).read_text()
        assert str(REPO) not in text and "/tmp/" not in text, name  # no path of this machine
    np.savez(tmp_path / "input.npz", **example)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-r", str(model / "requirements.txt")],
        capture_output=True, text=True, timeout=2000, env=env,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    where = tmp_path / "elsewhere"  # not the repository: `core` is not on the path
    where.mkdir()
    assert subprocess.run([python, "-c", "import core"], cwd=where, env=env,
                          capture_output=True).returncode != 0  # fmt: skip
    script = (
        "import json, sys, mlflow, numpy as np\n"
        "x = dict(np.load(sys.argv[2]))\n"
        "print(json.dumps(mlflow.pyfunc.load_model(sys.argv[1]).predict(x).tolist()))\n"
    )
    done = subprocess.run([python, "-c", script, str(model), str(tmp_path / "input.npz")],
                          cwd=where, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    levels = json.loads(done.stdout.strip().splitlines()[-1])
    assert levels == predict_levels(net, example["diff"], example["env"]).tolist()
