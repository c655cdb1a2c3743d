"""The report: escaped, self-contained, linked decisions with their evidence, --worker pages."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from harness import report
from harness._errors import HarnessError
from harness.cli import main
from tests.harness.test_tables import RESULTS

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
    results = copy.deepcopy(RESULTS)
    results.update(scenario="tiny", seed=5, fidelity="signal", mlflow_run_id="r1",
                   params={"tau_D": 0.5, "tau_Z": 0.2, "tau_Y": 0.8},
                   graders={"source": "truth", "requested": "truth"}, metrics=METRICS)  # fmt: skip
    results.update(changes)
    return results


def test_crafted_fields_are_escaped_not_executed(tmp_path):
    evil = "<script>alert(1)</script>"
    results = _results(fidelity=evil, scenario=evil)
    results["shifts"][0]["root_causes"][0]["reasons"] = [evil]
    results["shifts"][0]["workers"][0]["profile"] = evil
    page = report.write_report(results, tmp_path).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    results["shifts"][0]["shift"] = evil  # names files: refused, never escaped into a name
    with pytest.raises(HarnessError, match="shift must be an id"):
        report.write_report(results, tmp_path)


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
    page = report.write_report(results, tmp_path).read_text()
    assert 'href="decisions/d7-day-b.html"' in page  # b is named a root cause
    assert "Missed hazards" in page and "post 2 (true level 0" in page
    assert 'src="data:image/png;base64,' in page  # figures embedded: MLflow's viewer shows them
    assert "[0.400, 0.800]" in page  # root-cause F1's interval


def test_evidence_pages_show_the_decision_and_its_figures(tmp_path):
    evidence = [copy.deepcopy(EVIDENCE)]
    report.write_report(_results(), tmp_path, evidence)
    page = (tmp_path / "decisions" / "d7-day-b.html").read_text()
    assert "strengthen management" in page and "off_post" in page
    assert page.count('class="plotly-graph-div"') == 4
    assert (tmp_path / "decisions" / "plotly.min.js").stat().st_size > 1_000_000


@pytest.mark.slow
def test_report_worker_recomputes_any_workers_evidence(tmp_path, tiny_yaml):
    assert main(["run", str(tiny_yaml), "--out", "run", "--workers", "2", "--no-progress",
                 "--graders", "truth"]) == 0  # fmt: skip
    results = json.loads(Path("run/results.json").read_text())
    quiet = next(w["worker"] for s in results["shifts"] for w in s["workers"]
                 if not w["management"] and not w["training"])  # fmt: skip
    assert main(["report", "run", "--worker", quiet, "--out", "again"]) == 0
    pages = sorted(Path("again/decisions").glob(f"*{quiet}*.html"))
    worked = [s for s in results["shifts"] for w in s["workers"] if w["worker"] == quiet]
    assert len(pages) == len(worked)
    assert "named this worker a root cause of no hazard post" in pages[0].read_text()
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

    repo = Path(__file__).resolve().parents[2]
    demo = repo / "experiments/scenarios/demo.yaml"
    assert main(["run", str(demo), "--out", "run", "--workers", "2", "--no-progress",
                 "--graders", "truth"]) == 0  # fmt: skip
    script = repo / "experiments/check_report_in_browser.py"
    done = subprocess.run([sys.executable, str(script), "run", "--out", "screens"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert Path("screens/decision.png").stat().st_size > 10_000
