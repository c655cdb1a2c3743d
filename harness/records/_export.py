"""``hazard-harness records export``: a simulated scenario written as a records folder.

Every day (history and evaluated), shift and post is simulated at signal fidelity, exactly
the arrays ``run`` stores and scores (:func:`harness.evaluation.fidelities.signal_workers`); one
``seconds/post-<post>.parquet`` per post (a row group per shift), the true levels as the
levels (a perfect grader: photos are not exported) with the environment readings, and the
simulator's truth as labels. So ``run`` on the folder reproduces ``run SCENARIO --graders
truth``.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import core
import sim
from harness.evaluation.fidelities import signal_workers
from harness.records import _format as fmt
from harness.runtime import staging, storage
from sim.scenario import QUANTITIES

SOURCES = {
    "area": "simulator (signal fidelity): measured area ids with the fitted position lag",
    "speeds": "simulator (signal fidelity): keypoint speeds with the fitted speed error, px/s",
    "level": "simulator truth (a perfect grader; photos are not exported)",
    "environment": "simulator: the post's sensors at the shift change",
    "labels": "simulator truth: faults, their causes and culprits; effective worker traits",
}
SECONDS_SCHEMA = fmt.schema([c for c in fmt.SECONDS_COLUMNS if c.required])
"""The seconds columns written: the simulator has no tracking ``reliability``."""
ENVIRONMENT = fmt.env_columns(QUANTITIES)
"""The level table's environment columns: the simulator's quantities."""
WRITE = {"compression": "zstd", "write_page_checksum": True}
"""Parquet options of every records table (page checksums, as the history store)."""


def _seconds(day: int, shift: str, post: int, records: list[core.WorkerShift]) -> pa.Table:
    """The per-second rows of one post-shift's workers."""
    T = len(records[0].positions)
    n = len(records) * T
    speeds = np.concatenate([np.asarray(r.speeds, np.float32) for r in records])
    columns: dict[str, Any] = {
        "day": np.full(n, day, np.int32),
        "shift": pa.array([shift] * n, pa.string()),
        "post": np.full(n, post, np.int32),
        "worker": pa.array([r.worker for r in records for _ in range(T)], pa.string()),
        "t": np.tile(np.arange(T, dtype=np.int32), len(records)),
        "area": np.concatenate([np.asarray(r.positions, np.int16) for r in records]),
    }
    columns.update({c: speeds[:, k] for k, c in enumerate(fmt.SPEED_COLUMNS)})
    return pa.table(columns, schema=SECONDS_SCHEMA)


def _worker_label(day: int, shift: str, w: sim.SimWorker) -> dict[str, Any]:
    spec = w.spec
    row: dict[str, Any] = {
        "day": day,
        "shift": shift,
        "post": w.record.post,
        "worker": w.record.worker,
        "true_needs_management": bool(w.needs_management),
        "true_needs_training": bool(w.needs_training),
        "true_profile": w.profile,
        **{c.name: None for c in fmt.TRAIT_COLUMNS.values()},
        "true_skill": w.skill,
        "true_offpost_rate": w.offpost_rate,
    }
    if spec is not None:
        row.update({c.name: getattr(spec, trait) for trait, c in fmt.TRAIT_COLUMNS.items()})
    return row


def _table(rows: list[dict[str, Any]], columns: tuple[fmt.RecordsColumn, ...]) -> pa.Table:
    return pa.table({c.name: pa.array([r[c.name] for r in rows], c.type) for c in columns})


def _write_table(table: pa.Table, where: storage.Location) -> None:
    where.mkdir_parent()
    pq.write_table(table, where.path, filesystem=where.fs, **WRITE)  # type: ignore[arg-type]


def export_scenario(
    scenario: sim.Scenario, out: str | os.PathLike[str] | storage.Location
) -> dict[str, Any]:
    """Write ``scenario`` as a records folder in ``out`` (a local folder or a prefix on object
    storage; staged, published when complete, ``records.json`` last).

    Returns a summary: the folder, days, posts, worker-shifts and rows written.

    Raises:
        TypeError: ``scenario`` is not a :class:`sim.Scenario` (``sim.load_scenario`` makes one).
    """
    if not isinstance(scenario, sim.Scenario):
        raise TypeError(
            f"`scenario` must be a sim.Scenario (sim.load_scenario reads one), "
            f"got {type(scenario).__name__}"
        )
    out = storage.location(out, what="`out`")
    days = range(1, scenario.days.history + scenario.days.evaluate + 1)
    summaries: dict[tuple[int, str], dict[int, list[sim.WorkerSummary]]] = defaultdict(dict)
    worker_rows: list[dict[str, Any]] = []
    rows = 0
    with staging.staged(out, last=(fmt.MANIFEST,)) as staged:
        stage = storage.location(staged)
        for post in range(1, scenario.n_posts + 1):
            path = stage / fmt.SECONDS / f"post-{post:05d}.parquet"
            with (
                path.open_output() as sink,
                pq.ParquetWriter(sink, SECONDS_SCHEMA, **WRITE) as writer,  # type: ignore[arg-type]
            ):
                for day in days:
                    for shift in scenario.shift_names:
                        workers = signal_workers(scenario, post=post, day=day, shift=shift)
                        summaries[(day, shift)][post] = [w.summary() for w in workers]
                        worker_rows.extend(_worker_label(day, shift, w) for w in workers)
                        if workers:
                            table = _seconds(day, shift, post, [w.record for w in workers])
                            writer.write_table(table)
                            rows += table.num_rows
        level_rows, label_rows = [], []
        for day in days:
            for shift in scenario.shift_names:
                by_post = summaries[(day, shift)]
                ordered = [s for p in range(1, scenario.n_posts + 1) for s in by_post[p]]
                for s in sim.simulate_post_states(scenario, day=day, shift=shift, workers=ordered):
                    key = {"day": day, "shift": shift, "post": s.post}
                    env = {
                        c.name: float(v) for c, v in zip(ENVIRONMENT, s.environment, strict=True)
                    }
                    level_rows.append({**key, "level": int(s.true_level), **env})
                    faults = [
                        {
                            "kind": f.kind,
                            "severity": f.severity,
                            "cause": f.cause,
                            "culprits": list(f.culprits),
                        }
                        for f in s.faults
                    ]
                    label_rows.append({**key, "true_level": int(s.true_level), "faults": faults})
        _write_table(_table(level_rows, (*fmt.LEVEL_COLUMNS, *ENVIRONMENT)), stage / fmt.LEVELS)
        _write_table(_table(label_rows, fmt.LABEL_POST_COLUMNS), stage / fmt.LABELS_POSTS)
        _write_table(_table(worker_rows, fmt.LABEL_WORKER_COLUMNS), stage / fmt.LABELS_WORKERS)
        manifest = fmt.manifest_json(scenario, sources=SOURCES, environment=QUANTITIES)
        (stage / fmt.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return {
        "out": str(out),
        "days": len(days),
        "posts": scenario.n_posts,
        "worker_shifts": len(worker_rows),
        "rows": rows,
    }
