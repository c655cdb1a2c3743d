"""Reliability: bad input rejected before any work, identical results on a multi-node
cluster and after a worker is killed, and an interrupted run leaves nothing half-written."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import ray

from harness.cli import main
from harness.run import evaluate, make_config, run
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
        ("tau_z: 0.3\n", "unknown model parameter(s) ['tau_z']"),
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


def test_multi_node_cluster_gives_identical_results(tiny_yaml, tmp_path):
    from ray.cluster_utils import Cluster

    local = run(make_config(tiny_yaml, tmp_path / "local", workers=2, progress=False))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        cluster.wait_for_nodes()
        remote = run(
            make_config(
                tiny_yaml, tmp_path / "cluster", address=cluster.address, workers=2, progress=False
            )
        )
        assert not ray.is_initialized()  # the driver disconnected; the cluster stays up
    finally:
        cluster.shutdown()
    assert comparable(remote) == comparable(local)


def _kill_one_scoring_worker(stop: threading.Event, killed: list[int]) -> None:
    """Kill the first Ray worker seen running a scoring task (SIGKILL), once."""
    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if "score_units" in cmd:
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(proc.info["pid"])
                return
        time.sleep(0.005)


def test_killed_worker_is_retried_and_results_are_identical(tmp_path):
    # longer shifts so that scoring tasks live long enough to be caught
    path = write_yaml(tmp_path / "s.yaml", tiny_scenario(
        shifts={"per_day": 2, "length_s": 7200, "rate_hz": 1.0, "breaks": []},
        days={"history": 4, "evaluate": 8},
    ))  # fmt: skip
    clean = run(make_config(path, tmp_path / "clean", workers=2, progress=False))
    config = make_config(path, tmp_path / "chaos", workers=2, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        stop, killed = threading.Event(), []
        killer = threading.Thread(target=_kill_one_scoring_worker, args=(stop, killed))
        killer.start()
        records = evaluate(config)
        stop.set()
        killer.join()
    finally:
        ray.shutdown()
    assert killed, "no scoring worker was caught running"
    assert records == clean["shifts"]


def test_sigterm_leaves_no_partial_output_and_marks_the_run_killed(tiny_yaml, tmp_path):
    out = tmp_path / "out"
    db = tmp_path / "mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(tiny_yaml), "--out", str(out), "--no-progress"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not _run_statuses(db):
        time.sleep(0.2)
    time.sleep(1.0)  # inside the run: Ray starting or scoring
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    # 130: our handler (KeyboardInterrupt); 15: Ray's, if the signal came while Ray started
    assert proc.returncode in (130, 15), err.decode()[-2000:]
    assert _run_statuses(db) == ["KILLED"]
    assert not (out / "results.json").exists()
    assert not list(tmp_path.glob(".out.partial-*"))


def _run_statuses(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return [row[0] for row in conn.execute("select status from runs")]
    except sqlite3.OperationalError:
        return []
