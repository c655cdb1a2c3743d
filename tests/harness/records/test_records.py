"""Plant records: export, the round trip through ``run``, unlabelled folders, bad records."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sim
from harness.cli import main
from harness.commands.preflight import ComputeOptions
from harness.commands.run import make_config, run
from harness.records import MAX_NAN_RUN_S, export_scenario, load, read_post
from harness.records._format import TRAIT_COLUMNS
from tests.harness.conftest import TINY, comparable, write_yaml

POST1 = "seconds/post-00001.parquet"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny scenario exported once as a records folder (read-only for the tests)."""
    folder = tmp_path_factory.mktemp("records") / "tiny"
    export_scenario(sim.load_scenario(TINY), folder)
    return folder


@pytest.fixture
def records_copy(exported: Path, tmp_path: Path) -> Path:
    """A copy of the exported folder a test may damage."""
    return Path(shutil.copytree(exported, tmp_path / "rec"))


def test_export_writes_the_documented_folder(exported: Path) -> None:
    manifest = json.loads((exported / "records.json").read_text())
    assert manifest["format_version"] == 1 and manifest["line"]["posts"] == 4
    assert [s["name"] for s in manifest["shifts"]] == ["day", "night"]
    seconds = pq.read_table(exported / POST1)
    assert seconds.num_rows == 9 * 2 * 900  # 9 days × 2 shifts × T, one worker a post-shift
    assert {"day", "shift", "post", "worker", "t", "area", "speed_head"} <= set(
        seconds.column_names
    )
    levels = pd.read_parquet(exported / "levels.parquet")
    assert len(levels) == 9 * 2 * 4 and levels["level"].between(0, 4).all()
    workers = pd.read_parquet(exported / "labels" / "workers.parquet")
    assert workers["true_needs_management"].any() and workers["true_needs_training"].any()
    assert main(["records", "check", str(exported)]) == 0


def test_export_takes_a_path_given_as_text_and_refuses_a_scenario_path(
    exported: Path, tmp_path: Path
) -> None:
    scenario = sim.load_scenario(TINY)
    summary = export_scenario(scenario, str(tmp_path / "as-text"))
    assert summary["out"] == str(tmp_path / "as-text")
    for name in ("records.json", "levels.parquet", POST1):
        assert (tmp_path / "as-text" / name).read_bytes() == (exported / name).read_bytes(), name
    with pytest.raises(TypeError, match=r"`scenario` must be a sim.Scenario .* got str"):
        export_scenario("tiny.yaml", tmp_path / "never")  # type: ignore[arg-type]
    assert not (tmp_path / "never").exists()


def test_the_worker_labels_carry_each_simulated_trait(exported: Path) -> None:
    """One label column per field of sim.Traits, written from the simulated worker's spec."""
    assert list(TRAIT_COLUMNS) == [f.name for f in dataclasses.fields(sim.Traits)]
    row = pq.read_table(exported / "labels" / "workers.parquet").to_pylist()[-1]
    scenario = sim.load_scenario(TINY)
    (worker,) = sim.simulate_workers(
        scenario, post=int(row["post"]), day=int(row["day"]), shift=str(row["shift"])
    )
    assert worker.spec is not None and row["worker"] == worker.spec.worker
    for trait, column in TRAIT_COLUMNS.items():
        assert row[column.name] == getattr(worker.spec, trait), trait


@pytest.mark.slow
def test_round_trip_reproduces_the_scenario_run_with_true_levels(
    exported: Path, tmp_path: Path
) -> None:
    """records export → run on the folder == run SCENARIO --graders truth (records, metrics,
    evidence)."""
    scenario = write_yaml(tmp_path / "tiny.yaml", TINY)
    one = ComputeOptions(workers=1, progress=False)
    simulated = run(make_config(scenario, tmp_path / "sim", graders="truth", compute=one))
    recorded = run(make_config(exported, tmp_path / "rec", compute=one))
    assert recorded["shifts"] == simulated["shifts"]
    assert recorded["metrics"] == simulated["metrics"]
    assert recorded["metrics"]["root_cause"]["tp"] > 0  # the test has culprits to find
    evidence = [json.loads((tmp_path / d / "evidence.json").read_text()) for d in ("sim", "rec")]
    assert evidence[0] == evidence[1] and evidence[0]
    assert recorded["fidelity"] == "records" and recorded["perception"]["labelled"]
    assert recorded["graders"]["source"] == "records"
    assert (tmp_path / "rec" / "records.json").is_file()
    same = {k: v for k, v in comparable(recorded).items() if k not in ("fidelity", "graders",
                                                                      "perception")}  # fmt: skip
    assert same == {k: v for k, v in comparable(simulated).items() if k in same}


