"""A real ``ray start`` cluster with Ray's default token authentication (the README's recipe)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.cli import main
from tests.harness.conftest import REPO, TINY, write_yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def token_cluster(tmp_path_factory: pytest.TempPathFactory):
    """``ray start --head`` as Ray sets it up by default where a token exists (``ray.init()``
    made one, or ``ray get-auth-token --generate``): token authentication. Its processes are
    stopped by their temp dir, never by ``ray stop`` (other clusters may live here)."""
    temp = tmp_path_factory.mktemp("ray")
    home = tmp_path_factory.mktemp("home")
    port = _free_port()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO)}
    for name in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        env.pop(name, None)  # Ray's defaults: token authentication, a token made in HOME
    ray = shutil.which("ray") or str(Path(sys.executable).parent / "ray")
    subprocess.run(
        [ray, "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=60
    )
    subprocess.run(
        [ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         f"--temp-dir={temp}", "--disable-usage-stats"],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}", (home / ".ray" / "auth_token").read_text().strip()
    finally:
        for proc in psutil.process_iter(["cmdline"]):
            if str(temp) in " ".join(proc.info["cmdline"] or []):
                proc.kill()


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
    monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    code = main(["run", str(scenario), "--out", "o", "--address", address, "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "o" / "results.json").is_file()
