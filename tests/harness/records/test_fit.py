"""``records fit``: the measures, the workforce read from worker ids, the estimators, the
comparison, bad input, and (slow) the twin of a small line end to end with the tuning loop."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import core
import sim
from harness.cli import main
from harness.records import export_scenario, load, read_post
from harness.records.fit._clock import LAG_S, Clock, fit_clock
from harness.records.fit._compare import TOLERANCES, Sample, compare
from harness.records.fit._fit import fit, twin_seed
from harness.records.fit._measure import (
    ShiftMeasure,
    WorkSpeed,
    measure_worker,
    runs,
    work_mask,
    work_speed,
)
from harness.records.fit._pipeline import validated
from harness.records.fit._roster import fit_roster, home_of, wilson
from harness.runtime.errors import HarnessError
from tests.harness.conftest import TINY

# the measures ---------------------------------------------------------------------------------


def test_runs_encode_the_areas_and_decode_back() -> None:
    positions = np.array([2, 2, 0, 0, 3, 2, 2, 2], dtype=np.int16)
    starts, areas = runs(positions)
    assert starts.tolist() == [0, 2, 4, 5] and areas.tolist() == [2, 0, 3, 2]
    m = ShiftMeasure(1, "day", 2, "w", starts, areas, 8, WorkSpeed(1.0, 0.0, 1.0, np.ones(14), 8))
    assert m.positions().tolist() == positions.tolist()


def test_work_leaves_out_the_samples_before_a_departure() -> None:
    positions = np.array([1] * 40 + [0] * 10 + [1] * 10)
    mask = work_mask(positions, 1, rate_hz=1.0)  # 15 s guard (the lag, and one)
    assert mask[:25].all() and not mask[25:50].any() and mask[50:].all()


def test_work_speed_is_the_line_through_the_spans_medians() -> None:
    T = 800
    t = np.arange(T) / T
    speeds = np.repeat((10 * (1 - 0.2 * t))[:, None], 14, axis=1)
    speeds[::50] = 500.0  # stray walking seconds: the medians ignore them
    speed = work_speed(speeds, np.ones(T, dtype=bool))
    assert speed.level == pytest.approx(10.0, rel=1e-3)
    assert speed.slope == pytest.approx(-0.2, rel=1e-2)
    assert speed.median == pytest.approx(9.0, rel=1e-2) and speed.samples == T
    assert speed.keypoints.shape == (14,)
    nothing = work_speed(speeds, np.zeros(T, dtype=bool))
    assert nothing.samples == 0 and np.isnan(nothing.keypoints).all()
    assert all(math.isnan(v) for v in (nothing.level, nothing.slope, nothing.median))


# breaks and excursions ---------------------------------------------------------------------


def _measure(positions: list[int] | np.ndarray, post: int = 1, worker: str = "w") -> ShiftMeasure:
    starts, areas = runs(np.asarray(positions))
    speed = WorkSpeed(1.0, 0.0, 1.0, np.ones(14), 1)
    return ShiftMeasure(1, "day", post, worker, starts, areas, len(positions), speed)


def test_breaks_are_where_most_people_are_in_the_aisle_less_the_lag() -> None:
    T = 600
    shift = np.ones(T, dtype=int)
    shift[200:300] = 0  # the measured break
    wanderer = shift.copy()
    wanderer[400:470] = 3  # off post, alone: not a break
    clock = fit_clock([_measure(shift), _measure(shift), _measure(wanderer)], T=T, rate_hz=1.0)
    assert clock.breaks == ((200, 300),)
    assert clock.true_breaks(600.0) == [[200 - LAG_S, 300 - LAG_S]]
    assert clock.working.sum() == 500
    assert clock.offpost_share(_measure(wanderer)) == pytest.approx(70 / 500)


def test_excursions_keep_their_destination_and_drop_the_jitter() -> None:
    clock = Clock(T=300, rate_hz=1.0, breaks=((250, 300),))
    positions = np.ones(300, dtype=int)
    positions[10:14] = 0  # 4 s: the areas' jitter, not an excursion
    positions[50:60] = 0
    positions[60:100] = 4  # walk, stay at post 4 ...
    positions[100:110] = 0  # ... walk back: one excursion of 60 s to post 4
    positions[150:170] = 0  # 20 s in the aisle
    positions[240:300] = 0  # into the break: only the 10 s before it count
    assert clock.bouts(_measure(positions)) == [(60.0, 4), (20.0, 0), (10.0, 0)]


# the workforce ---------------------------------------------------------------------------------


def _keys(days: int, shifts=("day", "night")) -> list[tuple[int, str, int, str]]:
    """Two posts, crews swapping shifts every 3 days; on day 5 ``a`` is absent and the floater
    ``f`` covers; from day 7 ``n`` replaces ``b`` (post 1 night on day 1)."""
    keys = []
    crews = {(1, "day"): "a", (1, "night"): "b", (2, "day"): "c", (2, "night"): "d"}
    for day in range(1, days + 1):
        for (post, home), who in crews.items():
            if who == "b" and day >= 7:
                who = "n"
            shift = shifts[(shifts.index(home) + (day - 1) // 3) % 2]
            keys.append((day, shift, post, "f" if (who, day) == ("a", 5) else who))
    return keys


def test_the_workforce_is_read_from_the_worker_ids() -> None:
    r = fit_roster(_keys(12), shifts=("day", "night"), posts=2, days=12)
    assert (r.rotation.mode, r.rotation.every_days) == ("swap_shifts", 3)
    assert r.rotation.kept > r.rotation.kept_without
    assert r.floaters == ("f",) and r.per_post == 1
    tenure = {t.worker: t for t in r.crew}
    assert (tenure["a"].post, tenure["a"].shift, tenure["a"].from_day) == (1, "day", 1)
    assert (tenure["a"].present, tenure["a"].expected) == (11, 12)  # absent on day 5
    assert (tenure["b"].until_day, tenure["n"].from_day, tenure["n"].slot) == (7, 7, 1)
    assert (r.absent, r.expected) == (1, 48)
    assert r.experience[(1, "day", 1, "a")] == math.inf  # the day-1 crew knows its home post
    assert r.experience[(5, "night", 1, "f")] == 0.0  # ("a" works nights on days 4–6)
    assert r.experience[(9, "night", 1, "n")] == 2.0  # days 7 and 8 at post 1 before


def test_next_post_rotation_and_no_rotation_are_told_apart() -> None:
    keys = [
        (d, "day", (p - 1 + (d - 1) // 2) % 3 + 1, f"w{p}") for d in range(1, 9) for p in (1, 2, 3)
    ]
    r = fit_roster(keys, shifts=("day",), posts=3, days=8)
    assert (r.rotation.mode, r.rotation.every_days, r.rotation.kept) == ("next_post", 2, 1.0)
    assert home_of(3, "day", 3, mode="next_post", every=2, shifts=("day",), posts=3) == (2, "day")
    still = [(d, "day", p, f"w{p}") for d in range(1, 9) for p in (1, 2, 3)]
    assert fit_roster(still, shifts=("day",), posts=3, days=8).rotation.mode is None


def test_wilson_interval_of_a_proportion() -> None:
    lo, hi = wilson(1, 48)  # hand-computed: p = 0.0208, z = 1.96
    assert (lo, hi) == (pytest.approx(0.00369, abs=1e-4), pytest.approx(0.1090, abs=1e-3))
    assert wilson(0, 0) == (0.0, 1.0)


# the comparison ----------------------------------------------------------------------------


def test_the_same_distribution_matches_and_a_shifted_one_differs() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.9, 0.05, 200), rng.normal(0.9, 0.05, 200)
    same = compare("Y", 3, Sample.of(a, "r"), Sample.of(b, "t"))
    assert same.verdict == "matches" and same.distance < TOLERANCES["Y"].tolerance
    moved = compare("Y", 3, Sample.of(a, "r"), Sample.of(b - 0.1, "t"))
    assert moved.verdict == "differs" and moved.distance == pytest.approx(0.1, abs=0.02)
    assert moved.p_value < 1e-6
    # significant but within the tolerance: too small to matter
    tiny = compare("Y", 3, Sample.of(a, "r"), Sample.of(a - 0.01, "t"))
    assert tiny.verdict == "matches"
    assert compare("Z", 1, Sample.of(a, "r"), Sample.of(np.array([]), "t")).verdict == "differs"


def test_destinations_compare_by_total_variation() -> None:
    a = np.array([0.0] * 50 + [2.0] * 50)
    q = compare("destination", 1, Sample.of(a, "r"), Sample.of(np.array([0.0] * 100), "t"))
    assert q.distance == pytest.approx(0.5) and q.verdict == "differs"


# the fit, in this process, on a small exported line -----------------------------------------

SMALL = {
    **TINY,
    "name": "small-twin",
    "days": {"history": 6, "evaluate": 2},
    "workers": {
        "per_post": 1,
        "cast": [
            {"post": 2, "shift": "day", "profile": "wanderer"},
            {"post": 3, "shift": "night", "profile": "novice"},
        ],
    },
    "environment": {},
}


@pytest.fixture(scope="module")
def small_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fit") / "small"
    export_scenario(sim.load_scenario(SMALL), folder)
    return folder


def _fit(folder: Path, seed: int = 1):
    recorded = load(folder)
    m = recorded.manifest
    measures = [
        measure_worker(r, day=d, shift=s, rate_hz=m.rate_hz)
        for p in range(1, m.posts + 1)
        for (d, s), found in sorted(read_post(m, p).items())
        for r in found
    ]
    return fit(m, recorded.levels, recorded.labels, measures, seed=seed)


@pytest.fixture(scope="module")
def small_fit(small_records: Path):
    return _fit(small_records)


def test_the_fit_recovers_the_line_and_its_people(small_fit) -> None:
    f = small_fit
    twin = validated(f.scenario)
    assert (twin.n_posts, twin.shifts.per_day, twin.shifts.length_s) == (4, 2, 900.0)
    assert twin.shifts.breaks == [[400.0, 500.0]]  # the source's break, found to the second
    assert twin.workers.rotation is None and twin.workers.floaters == 0
    assert twin.workers.absence_rate == 0.0 and twin.days.history == 6
    people = {p.worker: p for p in f.people}
    wanderer, novice = people["p2-day-1"], people["p3-night-1"]
    lo, hi = wanderer.offpost.interval
    assert lo <= 0.30 <= hi and wanderer.offpost.n == 8
    lo, hi = novice.skill.interval
    assert lo <= 0.6 <= hi
    cast = {(e["post"], e["shift"]): e for e in twin.model_dump()["workers"]["cast"]}
    assert cast[(2, "day")]["offpost_rate"] == pytest.approx(0.30, abs=0.02)
    assert cast[(3, "night")]["skill"] == pytest.approx(0.6, abs=0.05)
    assert set(cast) == {(2, "day"), (3, "night")}  # the normal people keep the normal profile
    estimates = {(e.name, e.worker) for e in f.estimates}
    assert {("absence_rate", None), ("fault_rate", None), ("learning_days", None)} <= estimates
    assert any("Learning" in line for line in f.limits)


def test_the_fit_is_deterministic_and_the_twin_seed_is_not_the_records(
    small_records: Path, small_fit
) -> None:
    again = _fit(small_records)
    assert again.scenario == small_fit.scenario
    assert [e.to_json() for e in again.estimates] == [e.to_json() for e in small_fit.estimates]
    m = load(small_records).manifest
    assert twin_seed(m) == twin_seed(m) != m.seed


def test_a_plants_own_ids_units_and_no_labels(small_records: Path, small_fit, tmp_path) -> None:
    """The same records with the plant's ids, speeds in other units and no labels: the same
    people, under the plant's names, skills read through the speed scale."""
    folder = Path(shutil.copytree(small_records, tmp_path / "plant"))
    shutil.rmtree(folder / "labels")
    rename = {}
    for path in (folder / "seconds").glob("*.parquet"):
        frame = pd.read_parquet(path)
        frame["worker"] = [rename.setdefault(w, f"E{len(rename) + 1:03d}") for w in frame["worker"]]
        speeds = [c for c in frame.columns if c.startswith("speed_")]
        frame[speeds] = frame[speeds] * np.float32(2.5)
        frame.to_parquet(path)
    f = _fit(folder)
    scale = next(e for e in f.estimates if e.name == "speed_scale")
    assert scale.value == pytest.approx(2.5, rel=0.01)
    cast = {e["name"]: e for e in f.scenario["workers"]["cast"]}
    assert cast[rename["p2-day-1"]]["offpost_rate"] == pytest.approx(0.30, abs=0.02)
    assert cast[rename["p3-night-1"]]["skill"] == pytest.approx(0.6, abs=0.05)
    assert len(cast) == 8  # every person under its own id, the normal ones as normal
    same = {e["post"]: e.get("skill") for e in small_fit.scenario["workers"]["cast"]}
    assert {e["post"]: e.get("skill") for e in cast.values() if "skill" in e} == {
        p: pytest.approx(v, abs=0.01) for p, v in same.items() if v is not None
    }
    rate = next(e for e in f.estimates if e.name == "fault_rate")
    assert "ln(p0_model / p0)" in rate.method and rate.interval[0] <= rate.value
    assert any("Without labels" in line for line in f.limits)
    validated(f.scenario)


