"""One console policy: every command and script, piped (as ``| cat`` or a CI log), prints only
the harness's own lines: no library progress bars, notices, registry chatter or run links."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.adapters import mlflow_tracking
from harness.runtime import logs
from tests.harness.conftest import REPO, TINY, TUNE_TINY, isolate, write_yaml

LIBRARY_LINES = re.compile(
    r"Downloading artifacts|Uploading artifacts|Successfully registered model|Created version"
    r"|View run|View experiment|INFO|\r|it/s\]|s/it\]|%\|"
)
"""What libraries print on their own: MLflow's bars, registry messages and links, INFO
records, tqdm frames (carriage returns, rates)."""


def piped(*argv: str, script: Path | None = None, timeout: int = 600) -> str:
    """A command (or an experiments script) with stdout and stderr pipes; both, checked ok."""
    head = [sys.executable, str(script)] if script else [sys.executable, "-m", "harness.cli"]
    done = subprocess.run(
        [*head, *argv], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def library_lines(out: str) -> list[str]:
    return [line for line in out.split("\n") if LIBRARY_LINES.search(line)]


def test_mlflows_own_prints_go_to_the_log_not_the_console(tmp_path, capfd):
    from mlflow.utils.logging_utils import eprint

    logs.configure(verbose=False)
    mlflow_tracking.adopt_mlflow()
    with logs.log_to(tmp_path):
        eprint("Successfully registered model 'grader-post-1'.")
    assert capfd.readouterr().err == ""
    assert (
        "Successfully registered model 'grader-post-1'." in (tmp_path / logs.LOG_NAME).read_text()
    )
    logs.configure(verbose=True)
    eprint("Created version '1' of model 'grader-post-1'.")
    assert "Created version '1'" in capfd.readouterr().err  # -v: library notices shown
    logs.configure(verbose=False)
    logging.getLogger("mlflow").handlers.clear()


@pytest.mark.slow
def test_report_of_an_mlflow_run_piped_prints_only_its_path(tmp_path):
    from harness.adapters.mlflow_tracking import log_artifacts, tracked_run
    from tests.harness.outputs.test_report import EVIDENCE, _results

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(_results()))
    (run / "evidence.json").write_text(json.dumps([EVIDENCE]))
    with tracked_run(experiment="t", run_name="r", params={}, command="test") as run_id:
        log_artifacts(run)
    out = piped("report", run_id, "--out", "rebuilt")
    assert out.strip() == f"report: {Path('rebuilt') / 'report.html'}"


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory):
    """A working folder whose MLflow holds graders of every tiny post (``train``, piped)."""
    base = tmp_path_factory.mktemp("console")
    mp = pytest.MonkeyPatch()
    isolate(mp, base)
    try:
        scenario = write_yaml(base / "tiny.yaml", TINY)
        out = piped("train", str(scenario), "--out", "graders", "--posts", "all", "--trials", "1",
                    "--epochs", "2", "--augment", "1", "--workers", "2")  # fmt: skip
        yield base, out
    finally:
        mp.undo()


@pytest.mark.slow
def test_train_and_run_with_registered_graders_piped_print_no_library_lines(
    registered, monkeypatch
):
    base, train_out = registered
    monkeypatch.chdir(base)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    monkeypatch.setenv("HAZARD_HARNESS_CACHE", str(base / "cache"))
    assert not library_lines(train_out) and "grader-post-4 v1" in train_out
    assert "Successfully registered model" in (base / "graders" / logs.LOG_NAME).read_text()
    # latest: the tiny budget leaves these graders below their floor, so none is champion
    run_out = piped("run", "tiny.yaml", "--out", "run", "--graders", "latest", "--workers", "2")
    assert not library_lines(run_out) and "root-cause F1" in run_out
    run_id = json.loads((base / "run" / "results.json").read_text())["mlflow_run_id"]
    report_out = piped("report", run_id, "--out", "again")
    assert not library_lines(report_out)


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ["run", "tiny.yaml", "--out", "o", "--graders", "auto", "--workers", "2"],
        ["stress", "--posts", "3", "--days", "1", "--length-s", "300", "--history-days", "1",
         "--workers", "1", "--no-baseline", "--out", "s"],
        ["tune", "tiny.yaml", "--out", "t", "--trials", "4", "--batch-size", "2", "--workers",
         "1", "--graders", "truth"],
        ["perception", "train", "--out", "k", "--steps", "3", "--batch-size", "4",
         "--channels", "4,8"],
    ],
    ids=["run", "stress", "tune", "perception-train"],
)  # fmt: skip
def test_commands_piped_print_no_library_lines(argv, tmp_path):
    write_yaml(tmp_path / "tiny.yaml", TINY)
    assert not library_lines(piped(*argv))


@pytest.mark.slow
def test_the_ablation_script_piped_prints_its_table_only(tmp_path):
    scenario = write_yaml(tmp_path / "tiny.yaml", TUNE_TINY)
    script = REPO / "experiments" / "ablation" / "ablate_reconstructed.py"
    out = piped(str(scenario), "--out", "ablation", script=script)
    assert not library_lines(out) and "table: ablation/ablation.csv" in out


@pytest.mark.slow
def test_records_fit_piped_prints_its_verdict_only(tmp_path):
    import sim
    from harness.records import export_scenario

    export_scenario(sim.load_scenario(TINY), tmp_path / "rec")
    out = piped("records", "fit", "rec", "--out", "twin.yaml", "--workers", "2")
    assert not library_lines(out) and "posts match the records" in out
