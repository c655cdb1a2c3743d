"""A real ``ray start`` cluster with Ray's default token authentication (the README's recipe)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.cli import main
from tests.harness.conftest import REPO, TINY, write_yaml
from tests.harness.ray_nodes import (
    free_port,
    ray_executable,
    start_node,
    stop_nodes,
    wait_listening,
)


def _start_head(temp: Path, env: dict[str, str], *, client_port: int | None = None) -> str:
    """``ray start --head`` on a free port with its files under ``temp`` (and a Ray client
    server on ``client_port``, listening when this returns); its address."""
    port = free_port()
    client = [f"--ray-client-server-port={client_port}"] if client_port else []
    start_node(["--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false", *client],
               env, temp)  # fmt: skip
    if client_port:
        wait_listening(client_port)
    return f"127.0.0.1:{port}"


@pytest.fixture
def token_cluster(tmp_path_factory: pytest.TempPathFactory):
    """``ray start --head`` as Ray sets it up by default where a token exists (``ray.init()``
    made one, or ``ray get-auth-token --generate``): token authentication. Its processes are
    stopped by their temp dir, never by ``ray stop`` (other clusters may live here)."""
    temp = tmp_path_factory.mktemp("ray")
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(name, None)  # Ray's defaults: token authentication, a token made in HOME
    subprocess.run(
        [ray_executable(), "get-auth-token", "--generate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    address = _start_head(temp, env)
    try:
        yield address, (home / ".ray" / "auth_token").read_text().strip()
    finally:
        stop_nodes([temp])


@pytest.mark.slow
def test_no_address_runs_a_local_ray_beside_a_live_or_dead_ray_start_cluster(
    tmp_path_factory, tiny_yaml, monkeypatch, capsys
):
    """Ray's own auto-detection would join the cluster whose address file ``ray start`` left
    (in ``$RAY_TMPDIR/ray``, here a private one) and fail on ``num_cpus``; no address means a
    local Ray of our own, while the cluster lives and after it died."""
    tmpdir = tmp_path_factory.mktemp("raytmp")
    monkeypatch.setenv("RAY_TMPDIR", str(tmpdir))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    temp = tmpdir / "ray"
    _start_head(temp, env)
    try:
        assert (temp / "ray_current_cluster").is_file()  # what Ray's auto-detection reads
        code = main(["run", str(tiny_yaml), "--out", "live", "--workers", "1", "--no-progress"])
        assert code == 0, capsys.readouterr().err
    finally:
        stop_nodes([temp])
    assert (temp / "ray_current_cluster").is_file()  # left behind by the dead cluster
    code = main(["run", str(tiny_yaml), "--out", "dead", "--workers", "1", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert (Path("live") / "results.json").is_file() and (Path("dead") / "results.json").is_file()


@pytest.mark.slow
def test_a_token_cluster_is_joined_with_its_token_and_refused_without(
    token_cluster, tmp_path, monkeypatch, capsys
):
    address, token = token_cluster
    scenario = write_yaml(tmp_path / "tiny.yaml", TINY)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token for the driver
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    start = time.perf_counter()
    code = main(["run", str(scenario), "--out", "o", "--address", address])
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - start < 30
    assert "requires token authentication and this driver has no token" in err
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-token")
    assert main(["run", str(scenario), "--out", "o", "--address", address]) == 2
    assert "its token was refused" in capsys.readouterr().err
    # A local Ray in the same process first: Ray caches the auth mode and the token it saw
    # then (here the wrong one); joining afterwards must read them afresh.
    code = main(["run", str(scenario), "--out", "local", "--workers", "1", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    code = main(["run", str(scenario), "--out", "o", "--address", address, "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "o" / "results.json").is_file()


@pytest.mark.slow
def test_address_auto_joins_the_recorded_cluster_and_names_a_stopped_one_in_seconds(
    tmp_path_factory, tiny_yaml, monkeypatch, capsys
):
    """``--address auto`` used to hang 12 minutes on a stopped cluster's address file (Ray's
    own search); it is that file's address, probed like HOST:PORT."""
    tmpdir = tmp_path_factory.mktemp("raytmp")
    monkeypatch.setenv("RAY_TMPDIR", str(tmpdir))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))  # no token: no auth
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"}
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    temp = tmpdir / "ray"
    _start_head(temp, env)
    try:
        code = main(["run", str(tiny_yaml), "--out", "live", "--address", "auto", "--no-progress"])
        assert code == 0, capsys.readouterr().err
    finally:
        stop_nodes([temp])
    start = time.perf_counter()
    code = main(["run", str(tiny_yaml), "--out", "dead", "--address", "auto", "--timeout", "3"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and time.perf_counter() - start < 30 and len(lines) == 1, lines
    assert "--address auto:" in lines[0] and "may be stopped" in lines[0]


@pytest.mark.slow
def test_a_ray_client_address_runs(tmp_path_factory, tiny_yaml, monkeypatch, capsys):
    """``ray://`` used to end in "cannot pickle 'module' object" (the packages went as
    modules through Ray's runtime-env hook, which copies its argument)."""
    tmpdir = tmp_path_factory.mktemp("raytmp")
    monkeypatch.setenv("RAY_TMPDIR", str(tmpdir))
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    temp = tmpdir / "ray"
    port = free_port()
    _start_head(temp, env, client_port=port)
    try:
        code = main(["run", str(tiny_yaml), "--out", "o", "--address", f"ray://127.0.0.1:{port}",
                     "--workers", "1", "--no-progress"])  # fmt: skip
        assert code == 0, capsys.readouterr().err
    finally:
        stop_nodes([temp])
    assert (Path("o") / "results.json").is_file()
