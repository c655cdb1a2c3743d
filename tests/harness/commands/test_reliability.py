"""Reliability: bad input rejected before any work, identical results on a multi-node
cluster and after a worker is killed."""

from __future__ import annotations

import pytest
import ray

from harness.cli import main
from harness.commands.preflight import ComputeOptions
from harness.commands.run import make_config, run
from harness.runtime.inputs import load_scenario_file
from harness.runtime.interrupts import ENV_FAULT
from tests.harness.conftest import comparable, tiny_scenario, write_yaml

BAD_SCENARIOS = [
    ({"line": {"posts": 0, "correlation": "chain"}}, "line.posts"),
    ({"line": {"posts": 4, "corelation": "chain"}}, "line.corelation"),
    ({"shifts": {"per_day": 3, "length_s": 900, "rate_hz": 1.0, "breaks": []}}, "shifts.per_day"),
    ({"shifts": {"per_day": 1, "length_s": 900, "rate_hz": -1.0, "breaks": []}}, "shifts.rate_hz"),
    (
        {"shifts": {"per_day": 1, "length_s": 900, "rate_hz": 1.0, "breaks": [[800, 1000]]}},
        "shifts.breaks",
    ),
    (
        {"workers": {"per_post": 1, "cast": [{"post": 9, "profile": "novice"}]}},
        "workers.cast[0].post",
    ),
    (
        {"workers": {"per_post": 1, "cast": [{"post": 1, "profile": "wandrer"}]}},
        "did you mean 'wanderer'",
    ),
    ({"seed": "seven"}, "seed"),
    ({"fidelity": "pixels"}, "fidelity"),
]


@pytest.mark.parametrize(("change", "expected"), BAD_SCENARIOS)
def test_bad_scenario_is_rejected_before_ray_starts(change, expected, tmp_path, capsys):
    path = write_yaml(tmp_path / "bad.yaml", tiny_scenario(**change))
    code = main(["run", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert expected in err and err.startswith("hazard-harness run: error: scenario")
    assert len(err.splitlines()) == 1
    assert not ray.is_initialized()
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lam: 2.0\n", "ModelParams.lam must be in [0.0, 1.0], got 2.0"),
        (
            "tau_z: 0.3\n",
            "tau_z: unknown key, expected one of ['tau_D', 'lam', 'tau_P', "
            "'direction', 'rho_min', 'eps', 'tau_Z', 'tau_Y', 'alpha', "
            "'history_pool', 'history_window_days', 'proficiency_seconds']; did you mean 'tau_Z'?",
        ),
        ("direction: sideways\n", "ModelParams.direction must be one of"),
        ("- 1\n- 2\n", "must hold a mapping of parameters, got list"),
        ("lam: [\n", "is not valid YAML"),
    ],
)
def test_bad_params_file_is_rejected(text, expected, tiny_yaml, tmp_path, capsys):
    (tmp_path / "params.yaml").write_text(text)
    code = main(
        [
            "run",
            str(tiny_yaml),
            "--out",
            str(tmp_path / "out"),
            "--params",
            str(tmp_path / "params.yaml"),
        ]
    )
    assert code == 2
    assert expected in capsys.readouterr().err
    assert not ray.is_initialized()


def test_missing_scenario_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


@pytest.mark.slow
def test_multi_node_cluster_gives_identical_results(tiny_yaml, tmp_path):
    from ray.cluster_utils import Cluster

    two = ComputeOptions(workers=2, progress=False)
    local = run(make_config(tiny_yaml, tmp_path / "local", compute=two))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        remote = run(
            make_config(
                tiny_yaml,
                tmp_path / "cluster",
                compute=ComputeOptions(address=cluster.address, workers=2, progress=False),
            )
        )
        assert not ray.is_initialized()  # the driver disconnected; the cluster stays up
    finally:
        cluster.shutdown()
    assert comparable(remote) == comparable(local)


@pytest.mark.slow
def test_killed_worker_is_retried_and_results_are_identical(tmp_path, monkeypatch):
    path = write_yaml(tmp_path / "s.yaml", tiny_scenario(days={"history": 4, "evaluate": 4}))
    two = ComputeOptions(workers=2, progress=False)
    clean = run(make_config(path, tmp_path / "clean", compute=two, graders="truth"))
    marker = tmp_path / "killed-once"
    # the first scoring task to start kills its own worker (SIGKILL); Ray retries it
    monkeypatch.setenv(ENV_FAULT, f"task:SIGKILL:{marker}")
    config = make_config(path, tmp_path / "chaos", compute=two, graders="truth")
    chaos = run(config)
    assert marker.exists(), "no scoring task reached the fault hook"
    assert chaos["shifts"] == clean["shifts"]


def test_an_out_folder_on_a_virtual_file_system_is_refused_with_the_reason(tiny_yaml, capsys):
    assert main(["run", str(tiny_yaml), "--out", "/proc/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "hazard-harness run: error: --out '/proc/x' cannot be written: '/proc' accepts no new "
        "files (a virtual file system such as /proc or /sys, not storage); choose a folder on a "
        "writable disk"
    )


@pytest.mark.slow
def test_commands_starting_on_a_fresh_mlflow_store_do_not_race(tmp_path):
    """Without the lock two of three processes died: ``table latest_metrics already exists``."""
    import os
    import subprocess
    import sys

    from tests.harness.conftest import REPO

    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'fresh.db'}",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    code = (
        "from harness.adapters.mlflow_tracking import recover_stale_runs\n"
        "recover_stale_runs()"
    )  # what every command's tracked_run does first (the store made under its lock)
    starts = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE,
                               text=True) for _ in range(3)]  # fmt: skip
    errors = [p.communicate(timeout=300)[1] for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0], errors


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_an_unusable_onnx_graph_is_said_once_and_recorded(damage, tmp_path, caplog):
    import shutil

    from core.perception import onnx_path
    from harness.evaluation.fidelities import Fidelities
    from harness.evaluation.pixels import check_keypoint_weights, onnx_fallback
    from harness.weights import DEFAULT_KEYPOINT_WEIGHTS

    weights = tmp_path / DEFAULT_KEYPOINT_WEIGHTS.name
    for source in DEFAULT_KEYPOINT_WEIGHTS.parent.glob(f"{DEFAULT_KEYPOINT_WEIGHTS.stem}.*"):
        shutil.copy(source, tmp_path / source.name)
    if damage == "missing":
        onnx_path(weights).unlink()
    else:
        onnx_path(weights).write_bytes(b"\x00" * 64)
    onnx_fallback.cache_clear()
    check_keypoint_weights(weights)
    notices = [r.getMessage() for r in caplog.records if "ONNX graph is not used" in r.message]
    assert len(notices) == 1 and str(weights) in notices[0]
    scenario = load_scenario_file(write_yaml(tmp_path / "s.yaml", tiny_scenario()))
    described = Fidelities("pixel", weights=str(weights)).describe(scenario)
    assert "ONNX graph" in described["onnx_fallback"] or "sha256" in described["onnx_fallback"]
    shipped = Fidelities("pixel", weights=str(DEFAULT_KEYPOINT_WEIGHTS)).describe(scenario)
    assert shipped["onnx_fallback"] is None
