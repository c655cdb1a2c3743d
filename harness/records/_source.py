"""A records folder as a source of the run pipeline: workers, levels and post states.

:func:`load` checks everything the driver can check cheaply before any work (the manifest,
the Parquet footers, the levels and labels tables); :meth:`Records.prepare` then checks and
stores every post's rows on Ray (:mod:`harness.records._ingest`) and returns what the
pipeline's :func:`harness.evaluation.scoring.score_posts` takes: the store of the post databases and
a worker source. The decisions use the records' levels (or the labels' true levels with
``--graders truth``) and post states built from the labels; without labels the shift records
carry no truth (:meth:`harness.evaluation.results.ShiftRecord.without_truth`) and the metrics
are unavailable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import core
import sim
from harness.adapters.ray_cluster import gather, put
from harness.evaluation.graders import AUTO, TRUTH, Levels, true_levels
from harness.evaluation.history import open_store
from harness.evaluation.results import ShiftResult
from harness.records._format import (
    FORMAT_VERSION,
    LABELS_POSTS,
    LEVELS,
    TRAIT_COLUMNS,
    Manifest,
    RecordsError,
    read_manifest,
)
from harness.records._ingest import ingest
from harness.records._tables import (
    Labels,
    LevelTable,
    SecondsIndex,
    ShiftChangeKey,
    check_labels,
    check_seconds_files,
    read_labels,
    read_levels,
)
from harness.runtime import storage

SPEC_TRAITS = tuple(t for t in TRAIT_COLUMNS if t != "covering")
"""The traits whose label columns, all present, give a worker-shift's :class:`sim.WorkerSpec`
(``covering`` is None but for a floater standing in)."""
GRADERS = (AUTO, TRUTH)
"""``--graders`` a records folder takes: its own levels (auto) or the labels' (truth)."""


@dataclass(frozen=True)
class RecordsSource:
    """The evaluated workers of a post-shift: the stored records, with their labels.

    Picklable (Ray ships it to the scoring tasks). ``labels`` holds, per post, an object-store
    reference to that post's worker labels (so a task gets only its post's); None without
    labels.
    """

    store_root: str
    rate_hz: float
    labels: dict[int, Any] | None

    def __call__(
        self, scenario: sim.Scenario, *, post: int, day: int, shift: str
    ) -> list[sim.SimWorker]:
        records = open_store(self.store_root).worker_shifts(post=post, shift=shift, day=day)
        labels = None if self.labels is None else gather([self.labels[post]])[0]
        out = []
        for record in records:
            label = None if labels is None else labels[(day, shift, record.worker)]
            out.append(_worker(record, label, self.rate_hz))
        return out


def _worker(record: core.WorkerShift, label: dict[str, Any] | None, rate: float) -> sim.SimWorker:
    """A recorded worker-shift in the simulator's worker type (truth from the labels; records
    hold no true positions, so the recorded ones stand in)."""
    label = label or {}
    nan = float("nan")
    spec = None
    if all(label.get(TRAIT_COLUMNS[t].name) is not None for t in SPEC_TRAITS):
        spec = sim.WorkerSpec(
            worker=record.worker,
            profile=label.get("true_profile") or "",
            **{t: label.get(c.name) for t, c in TRAIT_COLUMNS.items()},
        )
    return sim.SimWorker(
        record=record,
        profile=label.get("true_profile"),  # type: ignore[arg-type]
        offpost_rate=label.get("true_offpost_rate", nan),
        skill=label.get("true_skill", nan),
        needs_management=label.get("true_needs_management"),  # type: ignore[arg-type]
        needs_training=label.get("true_needs_training"),  # type: ignore[arg-type]
        true_positions=np.asarray(record.positions),
        keypoints=None,
        rate_hz=rate,
        working=np.ones(len(record.positions), dtype=bool),
        spec=spec,
    )


@dataclass(frozen=True)
class RecordLevels:
    """The records' levels (``levels.parquet``): what the plant's grading gave."""

    levels: dict[ShiftChangeKey, int]

    def __call__(
        self, scenario: sim.Scenario, day: int, shift: str, states: tuple[sim.PostState, ...]
    ) -> np.ndarray:
        return np.array([self.levels[(day, shift, s.post)] for s in states])


