"""A run's results as Parquet tables for every tool: typed columns, Arrow lists, described.

Three tables, one row per (day, shift, post), per worker-shift, and per root-cause decision.
Lists are Arrow lists (``set``, ``reasons``, ``true_faults``), never joined strings; columns
holding the simulator's truth (what a real plant never has) are prefixed ``true_``. Every
column's meaning is written three times, for three kinds of reader: in the Arrow field
metadata (``description``; pyarrow, pandas), in the file's key-value metadata
(``description.<column>`` and ``table``; DuckDB's ``parquet_kv_metadata``, Polars'
``read_parquet_metadata``), and in ``tables.md`` beside the tables, with the units of
``results.json`` (:data:`UNITS`, also in ``results.json`` itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.evaluation.results import UNITS, RunResult
from harness.records import TRAIT_COLUMNS
from harness.runtime.storage import Location

POSTS = "posts.parquet"
WORKERS = "workers.parquet"
ROOT_CAUSES = "root_causes.parquet"
DICTIONARY = "tables.md"
DESCRIPTION = b"description"


@dataclass(frozen=True)
class Column:
    """One column: its name, Arrow type, how to read it from a record, and what it means."""

    name: str
    type: pa.DataType
    get: Callable[[dict[str, Any]], Any]
    description: str


def _key(name: str, default: Any = None) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name, default)


def _trait(trait: str) -> Column:
    """The column of a :class:`sim.Traits` field, as the records' labels name it."""
    c = TRAIT_COLUMNS[trait]
    return Column(c.name, c.type, _key(trait), c.description)


SHIFT_COLUMNS = (
    Column("day", pa.int32(), _key("day"), "evaluated day (1-based, history days first)"),
    Column("shift", pa.string(), _key("shift"),
           'shift of the day: day or night (pandas: df["shift"]; df.shift is a DataFrame method)'),
)  # fmt: skip
POST_COLUMNS = (
    *SHIFT_COLUMNS,
    Column("post", pa.int32(), _key("post"), "post number 1..n in process order"),
    Column("level", pa.int8(), _key("level"), "hazard level 0..4 the model saw (its grader)"),
    Column("D", pa.float64(), _key("D"), "hazard degree D = 0.2·(d_i + Σ g_ij d_j) of the model"),
    Column("hazard", pa.bool_(), _key("hazard"), "the model flagged a hazard: D > tau_D"),
    Column("set", pa.list_(pa.int32()), _key("set", []),
           "hazard post set S_i of the model (empty when no hazard)"),
    Column("equipment_attributed", pa.bool_(),
           lambda r: r["hazard"] and r["post"] in r.get("_equipment", ()),
           "the model attributed the hazard to equipment/environment (nobody flagged in S)"),
    Column("true_level", pa.int8(), _key("true_level"), "truth: the post's true hazard level"),
    Column("true_D", pa.float64(), _key("true_D"), "truth: hazard degree from the true levels"),
    Column("true_faults", pa.list_(pa.string()), _key("faults", []),
           "truth: kinds of the faults at this shift change"),
    Column("true_culprits", pa.list_(pa.string()), _key("culprits", []),
           "truth: workers who caused a fault here"),
    Column("true_equipment_cause", pa.bool_(), _key("equipment_cause"),
           "truth: some fault here had no human cause (equipment, environment)"),
)  # fmt: skip
WORKER_COLUMNS = (
    *SHIFT_COLUMNS,
    Column("worker", pa.string(), _key("worker"), "worker id (follows the person)"),
    Column("post", pa.int32(), _key("post"), "post the worker clocked in at"),
    Column("Z", pa.float64(), _key("Z"), "on-post state Z (larger: more off post)"),
    Column("Y", pa.float64(), _key("Y"), "proficiency Y (smaller: less skilled); null: K empty"),
    Column("management", pa.bool_(), _key("management"), "flag Z > tau_Z"),
    Column("training", pa.bool_(), _key("training"), "flag Y < tau_Y"),
    Column("checked", pa.bool_(), _key("checked"), "the worker's post is in some hazard set"),
    Column("root_cause", pa.bool_(), lambda r: r["worker"] in r.get("_named", ()),
           "the model named the worker a root cause of some hazard post this shift"),
    *map(_trait, ("days_at_post", "floater", "covering")),
    Column("true_profile", pa.string(), _key("profile"), "truth: the worker's profile"),
    *map(_trait, ("skill", "offpost_rate", "plateau_skill", "plateau_offpost_rate")),
    Column("true_needs_management", pa.bool_(), _key("needs_management"),
           "truth: effective off-post rate >= 0.10"),
    Column("true_needs_training", pa.bool_(), _key("needs_training"),
           "truth: effective skill <= 0.8"),
    Column("true_culprit", pa.bool_(), lambda r: r["worker"] in r.get("_culprits", ()),
           "truth: the worker caused a fault this shift"),
)  # fmt: skip
ROOT_CAUSE_COLUMNS = (
    *SHIFT_COLUMNS,
    Column("hazard_post", pa.int32(), _key("hazard_post"), "the hazard post the decision is for"),
    Column("D", pa.float64(), _key("D"), "its hazard degree D"),
    Column("set", pa.list_(pa.int32()), _key("set", []), "its hazard post set S"),
    Column("post", pa.int32(), _key("post"), "post of the flagged worker (a member of S)"),
    Column("worker", pa.string(), _key("worker"), "the flagged worker"),
    Column("reasons", pa.list_(pa.string()), _key("reasons", []),
           "off_post (strengthen management) and/or low_proficiency (off-post training)"),
    Column("Z", pa.float64(), _key("Z"), "the worker's on-post state"),
    Column("Y", pa.float64(), _key("Y"), "the worker's proficiency"),
    Column("true_culprit", pa.bool_(), _key("true_culprit"),
           "truth: the worker caused a fault this shift (the decision is right)"),
    Column("true_culprit_here", pa.bool_(), _key("true_culprit_here"),
           "truth: the worker caused a fault at this hazard post"),
    Column("true_needs_management", pa.bool_(), _key("true_needs_management"),
           "truth: the worker needs management"),
    Column("true_needs_training", pa.bool_(), _key("true_needs_training"),
           "truth: the worker needs training"),
)  # fmt: skip


