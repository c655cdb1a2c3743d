from __future__ import annotations

import numpy as np
import pytest

from sim import Scenario, ScenarioError, load_scenario
from tests.sim.conftest import DEMO, scenario_dict


def test_demo_is_valid_and_derives_the_harness_properties(demo: Scenario) -> None:
    assert demo.n_posts == 6
    assert demo.samples_per_shift == 7200
    assert demo.shift_names == ("day", "night")
    assert demo.history_days == range(1, 31)
    assert demo.evaluate_days == range(31, 43)
    g = demo.G
    assert g.shape == (6, 6) and g.dtype == np.float64
    assert np.array_equal(g, g.T) and np.all(np.diag(g) == 1)
    assert g[0, 1] == 1 and g[0, 2] == 0


def test_matrix_correlation_is_kept_as_given() -> None:
    m = [[1.0, 0.3, 0.0, 0.0], [0.3, 1.0, 0.5, 0.0], [0.0, 0.5, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]
    s = load_scenario(scenario_dict(line={"posts": 4, "correlation": m}))
    assert s.G.tolist() == m


def _with(path: str, value: object) -> dict:
    data = scenario_dict()
    node = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


BAD = [
    # (case, data, key path in the message, another fragment)
    ("typo'd top key", {**scenario_dict(), "lnie": {}}, "lnie", "did you mean 'line'"),
    ("typo'd nested key", _with("shifts.lenght_s", 10), "shifts.lenght_s", "length_s"),
    ("missing line", {k: v for k, v in scenario_dict().items() if k != "line"}, "line", "required"),
    ("posts zero", _with("line.posts", 0), "line.posts", "got 0"),
    ("posts wrong type", _with("line.posts", "six"), "line.posts", "'six'"),
    ("posts float", _with("line.posts", 4.5), "line.posts", "4.5"),
    ("negative rate", _with("shifts.rate_hz", -1.0), "shifts.rate_hz", "got -1"),
    ("negative fault rate", _with("equipment.fault_rate", -0.1), "equipment.fault_rate", "-0.1"),
    ("per_day 3", _with("shifts.per_day", 3), "shifts.per_day", "got 3"),
    ("break outside", _with("shifts.breaks", [[3000, 4000]]), "shifts.breaks[0]", "3600"),
    ("break reversed", _with("shifts.breaks", [[200, 100]]), "shifts.breaks[0]", "start < end"),
    ("breaks overlap", _with("shifts.breaks", [[0, 100], [50, 60]]), "shifts.breaks[1]", "overlap"),
    ("fractional samples", _with("shifts.length_s", 10.5), "shifts.length_s", "whole number"),
    (
        "unknown profile",
        _with("workers.cast.0.profile", "wandrer"),
        "workers.cast[0].profile",
        "did you mean 'wanderer'",
    ),
    ("cast post out of range", _with("workers.cast.0.post", 9), "workers.cast[0].post", "1..4"),
    (
        "cast night on 1 shift",
        {**scenario_dict(), "shifts": {"per_day": 1, "length_s": 3600}},
        "workers.cast[1].shift",
        "night",
    ),
    ("cast says nothing", _with("workers.cast.0", {"post": 1}), "workers.cast[0]", "trait"),
    (
        "offpost_rate 1.5",
        _with("workers.cast.0.offpost_rate", 1.5),
        "workers.cast[0].offpost_rate",
        "1.5",
    ),
    (
        "destination is the own post",
        _with("workers.cast.0.destinations", {2: 1.0}),
        "workers.cast[0].destinations",
        "other than the worker's own post 2",
    ),
    (
        "destination beyond the line",
        _with("workers.cast.0.destinations", {7: 1.0}),
        "workers.cast[0].destinations",
        "0..4",
    ),
    (
        "destinations weigh nothing",
        _with("workers.cast.0.destinations", {0: 0.0}),
        "workers.cast[0]",
        "summing to > 0",
    ),
    ("excursion_s 0", _with("workers.cast.0.excursion_s", 0), "workers.cast[0].excursion_s", "0"),
    (
        "unknown fault kind",
        _with("equipment.faults.0.kind", "guard_mising"),
        "equipment.faults[0].kind",
        "did you mean 'guard_missing'",
    ),
    ("fault day too late", _with("equipment.faults.0.day", 99), "equipment.faults[0].day", "1..5"),
    ("severity 5", _with("equipment.faults.0.severity", 5), "equipment.faults[0].severity", "5"),
    (
        "NaN mean",
        _with("environment.temperature_c", {"mean": float("nan"), "sd": 1.0}),
        "environment.temperature_c.mean",
        "finite",
    ),
    (
        "inf sd",
        _with("environment.humidity_pct", {"mean": 50, "sd": float("inf")}),
        "environment.humidity_pct.sd",
        "finite",
    ),
    (
        "excursion says nothing",
        _with("environment.excursions.0", {"post": 1, "day": 1}),
        "environment.excursions[0]",
        "at least one",
    ),
    (
        "bad correlation name",
        _with("line.correlation", "chian"),
        "line.correlation",
        "did you mean 'chain'",
    ),
    ("matrix shape", _with("line.correlation", [[1, 0], [0, 1]]), "line.correlation", "4×4"),
    (
        "matrix entry > 1",
        _with("line.correlation", [[1.5] * 4] * 4),
        "line.correlation[0][0]",
        "1.5",
    ),
    ("bool as int", _with("seed", True), "seed", "True"),
    ("unknown fidelity", _with("fidelity", "pixels"), "fidelity", "'pixels'"),
]


@pytest.mark.parametrize(
    ("data", "path", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_scenarios_are_rejected_with_their_key_path(
    data: dict, path: str, fragment: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(data)
    message = str(info.value)
    assert message.startswith(path + ":") or f"; {path}:" in message, message
    assert fragment in message, message


def test_yaml_errors_and_missing_files_are_scenario_errors(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ScenarioError, match="mapping"):
        load_scenario(tmp_path / "list.yaml")


def test_scenario_is_frozen(small: Scenario) -> None:
    with pytest.raises(Exception, match="frozen"):
        small.seed = 3  # type: ignore[misc]


def test_loads_from_path_string() -> None:
    assert load_scenario(str(DEMO)).name == "demo-line"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"post": 0, "day": 1, "shift": "day"}, "`post`"),
        ({"post": 5, "day": 1, "shift": "day"}, "`post`"),
        ({"post": 1, "day": 0, "shift": "day"}, "`day`"),
        ({"post": 1, "day": 1, "shift": "dya"}, "did you mean 'day'"),
    ],
)
def test_bad_function_arguments_name_the_argument(small: Scenario, kwargs, fragment) -> None:
    with pytest.raises(ScenarioError, match=fragment):
        small.check_post_shift(**kwargs)
