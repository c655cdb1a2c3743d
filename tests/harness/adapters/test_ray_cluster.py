"""The Ray adapter's arguments to ``ray.init`` (the real Ray runs in the run and cluster tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from harness.adapters.ray_cluster import init_arguments


def test_no_address_starts_a_local_ray_of_its_own_never_a_found_cluster():
    kwargs = init_arguments(None, 2)
    assert kwargs["address"] == "local"  # Ray's auto-detection (address None/"auto") never runs
    assert kwargs["num_cpus"] == 2


def test_an_address_is_joined_with_the_projects_packages_and_no_local_resources():
    kwargs = init_arguments("head:6379", 4)
    assert kwargs["address"] == "head:6379"
    assert "num_cpus" not in kwargs  # Ray refuses resources when joining a cluster
    packages = kwargs["runtime_env"]["py_modules"]  # folders: a Ray client copies runtime_env
    assert all(isinstance(p, str) for p in packages)
    assert {Path(p).name for p in packages} == {"core", "sim", "harness"}


def _bad_input(calls: str) -> None:
    """Task: count its runs, then fail as bad input does."""
    from harness.runtime.errors import HarnessError

    with open(calls, "a") as f:
        f.write("x")
    raise HarnessError("seconds/post-1.parquet: column `speed_head`: NaN throughout")


def _bug(calls: str) -> None:
    with open(calls, "a") as f:
        f.write("x")
    raise ValueError("array of sample points is empty\nand more lines")


@pytest.mark.slow
def test_an_error_inside_a_task_is_one_line_and_never_retried(tmp_path):
    """A deterministic error in a task was retried and reported as a 300-character
    RayTaskError; bad input reads as on the driver, anything else as its first line."""
    from harness.adapters.ray_cluster import TaskFailed, gather, ray_session, submit
    from harness.runtime.errors import HarnessError

    with ray_session(address=None, workers=1, timeout=10):
        with pytest.raises(HarnessError) as info:
            gather([submit(_bad_input, str(tmp_path / "a"))])
        assert not isinstance(info.value, TaskFailed)
        assert str(info.value) == "seconds/post-1.parquet: column `speed_head`: NaN throughout"
        with pytest.raises(TaskFailed) as failed:
            gather([submit(_bug, str(tmp_path / "b"))])
    assert str(failed.value) == "a Ray task failed: ValueError: array of sample points is empty"
    assert (tmp_path / "a").read_text() == "x" and (tmp_path / "b").read_text() == "x"


def _one() -> int:
    return 1


@pytest.mark.slow
def test_a_refused_ray_client_leaves_this_process_able_to_start_ray():
    """A Ray client that could not connect (one make test-all: its server failed to start)
    left the process in client mode; every later ``ray.init`` in it failed (24 tests)."""
    from harness.adapters.ray_cluster import gather, ray_session, start, submit
    from tests.harness.ray_nodes import free_port

    with pytest.raises(ConnectionError):  # nothing listens: Ray's client gives up (30 s)
        start(f"ray://127.0.0.1:{free_port()}", None)
    with ray_session(address=None, workers=1, timeout=10):
        assert gather([submit(_one)]) == [1]


TIMED_OUT = (
    "The current node timed out during startup. This could happen because some of the raylet "
    "failed to startup or the GCS has become overloaded."
)  # what Ray said when its raylet died at start (once in a make test-all)


def _failing_init(monkeypatch, fails: int, spawned: list[subprocess.Popen]) -> list[dict]:
    """Make the first ``fails`` calls of ``ray.init`` leave a process behind and fail as a
    node that timed out does; later calls start Ray. Returns the calls' arguments."""
    import ray

    real, calls = ray.init, []

    def init(**kwargs):
        calls.append(kwargs)
        if len(calls) > fails:
            return real(**kwargs)
        # stands in for the failed node's GCS, which kept running until pytest ended
        spawned.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
        raise Exception(TIMED_OUT)

    monkeypatch.setattr(ray, "init", init)
    return calls


def _stopped(process: subprocess.Popen) -> bool:
    try:
        return psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_a_local_ray_that_timed_out_is_stopped_and_started_afresh(monkeypatch, caplog):
    from harness.adapters.ray_cluster import gather, ray_session, submit

    spawned: list[subprocess.Popen] = []
    calls = _failing_init(monkeypatch, 1, spawned)
    with ray_session(address=None, workers=1, timeout=10):
        assert gather([submit(_one)]) == [1]
    assert len(calls) == 2 and calls[0] == calls[1]
    assert _stopped(spawned[0])
    assert "the local Ray did not start (The current node timed out" in caplog.text


def test_a_local_ray_that_fails_twice_is_one_clear_error(monkeypatch):
    from harness.adapters.ray_cluster import ray_session
    from harness.runtime.errors import HarnessError

    spawned: list[subprocess.Popen] = []
    calls = _failing_init(monkeypatch, 2, spawned)
    match = r"the local Ray did not start in 2 tries: The current node timed out"
    with pytest.raises(HarnessError, match=match), ray_session(address=None, workers=1, timeout=10):
        pass
    assert len(calls) == 2
    assert all(_stopped(p) for p in spawned)


def test_a_cluster_that_refuses_is_not_tried_again(monkeypatch):
    import ray

    from harness.adapters.ray_cluster import start

    calls = []

    def init(**kwargs):
        calls.append(kwargs)
        raise ConnectionError("Failed to connect to Ray cluster at head:6379")

    monkeypatch.setattr(ray, "init", init)
    with pytest.raises(ConnectionError):
        start("head:6379", None)
    assert len(calls) == 1