TABLES: dict[str, tuple[str, tuple[Column, ...]]] = {
    POSTS: ("one row per (day, shift, post): the model's levels, D and hazard sets", POST_COLUMNS),
    WORKERS: ("one row per worker-shift: Z, Y, the flags and the truth", WORKER_COLUMNS),
    ROOT_CAUSES: ("one row per root-cause decision (day, shift, hazard post, worker)",
                  ROOT_CAUSE_COLUMNS),
}  # fmt: skip
"""Each table's file name, what a row is, and its columns."""


def _table(rows: Iterable[dict[str, Any]], what: str, columns: Sequence[Column]) -> pa.Table:
    rows = list(rows)
    described = {f"description.{c.name}": c.description for c in columns}
    schema = pa.schema(
        [pa.field(c.name, c.type, metadata={DESCRIPTION: c.description}) for c in columns],
        metadata={"table": what, **described},
    )
    return pa.table({c.name: pa.array([c.get(r) for r in rows], c.type) for c in columns},
                    schema=schema)  # fmt: skip


def build(result: RunResult) -> dict[str, pa.Table]:
    """The three tables of a run's records."""
    posts, workers, causes = [], [], []
    for rec in result.shifts:
        key = {"day": rec.day, "shift": rec.shift}
        by_post = {p.post: p for p in rec.posts}
        truth = {w.worker: w for w in rec.workers}
        posts.extend({**key, **vars(p), "_equipment": rec.equipment_causes} for p in rec.posts)
        workers.extend(
            {**key, **vars(w), **(vars(w.roster) if w.roster else {}), "_named": rec.named,
             "_culprits": rec.culprits}
            for w in rec.workers
        )  # fmt: skip
        for c in rec.root_causes:
            worker = truth[c.worker]
            hazard = by_post[c.hazard_post]
            causes.append({
                **key, **vars(c), "D": hazard.D, "set": hazard.set, "Z": worker.Z,
                "Y": worker.Y, "true_culprit": c.worker in rec.culprits,
                "true_culprit_here": c.worker in hazard.culprits,
                "true_needs_management": worker.needs_management,
                "true_needs_training": worker.needs_training,
            })  # fmt: skip
    return {
        name: _table(rows, *TABLES[name])
        for name, rows in ((POSTS, posts), (WORKERS, workers), (ROOT_CAUSES, causes))
    }