def test_the_scenario_is_written_whole_and_reads_back(small_fit, tmp_path: Path) -> None:
    from harness.commands.records import scenario_text, write_atomic

    text = scenario_text(small_fit.scenario, folder=tmp_path / "rec")
    path = tmp_path / "twin.yaml"
    write_atomic(path, text)
    assert sim.load_scenario(path) == validated(small_fit.scenario)
    assert text.startswith("# A twin of the records folder")
    assert [p.name for p in tmp_path.iterdir()] == ["twin.yaml"]  # no temporary file left


def test_a_twin_that_does_not_validate_is_refused() -> None:
    with pytest.raises(HarnessError, match=r"does not validate \(nothing written\).*line.posts"):
        validated({"name": "x", "line": {"posts": 0}})


# bad input -----------------------------------------------------------------------------------


@pytest.fixture
def small_copy(small_records: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(small_records, tmp_path / "rec"))


def test_a_folder_too_short_to_fit_exits_2_naming_the_days(
    small_copy: Path, tmp_path, capsys
) -> None:
    manifest = small_copy / "records.json"
    data = json.loads(manifest.read_text())
    data["days"] = {"history": 3, "evaluate": 2}
    manifest.write_text(json.dumps(data))
    for name in ("levels.parquet", "labels/posts.parquet", "labels/workers.parquet"):
        frame = pd.read_parquet(small_copy / name)
        frame[frame["day"] <= 5].to_parquet(small_copy / name)
    for path in (small_copy / "seconds").glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.filter(pq.read_table(path).column("day").to_numpy() <= 5), path)
    out = tmp_path / "twin.yaml"
    assert main(["records", "fit", str(small_copy), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "at least 7 recorded days" in err and "= 5" in err and len(err.splitlines()) == 1
    assert not out.exists() and not (tmp_path / "mlflow.db").exists()


def test_a_post_with_no_worker_shifts_exits_2_naming_it(small_copy: Path, tmp_path, capsys) -> None:
    (small_copy / "seconds" / "post-00003.parquet").unlink()
    assert main(["records", "fit", str(small_copy), "--out", str(tmp_path / "t.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no worker-shifts at post 3 of 1..4" in err, err


@pytest.mark.parametrize(
    ("out", "fragment"), [("twin.json", "ending .yaml"), ("folder", "ending .yaml")]
)
def test_the_scenario_file_is_checked_first(
    small_records: Path, tmp_path, capsys, out, fragment
) -> None:
    assert main(["records", "fit", str(small_records), "--out", str(tmp_path / out)]) == 2
    assert fragment in capsys.readouterr().err


def test_the_keypoint_measure_matches_the_simulator_units() -> None:
    """A normal worker's work speed at clock-in is what the calibration's skill 1 gives."""
    s = sim.load_scenario({**SMALL, "workers": {"per_post": 1}})
    (w,) = sim.simulate_workers(s, post=1, day=1, shift="day")
    m = measure_worker(w.record, day=1, shift="day", rate_hz=1.0)
    assert m.speed.samples > 600 and 5.5 < m.speed.level < 7.5 and abs(m.speed.slope) < 0.1
    assert m.speed.keypoints.shape == (core.N_KEYPOINTS,)


# the loop, end to end (slow) ------------------------------------------------------------------

LOOP = {
    "name": "twin-loop",
    "seed": 13,
    "line": {"posts": 4},
    "shifts": {"per_day": 2, "length_s": 1800, "breaks": [[900, 1050]]},
    "days": {"history": 10, "evaluate": 8},
    "workers": {
        "per_post": 1,
        "floaters": 1,
        "absence_rate": 0.05,
        "rotation": {"every_days": 4, "mode": "swap_shifts"},
        "cast": [
            {"post": 2, "shift": "day", "profile": "wanderer"},
            {"post": 4, "shift": "night", "profile": "novice"},
        ],
    },
    "equipment": {"fault_rate": 0.1},
}
"""A small line with a workforce: crews that swap shifts, a floater, absences, a wanderer and
a novice."""


@pytest.mark.slow
def test_the_loop_fits_a_matching_twin_whose_tuned_thresholds_do_not_lose_on_the_records(
    tmp_path: Path,
) -> None:
    from harness.evaluation.metrics import HEADLINE, paired_difference
    from harness.evaluation.results import RunResult

    records = tmp_path / "records"
    export_scenario(sim.load_scenario(LOOP), records)
    twin_path = tmp_path / "twin" / "twin.yaml"
    workers = ["--workers", "2", "--no-progress"]
    assert main(["records", "fit", str(records), "--out", str(twin_path), *workers]) == 0
    fitted = json.loads((twin_path.parent / "fit.json").read_text())
    assert (twin_path.parent / "fit.html").read_text().count('<section id="post-') == 4
    for q in fitted["quantities"]:
        assert {"name", "post", "records", "twin", "distance", "verdict"} <= set(q)
    # the README's tolerances: per post, on-post fractions, Z and Y match the source's
    verdicts = {(q["post"], q["name"]): q["verdict"] for q in fitted["quantities"]}
    for post in range(1, 5):
        for name in ("onpost_fraction", "Z", "Y"):
            assert verdicts[(post, name)] == "matches", (post, name, fitted["posts"])
    twin = sim.load_scenario(twin_path)
    assert twin.seed != LOOP["seed"] and twin.workers.floaters == 1
    assert (twin.workers.rotation.mode, twin.workers.rotation.every_days) == ("swap_shifts", 4)
    cast = {(e.post, e.shift): e for e in twin.workers.cast}
    assert cast[(2, "day")].offpost_rate == pytest.approx(0.30, abs=0.02)
    assert cast[(4, "night")].skill == pytest.approx(0.6, abs=0.05)
    assert fitted["limits"] and any(e["key"] == "workers.absence_rate" for e in fitted["estimates"])

    tune_dir = tmp_path / "tune"
    assert (
        main(
            [
                "tune",
                str(twin_path),
                "--out",
                str(tune_dir),
                "--graders",
                "truth",
                "--trials",
                "80",
                *workers,
            ]
        )
        == 0
    )
    runs = {}
    for name, params in (
        ("default", []),
        ("best", ["--params", str(tune_dir / "best_params.yaml")]),
        ("candidate", ["--params", str(tune_dir / "candidate_params.yaml")]),
    ):
        out = tmp_path / name
        assert main(["run", str(records), "--out", str(out), *params, *workers]) == 0
        runs[name] = RunResult.from_json(json.loads((out / "results.json").read_text())).shifts
    for tuned in ("best", "candidate"):
        paired = paired_difference(runs[tuned], runs["default"], figures=HEADLINE)
        for figure, d in paired.items():  # never worse than the defaults, within the interval
            assert d["ci95"] is None or d["ci95"][1] >= 0, (tuned, figure, d)


@pytest.mark.slow
def test_records_on_object_storage_fit_the_same_twin(s3_bucket: str, tmp_path: Path) -> None:
    """Records, cache and report on object storage (a real S3 API): the twin and the report
    are those of the same records in a local folder."""
    import yaml

    from harness.runtime.storage import location
    from tests.harness.conftest import write_yaml

    scenario = str(write_yaml(tmp_path / "tiny.yaml", TINY))
    assert main(["records", "export", scenario, "--out", str(tmp_path / "rec")]) == 0
    assert main(["records", "export", scenario, "--out", f"{s3_bucket}/rec"]) == 0
    common = ["--workers", "2", "--no-progress"]
    assert main(["records", "fit", str(tmp_path / "rec"), "--out", "local/twin.yaml", *common]) == 0
    assert (
        main(["records", "fit", f"{s3_bucket}/rec", "--out", "remote/twin.yaml", "--report",
              f"{s3_bucket}/fit", "--cache", f"{s3_bucket}/cache", *common])
        == 0
    )  # fmt: skip
    local, remote = (
        yaml.safe_load(Path(f"{w}/twin.yaml").read_text()) for w in ("local", "remote")
    )
    assert local == remote
    report = location(f"{s3_bucket}/fit")
    assert {"fit.json", "fit.html", "twin.yaml"} <= {c.name for c in report.children()}
    there = json.loads((report / "fit.json").read_text())
    here = json.loads(Path("local/fit.json").read_text())
    assert [q["verdict"] for q in there["quantities"]] == [q["verdict"] for q in here["quantities"]]
    assert there["records"]["folder"] == f"{s3_bucket}/rec"
