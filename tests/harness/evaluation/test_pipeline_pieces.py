"""The evaluation pieces without Ray: the sliding post databases, the scoring task, the line
assembly and the typed results they give, each against a direct computation."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pydantic
import pytest

import core
import sim
from harness.evaluation.decisions import line_shifts
from harness.evaluation.graders import true_levels
from harness.evaluation.history import post_databases, stored_days
from harness.evaluation.results import SCHEMA_VERSION, RunResult, ShiftResult
from harness.evaluation.scoring import group_by_shift, score_posts_task
from tests.harness.conftest import TINY


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[sim.Scenario, Path]:
    """The tiny scenario's records of every day, stored (no Ray: in this process)."""
    scenario = sim.Scenario.model_validate(TINY)
    root = tmp_path_factory.mktemp("store")
    sim.build_history(scenario, sim.HistoryStore(root), days=stored_days(scenario))
    return scenario, root


@pytest.mark.parametrize("pool", ["post", "post_shift"])
def test_a_sliding_database_equals_one_read_fresh(stored, pool) -> None:
    scenario, root = stored
    store = sim.HistoryStore(root)
    params = core.ModelParams(history_pool=pool, history_window_days=4)
    for day, shift, database in post_databases(scenario, store, 2, params, scenario.evaluate_days):
        days = list(core.database_days(day, 4))
        assert sorted(database.days) == days
        shifts = [s for s in scenario.shift_names if pool == "post" or s == shift]
        parts = [store.read(post=2, shift=s, days=days) for s in shifts]
        positions = np.concatenate([p.positions for p in parts])
        speeds = np.concatenate([p.speeds for p in parts])
        fresh = core.history_stats(positions, 2, scenario.n_posts, speeds)
        got = database.stats()
        assert got.m == fresh.m
        np.testing.assert_array_equal(got.rho, fresh.rho)
        np.testing.assert_array_equal(got.standard, fresh.standard)
        np.testing.assert_allclose(got.mean_speeds, fresh.mean_speeds, rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def decided(stored) -> tuple[sim.Scenario, list[ShiftResult], list]:
    scenario, root = stored
    params = core.ModelParams()
    posts = tuple(range(1, scenario.n_posts + 1))
    by_shift = group_by_shift(score_posts_task(scenario, str(root), posts, params))
    lines = line_shifts(scenario, by_shift, levels_of=true_levels)
    return scenario, [s.record(scenario.G, scenario.shifts.length_s, params) for s in lines], lines


def test_the_line_assembles_what_the_simulator_gives_for_a_whole_shift(decided) -> None:
    scenario, _, lines = decided
    for line in lines:
        whole = sim.simulate_shift(scenario, day=line.day, shift=line.shift)
        for got, want in zip(line.states, whole.posts, strict=True):
            assert (got.post, got.faults, got.true_level, got.missing) == (
                want.post,
                want.faults,
                want.true_level,
                want.missing,
            )
            np.testing.assert_array_equal(got.environment, want.environment)
        assert line.worker_ids == tuple(w.record.worker for w in whole.workers)


def test_records_carry_the_model_table_and_the_truth(decided) -> None:
    scenario, records, lines = decided
    for rec, line in zip(records, lines, strict=True):
        table = core.decide_shift(line.levels, scenario.G, dwell=line.dwell,
                                  T=scenario.shifts.length_s, worker_ids=line.worker_ids,
                                  worker_posts=line.worker_posts, Z=line.Z, Y=line.Y)  # fmt: skip
        assert [p.D for p in rec.posts] == [float(d) for d in table.D]
        assert {c.worker for c in rec.root_causes} == rec.named
        assert rec.culprits == {w for s in line.states for w in s.culprits}
        assert [w.worker for w in rec.workers] == [d.worker for d in table.workers]
        assert all(w.roster is not None for w in rec.workers)  # a simulated roster


def test_results_json_round_trips_through_the_records(decided) -> None:
    scenario, records, _ = decided
    run = RunResult(scenario=scenario.name, seed=scenario.seed, fidelity="signal",
                    params=core.ModelParams().to_dict(), shifts=tuple(records),
                    metrics={"available": False})  # fmt: skip
    data = json.loads(json.dumps(run.to_json()))
    assert data["schema_version"] == SCHEMA_VERSION and "units" in data
    back = RunResult.from_json(data)
    assert back == run
    assert json.dumps(back.to_json()) == json.dumps(run.to_json())


def test_without_truth_keeps_the_decisions_and_drops_the_truth(decided) -> None:
    _, records, _ = decided
    rec = next(r for r in records if r.culprits)
    bare = rec.without_truth()
    assert bare.root_causes == rec.root_causes and [p.D for p in bare.posts] == [
        p.D for p in rec.posts
    ]
    assert not bare.culprits and all(p.true_level is None for p in bare.posts)
    assert all(w.needs_management is None for w in bare.workers)


def test_a_newer_schema_or_a_cause_that_names_nothing_is_refused(decided) -> None:
    _, records, _ = decided
    run = RunResult(scenario="tiny", seed=5, fidelity="signal",
                    params=core.ModelParams().to_dict(), shifts=tuple(records),
                    metrics={})  # fmt: skip
    data = json.loads(json.dumps(run.to_json()))
    with pytest.raises(ValueError, match=r"schema_version must be an integer 1\.\.1"):
        RunResult.from_json({**data, "schema_version": SCHEMA_VERSION + 1})
    older = {k: v for k, v in data.items() if k != "schema_version"}
    assert RunResult.from_json(older) == run  # files from before the field read as version 1
    k = next(i for i, s in enumerate(data["shifts"]) if s["root_causes"])
    data["shifts"][k]["root_causes"][0]["worker"] = "nobody"
    with pytest.raises(ValueError, match=rf"shifts\.{k}: root_causes\[0\]\.worker 'nobody'"):
        RunResult.from_json(data)


@pytest.mark.parametrize(
    ("key", "value"), [("skill", "0.9"), ("days_at_post", 3.0), ("floater", 1), ("covering", 7)]
)
def test_a_workers_traits_are_the_simulators_checked_strictly(decided, key, value) -> None:
    """A worker's traits in ``results.json`` are :class:`sim.Traits`' fields, in its order; a
    value of another type is refused, not converted."""
    _, records, _ = decided
    run = RunResult(scenario="tiny", seed=5, fidelity="signal",
                    params=core.ModelParams().to_dict(), shifts=tuple(records),
                    metrics={})  # fmt: skip
    data = json.loads(json.dumps(run.to_json()))
    worker = data["shifts"][0]["workers"][0]
    traits = [f.name for f in dataclasses.fields(sim.Traits)]
    assert list(worker)[-len(traits) :] == traits
    worker[key] = value
    with pytest.raises(pydantic.ValidationError, match=rf"workers\.0\.roster\.{key}"):
        RunResult.from_json(data)


def test_y_is_null_exactly_where_the_model_leaves_it_undefined(decided) -> None:
    _, records, lines = decided
    for rec, line in zip(records, lines, strict=True):
        for w, y in zip(rec.workers, line.Y, strict=True):
            assert (w.Y is None) == math.isnan(y)
