"""The Parquet tables: typed and list columns, truth prefixed true_, described columns."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from harness.evaluation.results import RunResult, shifts_from_json
from harness.outputs import tables

SHIFTS = [
        {
            "day": 7,
            "shift": "day",
            "posts": [
                {"post": 1, "level": 3, "true_level": 3, "D": 0.6, "true_D": 0.6, "hazard": True,
                 "set": [1, 2], "faults": ["guard_missing"], "culprits": ["b"],
                 "equipment_cause": False},
                {"post": 2, "level": 0, "true_level": 0, "D": 0.6, "true_D": 0.6, "hazard": True,
                 "set": [2], "faults": [], "culprits": [], "equipment_cause": False},
            ],
            "workers": [
                {"worker": "a", "post": 1, "Z": 0.01, "Y": 0.95, "management": False,
                 "training": False, "checked": True, "profile": "normal",
                 "needs_management": False, "needs_training": False},
                {"worker": "b", "post": 2, "Z": 0.3, "Y": None, "management": True,
                 "training": False, "checked": True, "profile": "wanderer",
                 "needs_management": True, "needs_training": False},
            ],
            "root_causes": [
                {"hazard_post": 1, "post": 2, "worker": "b", "reasons": ["off_post"]},
                {"hazard_post": 2, "post": 2, "worker": "b", "reasons": ["off_post"]},
            ],
            "equipment_causes": [],
        }
]  # fmt: skip
RESULTS = RunResult(scenario="t", seed=1, fidelity="signal", params={},
                    shifts=tuple(shifts_from_json(SHIFTS)), metrics={})  # fmt: skip


def test_tables_have_typed_list_and_truth_columns(tmp_path):
    tables.write(RESULTS, tmp_path)
    posts = pd.read_parquet(tmp_path / tables.POSTS)
    assert posts["set"].tolist()[0].tolist() == [1, 2]  # an Arrow list, no string parsing
    assert posts["true_faults"][0].tolist() == ["guard_missing"]
    assert posts["level"].dtype == "int8" and posts["hazard"].dtype == bool
    workers = pd.read_parquet(tmp_path / tables.WORKERS)
    assert workers["Y"].isna().tolist() == [False, True]
    assert workers["root_cause"].tolist() == [False, True]
    assert workers["true_culprit"].tolist() == [False, True]
    assert {c for c in workers.columns if c.startswith("true_")} == {
        "true_profile", "true_needs_management", "true_needs_training", "true_culprit",
        "true_skill", "true_offpost_rate", "true_plateau_skill", "true_plateau_offpost_rate",
    }  # fmt: skip
    causes = pd.read_parquet(tmp_path / tables.ROOT_CAUSES)
    assert len(causes) == 2 and causes["reasons"][0].tolist() == ["off_post"]
    # b caused the fault at post 1: right at hazard post 1, right worker but not "here" at 2
    assert causes["true_culprit"].tolist() == [True, True]
    assert causes["true_culprit_here"].tolist() == [True, False]
    assert causes["D"].tolist() == [0.6, 0.6] and causes["set"][1].tolist() == [2]


def test_every_column_carries_a_description(tmp_path):
    tables.write(RESULTS, tmp_path)
    for name in (tables.POSTS, tables.WORKERS, tables.ROOT_CAUSES):
        schema = pq.read_schema(tmp_path / name)
        for field in schema:
            assert field.metadata and field.metadata[tables.DESCRIPTION], (name, field.name)


def test_descriptions_reach_duckdb_and_a_person(tmp_path):
    import duckdb

    tables.write(RESULTS, tmp_path)
    path = str(tmp_path / tables.WORKERS)
    rows = duckdb.sql(
        "SELECT decode(key), decode(value) FROM parquet_kv_metadata(?)", params=[path]
    ).fetchall()  # what DuckDB (and Polars' read_parquet_metadata) show
    kv = dict(rows)
    assert kv["description.Z"] == "on-post state Z (larger: more off post)"
    assert kv["table"].startswith("one row per worker-shift")
    assert {f"description.{c.name}" for c in tables.WORKER_COLUMNS} <= set(kv)
    dictionary = (tmp_path / tables.DICTIONARY).read_text()
    assert "## workers.parquet" in dictionary and "| `true_culprit` | bool |" in dictionary
    assert "| params.eps | speed, pixels per second (px/s) |" in dictionary


def test_trials_parquet_is_typed_and_described_with_no_object_columns(tmp_path):
    """A study's trials: each column a plain Arrow type (no struct of user attributes, no
    object column in pandas), each described; swept thresholds are parameters like the rest."""
    import optuna

    from harness.adapters import optuna_studies

    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"tau_D": 0.6, "direction": "out"}, user_attrs={"start": True})
    space = {"tau_D": optuna_studies.float_range(0.2, 1.6),
             "direction": optuna_studies.categorical(["out", "both"])}  # fmt: skip
    for k in range(3):
        t = study.ask(space)
        t.set_user_attr("swept", {"tau_Z": 0.1 * (k + 1), "tau_Y": 0.8})
        study.tell(t, 0.5 + k / 10)
    failed = study.ask(space)
    failed.set_user_attr("fail_reason", "no worker in a hazard set")
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    rows = optuna_studies.trial_rows(study, ["root_cause_f1"])
    table = tables.trials_table(rows, objectives=["root_cause_f1"], swept=["tau_Z", "tau_Y"])
    pq.write_table(table, tmp_path / "trials.parquet")
    schema = pq.read_schema(tmp_path / "trials.parquet")
    assert schema.names == ["number", "state", "root_cause_f1", "params_direction",
                            "params_tau_D", "params_tau_Y", "params_tau_Z", "start", "retry_of",
                            "fail_reason"]  # fmt: skip
    assert all(f.metadata and f.metadata[b"description"] for f in schema)
    assert b"sweep" in schema.field("params_tau_Z").metadata[b"description"]
    frame = pd.read_parquet(tmp_path / "trials.parquet")
    assert not [c for c in frame.columns if frame[c].dtype == object and c not in
                ("state", "params_direction", "fail_reason")]  # fmt: skip
    assert frame["start"].tolist() == [True, False, False, False]
    assert frame["state"].tolist()[-1] == "FAIL" and pd.isna(frame["root_cause_f1"].iloc[-1])
    assert frame["params_tau_Z"].iloc[1] == 0.2 and frame["params_tau_D"].iloc[0] == 0.6


def test_the_shift_column_says_how_pandas_reaches_it():
    """``df.shift`` is DataFrame's method: the column's description says ``df["shift"]``."""
    for _, columns in tables.TABLES.values():
        (shift,) = [c for c in columns if c.name == "shift"]
        assert 'df["shift"]' in shift.description
    assert 'df["shift"]' in tables.data_dictionary()