def data_dictionary() -> str:
    """``tables.md``: every table's columns (type, meaning) and the units of results.json."""
    lines = ["# Data dictionary", "",
             "Columns starting with `true_` hold the simulator's truth (a real plant has none).",
             "The same descriptions are in each Parquet file's metadata.", ""]  # fmt: skip
    for name, (what, columns) in TABLES.items():
        lines += [f"## {name}", "", f"{what.capitalize()}.", "",
                  "| column | type | meaning |", "| --- | --- | --- |"]  # fmt: skip
        lines += [f"| `{c.name}` | {c.type} | {c.description} |" for c in columns]
        lines.append("")
    lines += ["## results.json: units", "", "| field | unit |", "| --- | --- |"]
    lines += [f"| {field} | {unit} |" for field, unit in UNITS.items()]
    return "\n".join(lines) + "\n"


def write(result: RunResult, folder: Path | Location) -> None:
    """Write the three tables and their data dictionary (``tables.md``) into ``folder`` (local
    or on object storage)."""
    for name, table in build(result).items():
        write_table(table, folder / name)
    (folder / DICTIONARY).write_text(data_dictionary(), encoding="utf-8")


def write_table(table: pa.Table, target: Path | Location) -> None:
    """Write ``table`` as the Parquet file ``target`` (local or on object storage), whole."""
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    target.write_bytes(buffer.getvalue())


def frames(result: RunResult) -> dict[str, pd.DataFrame]:
    """The tables as pandas frames (for plots)."""
    return {name.removesuffix(".parquet"): t.to_pandas() for name, t in build(result).items()}


TRIALS = "one row per trial of the study: its state, objective values and parameters"


def _kind(values: list[Any]) -> pa.DataType:
    """The Arrow type of a parameter's values: bool, integer, float or text (no objects)."""
    known = [v for v in values if v is not None]
    if known and all(isinstance(v, bool) for v in known):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in known):
        return pa.int64()
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in known):
        return pa.float64()
    return pa.string()


def trials_table(
    rows: Sequence[dict[str, Any]], *, objectives: Sequence[str], swept: Sequence[str]
) -> pa.Table:
    """``trials.parquet``: a study's trials, typed (no object or struct columns) and described
    like the run's tables. ``rows``: ``number``, ``state``, ``values`` (objective → value),
    ``params`` (name → value, the swept thresholds included), ``start``, ``retry_of``,
    ``fail_reason``."""
    names = sorted({name for r in rows for name in r["params"]})
    columns = [
        Column("number", pa.int32(), _key("number"),
               "trial number; trial 0 is the start (MODEL.md's parameters or --params)"),
        Column("state", pa.string(), _key("state"), "COMPLETE, FAIL, PRUNED, RUNNING or WAITING"),
        *(Column(o, pa.float64(), lambda r, o=o: r["values"].get(o),
                 f"objective {o} on the tuning days (null unless COMPLETE)") for o in objectives),
        *(Column(f"params_{n}", _kind([r["params"].get(n) for r in rows]),
                 lambda r, n=n: r["params"].get(n),
                 f"parameter {n}, "
                 + ("set by the exact threshold sweep" if n in swept else "sampled by the study"))
          for n in names),
        Column("start", pa.bool_(), _key("start", False), "the trial is the start (enqueued)"),
        Column("retry_of", pa.int32(), _key("retry_of"),
               "the trial a dead driver left running that this one repeats"),
        Column("fail_reason", pa.string(), _key("fail_reason"), "why the trial failed"),
    ]  # fmt: skip
    return _table(rows, TRIALS, columns)
