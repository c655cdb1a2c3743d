"""The Parquet tables: typed and list columns, truth prefixed true_, described columns."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from harness.evaluation.results import RunRecord, shifts_from_json
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
RESULTS = RunRecord(scenario="t", seed=1, fidelity="signal", params={},
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
