"""Every location on object storage (a real S3 API: moto's server): the cache, a records folder
and the outputs, locally and on a two-node ``ray start`` cluster; the results are those of the
same commands on local folders, and nothing is written to a local folder."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.runtime.storage import MANIFEST, location
from tests.harness.conftest import REPO, S3_SECRET, TINY, comparable, write_yaml
from tests.harness.ray_nodes import free_port, ray_executable, start_node, stop_nodes

OUTPUTS = ("results.json", "evidence.json", "posts.parquet", "workers.parquet",
           "root_causes.parquet", "tables.md", "scenario.yaml", "records.json")  # fmt: skip


def _same_results(remote: dict[str, Any], local: dict[str, Any]) -> None:
    """results.json alike but for run ids, timings and where a records folder was."""
    a, b = comparable(remote), comparable(local)
    if a.get("perception", {}).get("source") == "records":
        assert a["perception"].pop("folder").startswith("s3://")
        b["perception"].pop("folder")
    assert a == b


def _commands(scenario: str, where: str, cache: str, *extra: str) -> dict[str, dict[str, Any]]:
    """A scenario run with the cache in ``cache``, its records exported to ``where``, a run on
    those records, all outputs in ``where``: each run's results.json."""
    common = ["--cache", cache, "--no-progress", *extra]
    assert main(["run", scenario, "--out", f"{where}/sim", "--graders", "truth", *common]) == 0
    assert main(["records", "export", scenario, "--out", f"{where}/records"]) == 0
    assert main(["run", f"{where}/records", "--out", f"{where}/rec", *common]) == 0
    return {run: json.loads(location(f"{where}/{run}/results.json").read_text())
            for run in ("sim", "rec")}  # fmt: skip


def _local_names(folder: Path) -> set[str]:
    """What is under ``folder``, MLflow's own local store aside (its database and, with the
    default tracking URI, its artifact copies: a tracking server keeps them elsewhere)."""
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    return {n for n in names if not n.startswith(("mlruns", "mlflow.db"))}


@pytest.mark.slow
def test_every_location_on_object_storage_gives_the_local_results(
    s3_bucket: str, tmp_path: Path
) -> None:
    scenario = str(write_yaml(tmp_path / "tiny.yaml", TINY))
    local = _commands(scenario, str(tmp_path / "local"), str(tmp_path / "cache"), "--workers", "1")
    before = _local_names(tmp_path)
    remote = _commands(scenario, f"{s3_bucket}/out", f"{s3_bucket}/cache", "--workers", "1")
    for run in ("sim", "rec"):
        _same_results(remote[run], local[run])
        out = location(f"{s3_bucket}/out/{run}")
        listed = json.loads((out / MANIFEST).read_text())["files"]
        for name in ("results.json", "harness.log", "evidence.json"):
            assert S3_SECRET not in (out / name).read_text()
        for name in OUTPUTS:
            if (tmp_path / "local" / run / name).is_file():
                assert name in listed
                if name.endswith(".parquet"):
                    same = (out / name).read_bytes() == (
                        tmp_path / "local" / run / name
                    ).read_bytes()
                    assert same, f"{run}/{name} differs"
    assert remote["rec"]["shifts"] == remote["sim"]["shifts"]  # the records round trip
    assert {c.name for c in location(f"{s3_bucket}/cache").children()} == {"history", "records"}
    # nothing local: no cache folder, no output, no records
    assert _local_names(tmp_path) == before
    assert not Path(".hazard-cache").exists()


@pytest.fixture
def two_nodes(
    tmp_path_factory: pytest.TempPathFactory, s3_bucket: str
) -> Iterator[tuple[str, str]]:
    """A head and a worker node (``ray start``, token authentication, one CPU each, each with
    its own temp dir and working folder), the S3 configuration in their environment the way an
    operator sets it on every node; yields the head's address and the token."""
    home = tmp_path_factory.mktemp("home")
    temps = [tmp_path_factory.mktemp("head"), tmp_path_factory.mktemp("worker")]
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(name, None)
    subprocess.run([ray_executable(), "get-auth-token", "--generate"], env=env, check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    address = f"127.0.0.1:{free_port()}"
    try:
        start_node(["--head", f"--port={address.split(':')[1]}", "--num-cpus=1",
                    "--include-dashboard=false"], env, temps[0])  # fmt: skip
        start_node([f"--address={address}", "--num-cpus=1"], {**env, "RAY_AUTH_MODE": "token"},
                   temps[1])  # fmt: skip
        yield address, (home / ".ray" / "auth_token").read_text().strip()
    finally:
        stop_nodes(temps)


@pytest.mark.slow
def test_a_two_node_cluster_with_every_location_on_object_storage(
    two_nodes: tuple[str, str], s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray tasks on both nodes read and write the history and the records on the store
    themselves; the results are those of a local Ray on local folders."""
    address, token = two_nodes
    scenario = str(write_yaml(tmp_path / "tiny.yaml", TINY))
    local = _commands(scenario, str(tmp_path / "local"), str(tmp_path / "cache"), "--workers", "1")
    before = _local_names(tmp_path)
    monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    remote = _commands(scenario, f"{s3_bucket}/out", f"{s3_bucket}/cache", "--address", address)
    for run in ("sim", "rec"):
        _same_results(remote[run], local[run])
    assert _local_names(tmp_path) == before
