"""Interrupts at every moment of a command end it cleanly: MLflow run KILLED, no staged output,
exit 128 + signal, one line; a SIGKILLed run is marked FAILED by the next command.

Moments are hit through the fault hook (``HAZARD_HARNESS_FAULT=<moment>:<SIGNAL>``), never by
timing.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from harness.adapters.mlflow_store import tracking_uri
from harness.adapters.mlflow_tracking import TAG_NOTE, recover_stale_runs
from harness.cli import main
from harness.runtime import interrupts
from tests.harness.conftest import REPO, TINY, TUNE_TINY, write_yaml


def test_a_signal_raises_interrupted_once_and_later_ones_are_only_reported(capsys):
    with pytest.raises(interrupts.Interrupted) as info, interrupts.handle_signals():
        os.kill(os.getpid(), signal.SIGTERM)
    assert info.value.signum == signal.SIGTERM and info.value.exit_code == 143
    with interrupts.handle_signals():
        try:
            os.kill(os.getpid(), signal.SIGHUP)
        except interrupts.Interrupted:
            os.kill(os.getpid(), signal.SIGINT)  # during cleanup: no second exception
            os.kill(os.getpid(), signal.SIGINT)
    assert capsys.readouterr().err.count("received again; still cleaning up") == 1
    assert signal.getsignal(signal.SIGTERM) is not interrupts._handler  # restored


def test_the_fault_hook_fires_at_its_moment_only(monkeypatch, tmp_path):
    monkeypatch.setenv(interrupts.ENV_FAULT, "writing:SIGTERM")
    with interrupts.handle_signals():
        interrupts.checkpoint("scoring")  # another moment: nothing
        with pytest.raises(interrupts.Interrupted):
            interrupts.checkpoint("writing")
    marker = tmp_path / "once"
    monkeypatch.setenv(interrupts.ENV_FAULT, f"task:SIGUSR1:{marker}")
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda *a: seen.append(1))
    try:
        interrupts.checkpoint("task")
        interrupts.checkpoint("task")  # the marker exists: fires once
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert seen == [1] and marker.exists()
    monkeypatch.setenv(interrupts.ENV_FAULT, "nowhere:SIGTERM")
    with pytest.raises(ValueError, match="must be <moment>:<SIGNAL>"):
        interrupts.checkpoint("task")


def _statuses(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("select status from runs")]


def _run_with_fault(
    tmp_path: Path, fault: str, *extra: str, command: str = "run"
) -> subprocess.CompletedProcess:
    scenario = write_yaml(tmp_path / "tiny.yaml", TUNE_TINY if command == "tune" else TINY)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "HAZARD_HARNESS_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": str(REPO),
        interrupts.ENV_FAULT: fault,
    }
    env.pop("RAY_ADDRESS", None)
    argv = [sys.executable, "-m", "harness.cli", command, str(scenario), "--out", "out", *extra]
    return subprocess.run(
        [*argv, "--workers", "1", "--graders", "truth"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def _assert_clean_interrupt(
    tmp_path: Path, done: subprocess.CompletedProcess, sig: int, command: str = "run"
) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 128 + sig, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith(f"hazard-harness {command}: interrupted by"), lines
    statuses = _statuses(tmp_path / "mlflow.db")  # tune: the study's run and finished trials
    assert statuses[0] == "KILLED" and "RUNNING" not in statuses, statuses
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "sig"),
    [("ray_start", signal.SIGINT), ("writing", signal.SIGTERM)],
)
def test_run_interrupted_at_a_moment_ends_killed_and_leaves_nothing(tmp_path, moment, sig):
    done = _run_with_fault(tmp_path, f"{moment}:{signal.Signals(sig).name}")
    _assert_clean_interrupt(tmp_path, done, sig)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "tune"])
def test_sigterm_while_ray_shuts_down_is_an_interrupt_not_a_death(tmp_path, command):
    """Ray's driver used to reset SIGTERM to its default action while shutting down (exit -15,
    staging folder left, MLflow run RUNNING)."""
    extra = ("--trials", "2", "--storage", str(tmp_path / "s.journal")) if command == "tune" else ()
    done = _run_with_fault(tmp_path, "ray_shutdown:SIGTERM", *extra, command=command)
    _assert_clean_interrupt(tmp_path, done, signal.SIGTERM, command)


def test_a_signal_while_held_is_raised_when_the_block_ends():
    finished = []
    with (
        pytest.raises(interrupts.Interrupted) as info,
        interrupts.handle_signals(),
        interrupts.held(),
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        with interrupts.held():  # nested: still held until the outer block ends
            os.kill(os.getpid(), signal.SIGINT)  # a second signal: reported only
        finished.append(1)
    assert finished == [1] and info.value.signum == signal.SIGTERM


@pytest.mark.slow
@pytest.mark.parametrize(
    "moment", ["ray_start", "history", "scoring", "writing", "logging", "ray_shutdown"]
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_every_moment_and_signal(tmp_path, moment, sig):
    done = _run_with_fault(tmp_path, f"{moment}:{signal.Signals(sig).name}")
    _assert_clean_interrupt(tmp_path, done, sig)


@pytest.mark.slow
def test_an_interrupted_run_reruns_to_identical_results(tmp_path):
    import json

    done = _run_with_fault(tmp_path, "scoring:SIGTERM")
    assert done.returncode == 143
    rerun = _run_with_fault(tmp_path, "")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    first = json.loads((tmp_path / "out" / "results.json").read_text())
    (tmp_path / "out").rename(tmp_path / "first")
    again = _run_with_fault(tmp_path, "")
    assert again.returncode == 0
    second = json.loads((tmp_path / "out" / "results.json").read_text())
    drop = ("mlflow_run_id", "timings")
    assert {k: v for k, v in first.items() if k not in drop} == {
        k: v for k, v in second.items() if k not in drop
    }


@pytest.mark.slow
def test_a_sigkilled_run_is_marked_failed_by_the_next_command(tmp_path, monkeypatch):
    done = _run_with_fault(tmp_path, "ray_start:SIGKILL")
    assert done.returncode == -signal.SIGKILL
    assert _statuses(tmp_path / "mlflow.db") == ["RUNNING"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    stale = recover_stale_runs()  # what every command's tracked_run does first
    assert len(stale) == 1 and _statuses(tmp_path / "mlflow.db") == ["FAILED"]
    mlflow.set_tracking_uri(tracking_uri())
    assert "ended without closing it" in mlflow.get_run(stale[0]).data.tags[TAG_NOTE]
    assert recover_stale_runs() == []  # a live or finished run is left alone


def test_interrupted_maps_to_one_line_and_128_plus_signal(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise interrupts.Interrupted(signal.SIGHUP)

    monkeypatch.setattr("harness.commands.run.make_config", interrupted)
    assert main(["run", "x.yaml", "--out", "o"]) == 129
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["hazard-harness run: interrupted by SIGHUP"]


def test_an_interrupt_ray_re_raised_as_a_plain_keyboardinterrupt_keeps_its_signal(
    monkeypatch, capsys
):
    """``ray.get``/``ray.wait`` turn the handler's Interrupted into a bare KeyboardInterrupt
    (an interrupted ``train`` in its studies exited 130 with a generic line)."""

    def blocked_in_ray(*args, **kwargs):
        with interrupts.handle_signals():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
            except interrupts.Interrupted:
                raise KeyboardInterrupt from None  # what Ray raises instead

    monkeypatch.setattr("harness.commands.train.make_train_config", blocked_in_ray)
    assert main(["train", "x.yaml", "--out", "o"]) == 143
    assert capsys.readouterr().err.strip().splitlines() == [
        "hazard-harness train: interrupted by SIGTERM"
    ]

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt  # no handler of ours saw it: the generic line

    monkeypatch.setattr("harness.commands.train.make_train_config", ctrl_c)
    assert main(["train", "x.yaml", "--out", "o"]) == 130
    assert capsys.readouterr().err.strip() == "hazard-harness: interrupted"


@pytest.mark.slow
def test_a_signal_while_the_driver_waits_on_ray_is_an_interrupt(tmp_path):
    from harness.adapters.ray_cluster import gather, ray_session, submit

    with pytest.raises(KeyboardInterrupt) as info, interrupts.handle_signals():  # noqa: SIM117
        with ray_session(address=None, workers=1, timeout=10):
            gather([submit(_signal_the_driver, os.getpid())])
    assert interrupts.taken(info.value).signum == signal.SIGTERM


def _signal_the_driver(pid: int) -> None:
    """Task: SIGTERM the driver, then hold until the driver stops waiting."""
    import time

    os.kill(pid, signal.SIGTERM)
    time.sleep(30)


def test_staging_folders_of_dead_processes_are_removed_by_the_next_command(tmp_path):
    from harness.runtime.staging import remove_orphans, staged

    dead = tmp_path / ".out.partial-999999999"
    dead.mkdir()
    (dead / "results.json").write_text("{}")
    other = tmp_path / ".other-run.partial-999999998"  # another output folder's
    other.mkdir()
    reused = tmp_path / f".third.partial-{os.getppid()}"  # its pid now names a newer process
    reused.mkdir()
    os.utime(reused, (0, 0))
    live = tmp_path / f".fourth.partial-{os.getppid()}x"  # not a staging folder's name
    live.mkdir()
    working = tmp_path / f".fifth.partial-{os.getppid()}"
    mine = tmp_path / f".out.partial-{os.getpid()}"
    with staged(tmp_path / "out") as staging:
        assert staging == mine and staging.is_dir()
        assert not dead.exists() and not other.exists() and not reused.exists()
        assert live.exists()
        working.mkdir()  # a live process's (started before its folder): kept
        assert remove_orphans(tmp_path / "x") == [] and working.exists()
        (staging / "a.txt").write_text("a")
    assert (tmp_path / "out" / "a.txt").read_text() == "a" and not mine.exists()
    assert remove_orphans(tmp_path / "out") == []


def test_progress_bars_are_drawn_only_on_a_terminal(capsys):
    from harness.runtime.progress import progress_bar

    with progress_bar(total=3, desc="x", enabled=True) as bar:
        bar.update(3)
    assert capsys.readouterr().err == ""  # pytest's stderr is not a terminal


@pytest.mark.parametrize(
    ("command", "sig"),
    [("run", signal.SIGINT), ("run", signal.SIGHUP), *((c, signal.SIGTERM) for c in
     ("run", "tune", "train", "stress", "report", "records"))],
)  # fmt: skip
def test_an_interrupt_at_the_first_instruction_is_128_plus_n(tmp_path, command, sig):
    """SIGTERM in a command's first second used to kill it with −15 (the handlers were
    installed late): they are the command line's first instruction."""
    env = {**os.environ, "PYTHONPATH": str(REPO), interrupts.ENV_FAULT: f"start:{sig.name}"}
    done = subprocess.run(
        [sys.executable, "-m", "harness", command, "x.yaml", "--out", "o"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 128 + sig, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [f"hazard-harness: interrupted by {sig.name}"]
    assert not list(tmp_path.iterdir())  # nothing written


def test_hazard_harness_and_python_m_harness_are_the_same_command_line():
    runs = [
        subprocess.run([*argv, "--version"], capture_output=True, text=True, cwd=REPO, timeout=60)
        for argv in ([sys.executable, "-m", "harness"], [sys.executable, "-m", "harness.cli"])
    ]
    assert runs[0].returncode == runs[1].returncode == 0
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.startswith("hazard-harness ")