@pytest.mark.slow
def test_records_without_labels_run_with_metrics_unavailable(
    records_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(records_copy / "labels")
    out = tmp_path / "out"
    code = main(["run", str(records_copy), "--out", str(out), "--workers", "1", "--no-progress"])
    assert code == 0
    assert "metrics unavailable" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["metrics"]["available"] is False
    assert "root_cause" not in results["metrics"]  # unavailable, never zero
    assert results["metrics"]["worker_shifts"] == 3 * 2 * 4
    post = results["shifts"][0]["posts"][0]
    assert post["true_level"] is None and post["true_D"] is None and post["culprits"] == []
    worker = results["shifts"][0]["workers"][0]
    assert worker["needs_management"] is None and worker["Z"] >= 0
    assert any(rec["root_causes"] for rec in results["shifts"])  # decisions are made
    for name in ("posts.parquet", "workers.parquet", "root_causes.parquet", "report.html"):
        assert (out / name).is_file()
    assert pd.read_parquet(out / "posts.parquet")["true_level"].isna().all()
    assert "no labels" in (out / "report.html").read_text()
    assert json.loads((out / "evidence.json").read_text())
    assert main(["run", str(records_copy), "--out", str(tmp_path / "t"), "--graders",
                 "truth"]) == 2  # fmt: skip
    assert "no labels" in capsys.readouterr().err


# --- bad records: one line naming the file, the column and the rows ------------------------


def _edit(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> None:
    """Rewrite a Parquet table through pandas (types kept where the change keeps them)."""
    frame = pd.read_parquet(path)
    changed = change(frame)
    frame = frame if changed is None else changed
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _set(column: str, rows: slice, value: object) -> Callable[[pd.DataFrame], None]:
    def change(frame: pd.DataFrame) -> None:
        values = frame[column].to_numpy().copy()
        values[rows] = value
        frame[column] = values

    return change


def _swap_t(frame: pd.DataFrame) -> None:
    t = frame["t"].to_numpy().copy()
    t[[10, 11]] = t[[11, 10]]
    frame["t"] = t


def _manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        data = json.loads((folder / "records.json").read_text())
        change(data)
        (folder / "records.json").write_text(json.dumps(data))

    return apply


def _table(name: str, change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> Callable:
    return lambda folder: _edit(folder / name, change)


BAD: list[tuple[str, Callable[[Path], None], str]] = [
    ("missing column", _table(POST1, lambda f: f.drop(columns=["speed_head"])),
     rf"{POST1}: column `speed_head` is missing"),
    ("wrong dtype", _table(POST1, lambda f: f.assign(area=f["area"].astype(float))),
     rf"{POST1}: column `area` must be integers, got double"),
    ("unsorted seconds", _table(POST1, _swap_t),
     rf"{POST1}: column `t` rows 10–11: unsorted worker-seconds"),
    ("duplicate seconds", _table(POST1, _set("t", slice(21, 22), 20)),
     rf"{POST1}: column `t` rows 20–21: duplicate worker-seconds"),
    ("post outside the line", _table(POST1, _set("post", slice(100, 105), 9)),
     rf"{POST1}: column `post` rows 100–104: post 9 is outside the line 1..4"),
    ("area outside 0..n", _table(POST1, _set("area", slice(30, 33), 5)),
     rf"{POST1}: column `area` rows 30–32: area id 5 is outside 0..4"),
    ("negative speed", _table(POST1, _set("speed_l_wrist", slice(7, 8), -2.0)),
     rf"{POST1}: column `speed_l_wrist` row 7: negative speed -2"),
    ("shift longer than the manifest's",
     _manifest(lambda d: [s.update(length_s=899) for s in d["shifts"]]),
     rf"{POST1}: column `t` row 899: t = 899 .* longer than the manifest's shift day"),
    ("seconds missing", _table(POST1, lambda f: f.drop(index=[50]).reset_index(drop=True)),
     rf"{POST1}: column `t` rows 49–50: worker 'p1-day-1' day 1 shift day has 899 of its 900"),
    ("NaN run over the limit", _table(POST1, _set("speed_head", slice(100, 161), np.nan)),
     rf"{POST1}: column `speed_head` rows 100–160: NaN \(unseen\) for 61 samples"),
    ("labels name an unknown worker",
     _table("labels/workers.parquet", _set("worker", slice(3, 4), "ghost")),
     r"labels/workers.parquet: row 3 names worker 'ghost' on day 2, shift night, post 1"),
    ("a culprit nobody recorded",
     _table("labels/posts.parquet", lambda f: f.assign(faults=[
         [{"kind": "guard_missing", "severity": 4, "cause": "worker", "culprits": ["ghost"]}]
         if k == 0 else v for k, v in enumerate(f["faults"])])),
     r"labels/posts.parquet: column `faults` row 0: culprit 'ghost'"),
    ("level outside 0..4", _table("levels.parquet", _set("level", slice(2, 3), 7)),
     r"levels.parquet: column `level` row 2: level 7 is outside 0..4"),
    ("a missing level", _table("levels.parquet", lambda f: f.iloc[:-1]),
     r"levels.parquet: no row for day 9, shift night, post 4"),
    ("format version", _manifest(lambda d: d.update(format_version=2)),
     r"records.json: `format_version` must be 1"),
    ("unknown shift name", _table(POST1, _set("shift", slice(0, 2), "late")),
     rf"{POST1}: column `shift` rows 0–1: 'late' is not one of the manifest's shifts"),
    # the issue-29 escapes: misleading messages, values no schema expected
    ("samples from t = 1", _table(POST1, lambda f: f.assign(t=f["t"] + 1)),
     rf"{POST1}: column `t` row 0: worker 'p1-day-1' day 1 shift day starts at t = 1: every"),
    ("a keypoint NaN throughout", _table(POST1, _set("speed_head", slice(0, None), np.nan)),
     rf"{POST1}: column `speed_head` rows 0–899: NaN \(unseen\) for all 900 samples"),
    ("faults of the wrong type", _table("labels/posts.parquet",
                                        lambda f: f.assign(faults=["guard"] * len(f))),
     r"labels/posts.parquet: column `faults` must be a list of fault structs <kind: string, "
     r"severity: int, cause: string, culprits: list<string>>, got (large_)?string"),
    ("format version true", _manifest(lambda d: d.update(format_version=True)),
     r"records.json: `format_version` must be 1 .*got True"),
    ("format version 1.0", _manifest(lambda d: d.update(format_version=1.0)),
     r"records.json: `format_version` must be 1 .*got 1.0"),
    ("seed past int64", _manifest(lambda d: d.update(seed=2**63)),
     r"records.json: `seed` must be an integer in 0..9223372036854775807, got 9223372036854775808"),
    ("a name with a newline", _manifest(lambda d: d.update(name="a\nb")),
     r"records.json: `name`: expected a name of 1 to 100 letters.*got 'a\\nb'"),
    ("a name that climbs", _manifest(lambda d: d.update(name="../../x")),
     r"records.json: `name`: expected a name .*got '../../x'"),
    ("a name of 600 characters", _manifest(lambda d: d.update(name="n" * 600)),
     r"records.json: `name`: expected a name .*got 600 characters"),
    ("a seed of 5,000 digits", lambda f: (f / "records.json").write_text(
        (f / "records.json").read_text().replace('"seed": ', '"seed": ' + "9" * 5000 + ", "
                                                 '"x": ', 1)),
     r"records manifest '.*records.json': seed: expected a number, got an integer of 5000 "
     r"digits"),
    ("nested 100,000 deep", lambda f: (f / "records.json").write_text("[" * 100_000 + "]" * 100_000),
     r"records manifest '.*records.json' is nested too deeply"),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_records_get_one_line_naming_file_column_and_rows(
    records_copy: Path, capsys: pytest.CaptureFixture[str], damage, expected
) -> None:
    damage(records_copy)
    assert main(["records", "check", str(records_copy)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(expected, err), err


def test_short_nan_runs_are_filled_by_interpolation(records_copy: Path) -> None:
    limit = int(MAX_NAN_RUN_S)  # rate 1 Hz: the limit in samples
    original = read_post(load(records_copy).manifest, 1)[(1, "day")][0].speeds[:, 0]
    _edit(records_copy / POST1, _set("speed_head", slice(100, 100 + limit), np.nan))
    filled = read_post(load(records_copy).manifest, 1)[(1, "day")][0].speeds[:, 0]
    expected = np.interp(np.arange(100, 100 + limit), [99, 100 + limit],
                         original[[99, 100 + limit]])  # fmt: skip
    np.testing.assert_allclose(filled[100 : 100 + limit], expected, rtol=1e-6)
    np.testing.assert_array_equal(filled[:100], original[:100])


def test_bad_records_fail_run_before_any_work(records_copy: Path, tmp_path: Path, capsys) -> None:
    _edit(records_copy / POST1, lambda f: f.drop(columns=["area"]))
    out = tmp_path / "out"
    assert main(["run", str(records_copy), "--out", str(out)]) == 2
    assert "column `area` is missing" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("option", [["--fidelity", "pixel"], ["--pixel-days", "1"],
                                    ["--graders", "champion"]])  # fmt: skip
def test_scenario_only_options_are_refused_for_records(
    exported: Path, tmp_path: Path, capsys, option
) -> None:
    assert main(["run", str(exported), "--out", str(tmp_path / "o"), *option]) == 2
    assert "records folder" in capsys.readouterr().err


@pytest.mark.slow
def test_tune_on_records_matches_tune_on_the_scenario_with_true_levels(tmp_path: Path) -> None:
    from harness.commands.tune import make_tune_config, tune
    from tests.harness.conftest import TUNE_TINY

    scenario = write_yaml(tmp_path / "tt.yaml", TUNE_TINY)
    folder = tmp_path / "ttrec"
    export_scenario(sim.load_scenario(TUNE_TINY), folder)
    summaries = [
        tune(make_tune_config(source, f"out-{k}", n_trials=8, study_name=f"s{k}",
                              compute=ComputeOptions(workers=1, progress=False),
                              batch_size=4, graders="truth", holdout_days=1,
                              storage=str(tmp_path / f"{k}.journal")))
        for k, source in enumerate((scenario, folder))
    ]  # fmt: skip
    assert summaries[0]["best_params"] == summaries[1]["best_params"]
    assert summaries[0]["comparison"] == summaries[1]["comparison"]
    assert summaries[0]["recommendation_gain"] == summaries[1]["recommendation_gain"]


def test_tune_refuses_records_without_labels(
    records_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(records_copy / "labels")
    assert main(["tune", str(records_copy), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "tune needs labels" in err and len(err.strip().splitlines()) == 1


def test_any_file_layout_reads_the_same(exported: Path, tmp_path: Path) -> None:
    """One file for every post, sorted by day, shift, post (a plant's export), small row
    groups: each post's rows are found by the row groups' statistics and read the same."""
    folder = Path(shutil.copytree(exported, tmp_path / "one-file"))
    parts = [pq.read_table(p) for p in sorted((folder / "seconds").glob("*.parquet"))]
    frame = pa.concat_tables(parts).to_pandas()
    frame["shift_order"] = frame["shift"].map({"day": 0, "night": 1})
    frame = frame.sort_values(["day", "shift_order", "post", "worker", "t"], kind="stable")
    shutil.rmtree(folder / "seconds")
    (folder / "seconds" / "2026").mkdir(parents=True)
    table = pa.Table.from_pandas(frame.drop(columns="shift_order"), preserve_index=False)
    pq.write_table(table, folder / "seconds" / "2026" / "all.parquet", row_group_size=5000)
    before, after = load(exported).manifest, load(folder).manifest
    for post in range(1, 5):
        a, b = read_post(before, post), read_post(after, post)
        assert list(a) == list(b)
        for key in a:
            for x, y in zip(a[key], b[key], strict=True):
                assert x.worker == y.worker
                np.testing.assert_array_equal(x.positions, y.positions)
                np.testing.assert_array_equal(x.speeds, y.speeds)
    assert main(["records", "check", str(folder)]) == 0


@pytest.mark.slow
def test_benchmark_runs_on_a_tiny_budget(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.harness.conftest import REPO

    script = REPO / "experiments" / "benchmarks" / "bench_records.py"
    done = subprocess.run(
        [sys.executable, str(script), "--posts", "2", "--history-days", "1", "--evaluate-days",
         "1", "--length-s", "120", "--workers", "1", "--cache", str(tmp_path / "cache"),
         "--s3"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == 2 * 2 * 2 * 120 and report["rows_per_s"] > 0
    assert report["driver_peak_MB"] > 0 and report["worker_peak_MB"] > 0
    assert report["s3"]["rows_per_s"] > 0 and report["s3"]["same_shifts"]
