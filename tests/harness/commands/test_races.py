"""Races and resumes, ordered through hooks, never by timing.

A command is held at a moment by ``HAZARD_HARNESS_FAULT=<moment>:WAIT:<file>`` (it writes
``<file>.reached`` and waits for ``<file>``), so a second command starts while the first is
exactly there: two commands on a fresh MLflow store (both succeed), two drivers of one study
on every storage kind (one runs, the other is refused in one line naming the holder), a study
resumed after an interrupt or after optuna-dashboard wrote to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from harness.adapters.optuna_studies import complete
from harness.runtime.interrupts import ENV_FAULT
from tests.harness.conftest import REPO, TUNE_TINY, write_yaml

pytestmark = pytest.mark.slow


def _env(base: Path, fault: str = "") -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "MLFLOW_TRACKING_URI": f"sqlite:///{base / 'mlflow.db'}",
           "HAZARD_HARNESS_CACHE": str(base / "cache")}  # fmt: skip
    env.pop("RAY_ADDRESS", None)
    env.pop(ENV_FAULT, None)
    if fault:
        env[ENV_FAULT] = fault
    return env


def _tune(base: Path, out: str, *extra: str, fault: str = "") -> subprocess.Popen:
    scenario = write_yaml(base / "tiny.yaml", TUNE_TINY)
    argv = [sys.executable, "-m", "harness", "tune", str(scenario), "--out", out, "--workers",
            "1", "--graders", "truth", "--batch-size", "2", "--no-progress", *extra]  # fmt: skip
    return subprocess.Popen(argv, cwd=base, env=_env(base, fault), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def _reached(marker: Path, proc: subprocess.Popen) -> None:
    """Wait until ``proc`` is held at its moment (a deadline against a broken test, not a pace)."""
    deadline = time.monotonic() + 300
    while not marker.with_name(marker.name + ".reached").exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the command never reached its moment"
        time.sleep(0.05)


def test_two_commands_on_a_fresh_mlflow_store_both_succeed(tmp_path):
    """The second waits for the first's creation of the store's tables (no "table …
    already exists", no Alembic "expected to match one row")."""
    first, second = tmp_path / "first", tmp_path / "second"
    a = _tune(tmp_path, "a", "--trials", "2", "--study", "a", "--storage", "a.journal",
              fault=f"store:WAIT:{first}")  # fmt: skip
    _reached(first, a)  # a holds the fresh store's lock, its tables not made yet
    b = _tune(tmp_path, "b", "--trials", "2", "--study", "b", "--storage", "b.journal",
              fault=f"store_wait:WAIT:{second}")  # fmt: skip
    _reached(second, b)  # b found the store being created
    first.touch()
    second.touch()
    for proc in (a, b):
        code, err = _finish(proc)
        assert code == 0 and "Traceback" not in err, err[-3000:]
    assert (tmp_path / "a" / "tune.json").is_file() and (tmp_path / "b" / "tune.json").is_file()


STORAGES = {
    "journal": lambda t: ("s.journal", "s.journal"),
    "hard link": lambda t: ("s.journal", (t / "s.journal", t / "link.journal")),
    "symlink": lambda t: ("s.journal", (t / "s.journal", t / "sym.journal")),
    "sqlite": lambda t: (f"sqlite:///{t / 'o.db'}", f"sqlite:///{t / 'o.db'}"),
}


@pytest.mark.parametrize("kind", list(STORAGES))
def test_two_drivers_of_one_study_one_runs_the_other_is_refused_naming_it(tmp_path, kind):
    first_storage, second = STORAGES[kind](tmp_path)
    held = tmp_path / "held"
    a = _tune(tmp_path, "a", "--trials", "4", "--study", "s", "--storage", first_storage,
              fault=f"trials:WAIT:{held}")  # fmt: skip
    _reached(held, a)  # a drives the study, between two batches
    if isinstance(second, tuple):  # another path to the same journal
        target, path = second
        path.hardlink_to(target) if kind == "hard link" else path.symlink_to(target)
        second = str(path)
    started = time.monotonic()
    b = _tune(tmp_path, "b", "--trials", "4", "--study", "s", "--storage", second)
    code, err = _finish(b)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err[-3000:]
    assert f"pid {a.pid}" in lines[0], lines[0]  # the holder, named
    assert time.monotonic() - started < 120  # refused, not left waiting
    assert not (tmp_path / "b").exists()
    held.touch()
    code, err = _finish(a)
    assert code == 0, err[-3000:]
    storage = first_storage if "://" in first_storage else str(tmp_path / first_storage)
    if "://" not in storage:
        from harness.adapters.optuna_storage import open_storage

        storage = open_storage(storage).storage
    assert optuna.get_all_study_names(storage) == ["s"]  # one study, no lock left behind


def test_a_study_resumes_after_optuna_dashboard_wrote_a_note(tmp_path):
    """optuna-dashboard writes a note (study system attributes) and user attributes through
    Optuna's API; the journal guard used to call that tampering and refuse to resume."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    code, err = _finish(_tune(tmp_path, "a", "--trials", "2", "--study", "s"))
    assert code == 0, err[-3000:]
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "optuna.journal")))
    study = optuna.load_study(study_name="s", storage=storage)
    storage.set_study_system_attr(study._study_id, "dashboard:note_ver", 1)
    storage.set_study_system_attr(study._study_id, "dashboard:note_str:0", "looks good")
    study.set_user_attr("reviewer", "ana")
    code, err = _finish(_tune(tmp_path, "b", "--trials", "4", "--study", "s"))
    assert code == 0, err[-3000:]
    study = optuna.load_study(study_name="s", storage=storage)
    assert study.user_attrs["reviewer"] == "ana"
    assert len(complete(study)) == 4  # the study's trials; each finished tune adds one mark


@pytest.mark.parametrize("moment", ["store", "trials"])
def test_an_interrupted_study_always_resumes(tmp_path, moment):
    """SIGINT while the MLflow store is first made (its tables then complete) or between two
    batches; the resumed command runs the study to its end."""
    code, err = _finish(_tune(tmp_path, "a", "--trials", "4", "--study", "s",
                              fault=f"{moment}:SIGINT"))  # fmt: skip
    assert code == 130 and err.strip().splitlines()[-1].endswith("interrupted by SIGINT"), err
    code, err = _finish(_tune(tmp_path, "a", "--trials", "4", "--study", "s"))
    assert code == 0 and "Traceback" not in err, err[-3000:]
    study = optuna.load_study(
        study_name="s", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna.journal")))
    )  # fmt: skip
    assert len(complete(study)) == 4  # the study's trials; each finished tune adds one mark
