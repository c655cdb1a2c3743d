"""The keypoint training command: resumable, deterministic, weights with metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import harness.training.keypoints as hp

TINY = {
    "steps": 4,
    "seed": 1,
    "batch_size": 4,
    "channels": (4, 8),
    "input_size": 32,
    "checkpoint_every": 2,
    "eval_frames": 8,
    "progress": False,
}


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch) -> None:
    hp.train_keypoints(tmp_path / "full", **TINY)
    real_batch, calls = hp.keypoint_batch, []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_batch(*args, **kwargs)

    monkeypatch.setattr(hp, "keypoint_batch", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        hp.train_keypoints(tmp_path / "resumed", **TINY)
    monkeypatch.setattr(hp, "keypoint_batch", real_batch)
    assert torch.load(tmp_path / "resumed" / hp.CHECKPOINT_NAME, weights_only=True)["step"] == 2
    metadata = hp.train_keypoints(tmp_path / "resumed", **TINY)
    full = load_file(str(tmp_path / "full" / hp.WEIGHTS_NAME))
    resumed = load_file(str(tmp_path / "resumed" / hp.WEIGHTS_NAME))
    for key, value in full.items():
        torch.testing.assert_close(resumed[key], value)
    assert metadata["steps"] == 4 and set(metadata["metrics"]) == {"pck", "oks_ap"}


def test_a_checkpoint_of_another_run_is_refused_not_resumed(tmp_path, capsys) -> None:
    """Another seed's (or network's, or schedule's) checkpoint used to be "resumed" into a
    mixed network (PCK 0.01); it is refused before any work, naming what differs."""
    from harness.cli import main
    from harness.runtime.errors import HarnessError

    out = tmp_path / "net"
    hp.train_keypoints(out, **{**TINY, "steps": 2})
    with pytest.raises(HarnessError, match=r"another training run \(steps 2; this one: steps 4\)"):
        hp.train_keypoints(out, **TINY)
    code = main(["perception", "train", "--out", str(out), "--steps", "2", "--seed", "0",
                 "--batch-size", "4", "--channels", "4,8"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert (
        "seed 1, steps 2" not in err[0]
        and "input_size 32, seed 1; this one: input_size 64, seed 0" in err[0]
    )
    before = torch.load(out / hp.CHECKPOINT_NAME, weights_only=True)
    state = {k: v for k, v in before.items() if k != "run"}  # an older harness's checkpoint
    torch.save(state, out / hp.CHECKPOINT_NAME)
    with pytest.raises(HarnessError, match="did not record its settings"):
        hp.train_keypoints(out, **{**TINY, "steps": 2})


@pytest.mark.slow
def test_training_with_a_data_worker_gives_the_same_weights(tmp_path) -> None:
    hp.train_keypoints(tmp_path / "inline", **TINY)
    hp.train_keypoints(tmp_path / "worker", **TINY, data_workers=1)
    inline = load_file(str(tmp_path / "inline" / hp.WEIGHTS_NAME))
    worker = load_file(str(tmp_path / "worker" / hp.WEIGHTS_NAME))
    for key, value in inline.items():
        torch.testing.assert_close(worker[key], value)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_a_batch_of_fewer_frames_than_render_groups_is_rendered(n: int) -> None:
    """Batches below the four render groups (``perception train --batch-size 2``) used to fail
    in a reshape of an empty group."""
    frames, people = hp.rendered_people(np.random.default_rng(0), n)
    assert frames.shape == (n, 240, 320, 3) and people.shape == (n, 3, 14, 2)
    assert not np.isnan(people[:, 0]).any()  # every frame has its target worker


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"steps": 0}, "steps"), ({"lr": float("nan")}, "lr"), ({"data_workers": -1}, "data_workers"),
     ({"device": "tpu"}, "device")],
)  # fmt: skip
def test_bad_training_settings_are_refused_before_work(tmp_path, kwargs, name) -> None:
    settings = {**TINY, **kwargs}
    with pytest.raises(ValueError, match=name):
        hp.train_keypoints(tmp_path / "bad", **settings)
    assert not (tmp_path / "bad").exists()


def test_the_shipped_weights_load_verified_and_find_keypoints_on_held_out_frames() -> None:
    from core.perception import keypoint_runner
    from harness.weights import DEFAULT_KEYPOINT_WEIGHTS

    runner = keypoint_runner(DEFAULT_KEYPOINT_WEIGHTS, device="cpu")  # checks both sha256s
    assert runner.runtime == "onnxruntime"
    scores = hp.evaluate_keypoints(runner, seed=hp.EVAL_SEED_OFFSET + 12345, n_frames=24)
    assert scores["pck"] >= 0.9


@pytest.mark.slow
def test_perception_eval_writes_the_table(tmp_path: Path, tiny_keypoint_weights: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    out = tmp_path / "eval"
    args = ["--out", str(out), "--weights", str(tiny_keypoint_weights), "--posts", "2"]
    args += ["--length-s", "60", "--frames", "32", "--grading-days", "8"]
    args += ["--grading-seconds", "1"]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "perception", "eval", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    table = json.loads((out / "perception.json").read_text())
    for key in ("pck", "oks_ap", "speed_median_rel_err", "area_accuracy", "grading_macro_f1",
                "frames_per_s", "frames_per_cpu_s", "lk_vs_dense_cost"):  # fmt: skip
        assert key in table


def test_perception_eval_without_weights_fails_before_any_work(tmp_path, capsys) -> None:
    from harness.cli import main

    missing = tmp_path / "none.safetensors"
    code = main(["perception", "eval", "--out", str(tmp_path / "out"), "--weights", str(missing)])
    err = capsys.readouterr().err
    assert code == 2
    assert "none.safetensors' are missing" in err and "perception train --out" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_perception_train_is_a_tracked_run_with_its_weights(tmp_path: Path) -> None:
    import sqlite3

    from harness.cli import main

    argv = ["perception", "train", "--out", "k", "--steps", "3", "--batch-size", "4",
            "--channels", "4,8", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    with sqlite3.connect(tmp_path / "mlflow.db") as conn:
        runs = conn.execute("select run_uuid, status, name from runs").fetchall()
        ((run_id, status, name),) = runs
        metrics = {k for (k,) in conn.execute("select key from metrics where run_uuid = ?",
                                              (run_id,))}  # fmt: skip
    assert status == "FINISHED" and name == "perception-train-seed0"
    assert "final_loss" in metrics
    assert (tmp_path / "k" / hp.WEIGHTS_NAME).is_file()
    assert (tmp_path / "k" / "harness.log").is_file()
