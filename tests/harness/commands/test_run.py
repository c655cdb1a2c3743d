"""`hazard-harness run` end to end on a tiny scenario: outputs, MLflow, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from harness.adapters.mlflow_store import tracking_uri
from harness.cli import main
from harness.commands.preflight import ComputeOptions
from harness.commands.report import sources_lines
from harness.commands.run import make_config, run
from harness.evaluation.fidelities import Fidelities, MixedSource
from harness.evaluation.pixels import weights_sha256
from tests.harness.conftest import comparable, isolate

POST_KEYS = {"post", "level", "true_level", "D", "hazard", "set"}
WORKER_KEYS = {"worker", "post", "Z", "Y", "management", "training", "checked"}
CAUSE_KEYS = {"hazard_post", "post", "worker", "reasons"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, int]:
    """One CLI run of the tiny scenario with 2 workers (shared by the schema tests)."""
    from tests.harness.conftest import TINY, write_yaml

    base = tmp_path_factory.mktemp("run")
    mp = pytest.MonkeyPatch()
    isolate(mp, base)
    try:
        scenario = write_yaml(base / "tiny.yaml", TINY)
        code = main(
            ["run", str(scenario), "--out", str(base / "out"), "--workers", "2", "--no-progress"]
        )
        results = json.loads((base / "out" / "results.json").read_text())
    finally:
        mp.undo()
    return base, results, code


def test_results_json_follows_the_contract(tiny_run):
    _, results, code = tiny_run
    assert code == 0
    assert results["scenario"] == "tiny" and results["seed"] == 5
    assert results["fidelity"] == "signal"
    assert set(results["params"]) == {
        "tau_D",
        "lam",
        "tau_P",
        "direction",
        "rho_min",
        "eps",
        "tau_Z",
        "tau_Y",
        "alpha",
        "history_pool",
        "history_window_days",
        "proficiency_seconds",
    }
    assert isinstance(results["mlflow_run_id"], str) and results["mlflow_run_id"]
    assert results["units"]["params.eps"] == "speed, pixels per second (px/s)"  # names its units
    assert [(s["day"], s["shift"]) for s in results["shifts"]] == [
        (7, "day"), (7, "night"), (8, "day"), (8, "night"), (9, "day"), (9, "night"),
    ]  # fmt: skip
    for shift in results["shifts"]:
        assert [p["post"] for p in shift["posts"]] == [1, 2, 3, 4]
        for p in shift["posts"]:
            assert set(p) >= POST_KEYS
            assert p["hazard"] == (p["D"] > results["params"]["tau_D"])
            assert (p["post"] in p["set"]) == p["hazard"]
        for w in shift["workers"]:
            assert set(w) >= WORKER_KEYS
            assert w["management"] == (w["Z"] > results["params"]["tau_Z"])
            assert w["training"] == (w["Y"] is not None and w["Y"] < results["params"]["tau_Y"])
        checked = {w["worker"] for w in shift["workers"] if w["checked"]}
        for c in shift["root_causes"]:
            assert set(c) >= CAUSE_KEYS and c["worker"] in checked
            assert set(c["reasons"]) <= {"off_post", "low_proficiency"}
        flagged = {c["hazard_post"] for c in shift["root_causes"]}
        hazards = {p["post"] for p in shift["posts"] if p["hazard"]}
        assert set(shift["equipment_causes"]) == hazards - flagged


def test_metrics_and_files(tiny_run):
    base, results, _ = tiny_run
    m = results["metrics"]
    assert 0 <= m["root_cause"]["f1"] <= 1
    assert m["worker_shifts"] == 4 * 6 and m["post_shifts"] == 4 * 6
    assert results["graders"]["source"] == "on_demand"  # the default: DNN graders
    assert 0 <= m["level_accuracy"] <= 1
    out = base / "out"
    for name in (
        "posts.parquet",
        "workers.parquet",
        "report.html",
        "scenario.yaml",
        "z_by_label.png",
    ):
        assert (out / name).is_file(), name
    workers = pd.read_parquet(out / "workers.parquet")
    assert len(workers) == 24 and {"day", "shift", "Z", "Y"} <= set(workers.columns)
    assert "root-cause F1" in (out / "report.html").read_text()
    assert not list(base.glob(".out.partial-*"))


def test_mlflow_run_is_finished_with_metrics_and_artifacts(tiny_run):
    base, results, _ = tiny_run
    mlflow.set_tracking_uri(f"sqlite:///{base / 'mlflow.db'}")
    run_ = mlflow.get_run(results["mlflow_run_id"])
    assert run_.info.status == "FINISHED"
    assert run_.data.params["model.tau_D"] == "0.5"
    assert run_.data.metrics["root_cause.f1"] == pytest.approx(
        results["metrics"]["root_cause"]["f1"]
    )
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_.info.run_id)}
    assert {"results.json", "report.html", "scenario.yaml"} <= names
    tags = run_.data.tags  # MLflow's own source fields, which its UI and search read
    assert tags["mlflow.source.name"] == "hazard-harness run"
    assert tags["mlflow.source.type"] == "LOCAL"
    commit = results["code"]["hazard_harness.git_commit"].removesuffix("-dirty")
    assert tags["mlflow.source.git.commit"] == commit and len(commit) == 40


@pytest.mark.slow
def test_same_results_with_one_and_two_workers(tiny_run, tiny_yaml, tmp_path):
    _, two, _ = tiny_run
    one = run(
        make_config(tiny_yaml, tmp_path / "one", compute=ComputeOptions(workers=1, progress=False))
    )
    assert comparable(one) == comparable(two)


@pytest.mark.slow
def test_params_file_changes_decisions(tiny_yaml, tmp_path):
    (tmp_path / "p.yaml").write_text("tau_Z: 0.0\ntau_Y: 10.0\n")
    results = run(
        make_config(
            tiny_yaml,
            tmp_path / "o",
            params_path=tmp_path / "p.yaml",
            compute=ComputeOptions(workers=2, progress=False),
            graders="truth",
        )
    )
    assert results["params"]["tau_Z"] == 0.0
    assert all(w["training"] for s in results["shifts"] for w in s["workers"] if w["Y"] is not None)


def test_report_rebuilds_from_folder_and_from_mlflow_run(tiny_run, tmp_path, monkeypatch, capsys):
    base, results, _ = tiny_run
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    assert main(["report", str(base / "out"), "--out", str(tmp_path / "a")]) == 0
    assert "Scenario tiny" in (tmp_path / "a" / "report.html").read_text()
    assert main(["report", results["mlflow_run_id"], "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "report.html").is_file()
    assert tracking_uri().endswith("mlflow.db")
    assert main(["report", "no-such-run"]) == 2
    assert "neither a run folder nor an MLflow run" in capsys.readouterr().err


@pytest.mark.slow
def test_stress_reports_throughput_latency_memory_and_scaling(tmp_path, capsys):
    code = main(["stress", "--posts", "4", "--days", "2", "--length-s", "600", "--history-days", "2",
                 "--workers", "2", "--out", str(tmp_path / "stress"), "--no-progress"])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "stress" / "stress.json").read_text())
    assert report["post_shifts"] == 4 * 2
    assert report["throughput_post_shifts_per_s"] > 0
    assert report["latency_p50_s"] <= report["latency_p90_s"] <= report["latency_p99_s"]
    assert report["worker_peak_rss_mb"] > 0 and report["driver_peak_rss_mb"] > 0
    assert report["scaling_efficiency"] > 0 and report["throughput_one_worker"] > 0
    timings = report["timings"]  # the fixed part and the work, adding up to the total
    fixed = ("start_s", "setup_s", "ray_start_s", "ray_shutdown_s")
    assert timings["fixed_s"] == pytest.approx(sum(timings[k] for k in fixed))
    work = ("history_build_s", "scoring_s", "decide_s", "baseline_s")
    assert 0 < timings["fixed_s"] + sum(timings[k] for k in work) <= timings["total_s"]
    assert (tmp_path / "stress" / "stress.png").is_file()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["hazard-harness/stress"])
    assert list(runs["status"]) == ["FINISHED"]
    assert "stress report:" in capsys.readouterr().out


@pytest.mark.slow
def test_run_at_pixel_fidelity_end_to_end(
    tmp_path: Path, tiny_keypoint_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.harness.conftest import tiny_scenario, write_yaml

    # Ray's workers import this checkout's packages, whatever checkout is installed.
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[3]))

    data = tiny_scenario(
        line={"posts": 3, "correlation": "chain"},
        shifts={"per_day": 2, "length_s": 150, "rate_hz": 1.0, "breaks": [[60, 80]]},
        days={"history": 2, "evaluate": 2},
        workers={"per_post": 1},
        equipment={"fault_rate": 0.2},
        environment=None,
        fidelity="pixel",
    )
    data.pop("environment")
    scenario = write_yaml(tmp_path / "pixel.yaml", data)
    config = make_config(
        scenario, tmp_path / "out", keypoint_weights=tiny_keypoint_weights,
        compute=ComputeOptions(workers=1, progress=False), graders="truth",
        history_fidelity="pixel", cache_dir=tmp_path / "c",
    )  # fmt: skip
    results = run(config)
    assert results["fidelity"] == "pixel"
    assert len(results["shifts"]) == 4
    assert all(len(s["posts"]) == 3 for s in results["shifts"])
    p = results["perception"]
    assert p["history"] == "pixel" and p["evaluated_days"] == {"pixel": [3, 4], "signal": []}
    assert p["keypoint_weights_sha256"] == weights_sha256(tiny_keypoint_weights)
    # The pixel history is stored apart from the signal one, tagged by weights and alpha.
    (stored,) = (tmp_path / "c" / "history").iterdir()
    assert stored.name.endswith(f"-pixel-{p['keypoint_weights_sha256'][:12]}-a0.05")


def test_pixel_days_send_the_first_evaluated_days_through_the_pixel_path(
    tmp_path: Path, tiny_keypoint_weights: Path
) -> None:
    """The mixed source routes by day; results.json says which days took which path."""
    from tests.harness.conftest import TINY, write_yaml

    scenario = write_yaml(tmp_path / "t.yaml", TINY)
    config = make_config(scenario, tmp_path / "out", keypoint_weights=tiny_keypoint_weights,
                         pixel_days=1, graders="truth",
                         compute=ComputeOptions(progress=False))  # fmt: skip
    sc = config.scenario
    first, *rest = sc.evaluate_days
    source = config.fidelities.evaluation_source()
    assert isinstance(source, MixedSource) and source.days == {first}
    described = config.fidelities.describe(sc)
    assert described["evaluated_days"] == {"pixel": [first], "signal": rest}
    results = {"fidelity": sc.fidelity, "perception": described}
    assert Fidelities.of_results(sc.fidelity, described) == config.fidelities
    lines = sources_lines({"graders": {"source": "truth"}, **results})
    assert f"pixel path (keypoint network {tiny_keypoint_weights.name}" in lines[1]
    assert f"on day(s) {first};" in lines[1] and "post databases: signal model" in lines[1]


@pytest.mark.parametrize(
    "kwargs",
    [{"fidelity": "pixel"}, {"history_fidelity": "pixel"}, {"pixel_days": 1}],
)
def test_pixel_fidelity_without_weights_fails_before_any_work(tmp_path: Path, kwargs) -> None:
    from harness.runtime.errors import HarnessError
    from tests.harness.conftest import TINY, write_yaml

    scenario = write_yaml(tmp_path / "t.yaml", TINY)
    with pytest.raises(HarnessError, match="perception train"):
        make_config(scenario, tmp_path / "out", keypoint_weights=tmp_path / "none.safetensors",
                    **kwargs)  # fmt: skip
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_post_database_of_other_people_separates_the_day_one_cast(tmp_path):
    """Issue 9's goal at MODEL.md's defaults on day-one.yaml: the AUC of Z >= 0.95, and −Y
    separates the novices from the normal workers (AUC >= 0.95). Over every worker the AUC of
    −Y is lower (0.87 since the signal fidelity carries the pixel path's speed error): a
    wanderer's off-post seconds lower its Y to the novices' (MODEL.md's Y counts them)."""
    from sklearn.metrics import roc_auc_score

    scenario = Path(__file__).resolve().parents[3] / "experiments/scenarios/day-one.yaml"
    results = run(make_config(scenario, tmp_path / "o", graders="truth",
                              compute=ComputeOptions(workers=2, progress=False)))  # fmt: skip
    assert results["metrics"]["management"]["auc"] >= 0.95
    workers = [w for s in results["shifts"] for w in s["workers"] if w["profile"] != "wanderer"]
    trained = [w["needs_training"] for w in workers]
    assert roc_auc_score(trained, [-w["Y"] for w in workers]) >= 0.95
    assert results["params"]["history_pool"] == "post"


@pytest.mark.slow
@pytest.mark.parametrize("pool", ["post", "post_shift"])
def test_rolling_window_results_do_not_depend_on_the_workers(tiny_yaml, tmp_path, pool):
    params = tmp_path / "p.yaml"
    params.write_text(f"history_pool: {pool}\nhistory_window_days: 4\n")

    def results(workers: int) -> dict:
        config = make_config(tiny_yaml, tmp_path / f"o{workers}",
                             compute=ComputeOptions(workers=workers, progress=False),
                             params_path=params, graders="truth")  # fmt: skip
        return run(config)

    one, two = results(1), results(2)
    assert comparable(one) == comparable(two)
    assert one["params"]["history_pool"] == pool