@dataclass(frozen=True)
class Records:
    """A checked records folder: manifest, levels, labels (None without)."""

    manifest: Manifest
    levels: LevelTable
    labels: Labels | None
    seconds: SecondsIndex
    """Where each post's rows are (files and row groups)."""

    @property
    def scenario(self) -> sim.Scenario:
        """The line as the pipeline sees it."""
        return self.manifest.scenario()

    def prepare(
        self,
        cache_dir: str | os.PathLike[str] | storage.Location,
        *,
        max_in_flight: int,
        progress: bool,
    ) -> tuple[storage.Location, RecordsSource]:
        """Check and store every post's rows on Ray; the store and the worker source."""
        root, keys = ingest(
            self.manifest, cache_dir, self.seconds, max_in_flight=max_in_flight, progress=progress
        )
        if self.labels is not None:
            check_labels(self.manifest, self.labels, keys)
        labels = None
        if self.labels is not None:
            by_post: dict[int, dict[tuple[int, str, str], dict[str, Any]]] = {
                p: {} for p in range(1, self.manifest.posts + 1)
            }
            for (day, shift, post, worker), label in self.labels.workers.items():
                by_post[post][(day, shift, worker)] = label
            labels = {p: put(found) for p, found in by_post.items()}
        return root, RecordsSource(str(root), self.manifest.rate_hz, labels)

    def check_graders(self, spec: str) -> None:
        """``--graders`` must be auto (the records' levels) or truth (needs labels)."""
        if spec not in GRADERS:
            raise RecordsError(
                f"--graders must be {' or '.join(GRADERS)} for a records folder "
                f"(its levels, or its labels' true levels), got {spec!r}"
            )
        if spec == TRUTH and self.labels is None:
            raise RecordsError(
                f"--graders truth needs the true levels of {LABELS_POSTS}; this "
                "records folder has no labels: use --graders auto"
            )

    def levels_source(self, spec: str) -> tuple[Levels, dict[str, Any]]:
        """The levels the model sees, and ``results.json``'s ``graders``."""
        if spec == TRUTH:
            return true_levels, {"source": "truth", "requested": spec}
        return RecordLevels(self.levels.level), {
            "source": "records",
            "requested": spec,
            "table": LEVELS,
        }

    def states(
        self, scenario: sim.Scenario, day: int, shift: str, workers: Any
    ) -> tuple[sim.PostState, ...]:
        """The post states of a shift change from the labels (without: the records' levels
        stand in for the true ones; ``ShiftResult.without_truth`` removes them after)."""
        out = []
        for post in range(1, scenario.n_posts + 1):
            key = (day, shift, post)
            if self.labels is not None:
                level, faults = self.labels.posts[key]
            else:
                level, faults = self.levels.level[key], ()
            out.append(
                sim.PostState(
                    post=post,
                    faults=faults,
                    displacement_px=(0.0, 0.0),
                    missing=frozenset(),
                    environment=self.levels.environment[key],
                    true_level=level,
                )
            )
        return tuple(out)

    def describe(self) -> dict[str, Any]:
        """``results.json``'s ``perception`` for a records run: where the arrays came from."""
        m = self.manifest
        return {
            "source": "records",
            "folder": m.folder.uri,
            "format_version": FORMAT_VERSION,
            "labelled": self.labels is not None,
            "speed_units": m.speed_units,
            "sources": m.sources,
        }


def load(folder: str | Path | storage.Location) -> Records:
    """Check a records folder before any work (the rows of ``seconds`` are checked per post
    when they are read); raises :class:`RecordsError` with one line naming the problem."""
    m = read_manifest(folder)
    seconds = check_seconds_files(m)
    return Records(manifest=m, levels=read_levels(m), labels=read_labels(m), seconds=seconds)


def unavailable_metrics(records: Sequence[ShiftResult]) -> dict[str, Any]:
    """The metrics of an unlabelled run: unavailable (never zero), with the counts."""
    return {
        "available": False,
        "reason": "the records folder has no labels (labels/posts.parquet, "
        "labels/workers.parquet): decisions only",
        "worker_shifts": sum(len(r.workers) for r in records),
        "post_shifts": sum(len(r.posts) for r in records),
    }
