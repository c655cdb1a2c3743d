"""The report: escaped, self-contained, linked decisions with their evidence, --worker pages."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.evaluation.results import (
    CauseResult,
    PostResult,
    RunResult,
    ShiftResult,
    WorkerResult,
)
from harness.outputs import run_report as report
from harness.runtime.errors import HarnessError
from tests.harness.outputs.test_tables import RESULTS

METRICS = {
    "root_cause": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "tp": 1, "fp": 0, "fn": 1,
                   "ci95": [0.4, 0.8], "precision_ci95": [1.0, 1.0], "recall_ci95": [0.2, 0.7],
                   "f1_ci95": [0.4, 0.8]},
    "faults_explained": {"value": 1.0, "explained": 1, "total": 1, "ci95": [1.0, 1.0]},
    "equipment_attribution": {"accuracy": float("nan"), "n": 0, "ci95": None},
    "management": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "auc": 1.0, "ci95": None,
                   "f1_ci95": None, "auc_ci95": None},
    "training": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "auc": float("nan"), "ci95": None,
                 "f1_ci95": None, "auc_ci95": None},
    "level_accuracy": 1.0, "level_confusion": [[1, 0, 0, 0, 0], [0] * 5, [0] * 5,
                                               [0, 0, 0, 1, 0], [0] * 5],
    "worker_shifts": 2, "post_shifts": 2,
}  # fmt: skip


BINS = {"t_min": [0, 1], "rho": [0.5, 0.9], "off_post": [10, 0], "k_share": [1, 1],
        "qbar": [0.9, 1.1], "var": [0.1, 0.2]}  # fmt: skip
EVIDENCE = {
    "worker": "b", "post": 2, "day": 7, "shift": "day", "Z": 0.3, "Y": None, "tau_Z": 0.2,
    "tau_Y": 0.8, "rho_min": 0.3, "T": 120, "rate_hz": 1.0,
    "positions": [[0, 60, 2], [60, 60, 1]], "standard": [[0, 120, 2]],
    "offpost_minutes": 0.5, "bins": BINS, "dwell_s": [0, 60, 60],
    "history": {"Z": [0.0, 0.1], "Y": [1.0, None], "Z_median": 0.05, "Z_p90": 0.09,
                "Y_median": 1.0, "Y_p10": 1.0},
    "database": {"records": 2, "days": [1, 6], "pool": "post"},
}  # fmt: skip
"""One worker-shift's evidence (worker b of :data:`RESULTS`'s shift)."""


def _results(**changes) -> dict:
    """results.json of :data:`RESULTS` with ``changes`` (a dict: tests edit it as JSON)."""
    results = copy.deepcopy(RESULTS.to_json())
    results.update(scenario="tiny", seed=5, fidelity="signal", mlflow_run_id="r1",
                   params={"tau_D": 0.5, "tau_Z": 0.2, "tau_Y": 0.8},
                   graders={"source": "truth", "requested": "truth"}, metrics=METRICS)  # fmt: skip
    results.update(changes)
    return results


def _run(results: dict) -> RunResult:
    """The records of an edited results.json, built as they are (unchecked: crafted values
    must reach the report)."""
    shifts = tuple(
        ShiftResult(**{**s, "posts": tuple(PostResult(**p) for p in s["posts"]),
                       "workers": tuple(WorkerResult(**w) for w in s["workers"]),
                       "root_causes": tuple(CauseResult(**c) for c in s["root_causes"])})
        for s in results["shifts"]
    )  # fmt: skip
    fields = {k: v for k, v in results.items() if k not in ("schema_version", "units")}
    return RunResult(**{**fields, "shifts": shifts})


def test_crafted_fields_are_escaped_not_executed(tmp_path):
    evil = "<script>alert(1)</script>"
    results = _results(fidelity=evil, scenario=evil)
    results["shifts"][0]["root_causes"][0]["reasons"] = [evil]
    results["shifts"][0]["workers"][0]["profile"] = evil
    page = report.write_report(_run(results), tmp_path).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    results["shifts"][0]["shift"] = evil  # names files: refused, never escaped into a name
    with pytest.raises(HarnessError, match="shift must be an id"):
        report.write_report(_run(results), tmp_path)


def test_a_results_json_with_wrong_types_is_refused_in_one_line(tmp_path, capsys):
    results = _results()
    results["shifts"][0]["posts"][0]["set"] = ["<script>alert(1)</script>"]
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shifts.0.posts.0.set.0" in err[0]
    assert not (tmp_path / "report.html").exists()


def test_the_report_links_decisions_and_lists_missed_hazards(tmp_path):
    results = _results()
    results["shifts"][0]["posts"][1]["faults"] = ["sign_missing"]
    results["shifts"][0]["posts"][1]["hazard"] = False
    page = report.write_report(_run(results), tmp_path).read_text()
    assert 'href="#e-d7-day-b"' in page  # b is named a root cause
    assert "Missed hazards" in page and "post 2 (true level 0" in page
    assert 'src="data:image/png;base64,' in page  # figures embedded: MLflow's viewer shows them
    assert "[0.400, 0.800]" in page  # root-cause F1's interval


def dead_links(page: str) -> list[str]:
    """Links of ``page`` that lead nowhere inside it (every link must be an anchor of it)."""
    page = re.sub(r"<script\b.*?</script>", "", page, flags=re.S)  # the markup, not plotly.js
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    links = re.findall(r'\bhref="([^"]*)"', page) + re.findall(r'\bsrc="([^"]*)"', page)
    return [u for u in links if not (u.startswith("#") and u[1:] in ids)
            and not u.startswith("data:")]  # fmt: skip


def test_evidence_sections_show_the_decision_and_its_figures_in_the_one_page(tmp_path):
    evidence = [copy.deepcopy(EVIDENCE)]
    page = report.write_report(_run(_results()), tmp_path, evidence).read_text()
    assert 'id="e-d7-day-b"' in page and 'href="#e-d7-day-b"' in page
    assert "strengthen management" in page and "off_post" in page
    assert page.count('class="plotly-figure"') == 4  # drawn by the page when shown
    assert page.count('id="plotly-js"') == 1  # inlined once: no file beside it, no network
    assert "* plotly.js v" not in page  # gzipped, not the 4.8 MB full bundle as text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*report.PLOTS, "report.html"])
    assert not dead_links(page)


def test_report_of_an_mlflow_run_rebuilds_every_section_it_links(tmp_path, capsys):
    from harness.adapters.mlflow_tracking import log_artifacts, tracked_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(_results()))
    (run / report.EVIDENCE).write_text(json.dumps([EVIDENCE]))
    with tracked_run(experiment="t", run_name="r", params={}, command="test") as run_id:
        log_artifacts(run)
    assert main(["report", run_id, "--out", "rebuilt"]) == 0, capsys.readouterr().err
    page = (tmp_path / "rebuilt" / "report.html").read_text()
    assert 'href="#e-d7-day-b"' in page and 'id="e-d7-day-b"' in page
    assert not dead_links(page)


@pytest.mark.slow
def test_report_worker_recomputes_any_workers_evidence(tmp_path, tiny_yaml):
    assert main(["run", str(tiny_yaml), "--out", "run", "--workers", "2", "--no-progress",
                 "--graders", "truth"]) == 0  # fmt: skip
    results = json.loads(Path("run/results.json").read_text())
    quiet = next(w["worker"] for s in results["shifts"] for w in s["workers"]
                 if not w["management"] and not w["training"])  # fmt: skip
    assert main(["report", "run", "--worker", quiet, "--out", "again"]) == 0
    page = Path("again/report.html").read_text()
    worked = [s for s in results["shifts"] for w in s["workers"] if w["worker"] == quiet]
    assert len(re.findall(f'<section class="evidence" id="e-d[0-9]+-[a-z]+-{quiet}"', page)) == len(
        worked
    )
    assert "named this worker a root cause of no hazard post" in page
    assert not dead_links(page)
    evidence = json.loads(Path("run/evidence.json").read_text())
    for e in evidence:  # the run's evidence agrees with its results
        row = next(w for s in results["shifts"] if (s["day"], s["shift"]) == (e["day"], e["shift"])
                   for w in s["workers"] if w["worker"] == e["worker"])  # fmt: skip
        assert e["Z"] == pytest.approx(row["Z"]) and (e["Y"] is None) == (row["Y"] is None)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Chromium (apt-get install chromium)"
)
def test_a_person_can_click_from_a_shift_to_a_flagged_workers_evidence(tmp_path):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    demo = repo / "experiments/scenarios/demo.yaml"
    assert main(["run", str(demo), "--out", "run", "--workers", "2", "--no-progress",
                 "--graders", "truth"]) == 0  # fmt: skip
    size = Path("run/report.html").stat().st_size
    assert size <= 1_500_000, size  # plotly.js's cartesian bundle, gzipped (the full one: 5 MB)
    script = repo / "experiments/check_report_in_browser.py"
    done = subprocess.run([sys.executable, str(script), "run", "--out", "screens"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert Path("screens/decision.png").stat().st_size > 10_000


def test_figures_name_shifts_in_words_and_count_in_whole_numbers():
    from harness.outputs import plots

    assert report.shift_label(4, "day") == "day 4, day shift"  # not "4 day"
    fig = plots.history_figure(EVIDENCE)  # two database records: counts 0..1
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.dtick == 1 and axis.tick0 == 0
    assert plots.count_ticks([0.5] * 23, bins=20)["dtick"] == 5  # 23 in one bin


@pytest.fixture
def mlflow_server(tmp_path):
    """A real ``mlflow server`` on a free loopback port; its URI. Stopped by its pids."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    import psutil

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a deadline for start-up, not a pace
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(1)
        yield uri
    finally:
        for proc in [*psutil.Process(server.pid).children(recursive=True), server]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        server.wait()


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Chromium (apt-get install chromium)"
)
def test_the_report_reads_the_same_in_mlflows_artifact_view(mlflow_server, tmp_path, monkeypatch):
    """MLflow shows report.html alone in a sandboxed frame: the link to the evidence, the
    evidence and its figures work there, from the page alone, with no network."""
    import subprocess
    import sys

    from harness.adapters.mlflow_tracking import log_artifacts, tracked_run

    run = tmp_path / "run"
    run.mkdir()
    report.write_report(_run(_results()), run, [EVIDENCE])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    with tracked_run(experiment="t", run_name="r", params={}, command="test") as run_id:
        log_artifacts(run)
    script = Path(__file__).resolve().parents[3] / "experiments/check_report_in_browser.py"
    for where in (["--mlflow-run", run_id], [str(run)]):
        done = subprocess.run([sys.executable, str(script), *where, "--out", "screens"],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr


def test_evidence_anchors_are_unique_per_day_shift_and_worker():
    """``a@b`` and ``a_b`` used to share an anchor: a link opened the other's evidence."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    assert report.decision_anchor(7, "day", "a@b") != report.decision_anchor(7, "day", "a_b")
    assert report.decision_anchor(7, "day", "p3-day-1") == "e-d7-day-p3-day-1"  # as before
    ids = st.text(alphabet="ab1_@.-", min_size=1, max_size=5).filter(lambda t: t[0] != ".")
    keys = st.tuples(st.integers(1, 3), ids, ids)

    @settings(max_examples=300, deadline=None)
    @given(keys, keys)
    def distinct(one, other):
        a, b = report.decision_anchor(*one), report.decision_anchor(*other)
        assert (a == b) == (one == other)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", a)  # safe in an id, a URL fragment, CSS

    distinct()
