"""Per-(day, person) cells of shift results: the counts every headline figure needs, and the
figures under any row of cell weights (a row of ones: the figures themselves).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.evaluation.results import ShiftResult, WorkerResult
from harness.runtime.errors import HarnessError

FLAGS = (("management", "Z", "needs_management"), ("training", "Y", "needs_training"))
"""Worker flags: name (also the record's flag key), score key, label key."""


PRF = ("precision", "recall", "f1")
"""The figures of a group of tp, fp, fn counts (root causes, each flag)."""
RATIOS: dict[str, str] = {"faults_explained": "value", "equipment_attribution": "accuracy"}
"""The groups that are one ratio of two summed counts (explained / total, agreed / n), by the
ratio's key."""
RANKED = "auc"
"""A flag's figure of its scores' ranking (not of counts): ROC AUC."""


GROUPS: dict[str, tuple[str, ...]] = {
    "root_cause": PRF,
    **{group: (key,) for group, key in RATIOS.items()},
    **{flag: (*PRF, RANKED) for flag, _, _ in FLAGS},
}
"""The figures computed from the per-day counts (:func:`group_values`), by group."""


FIGURES: tuple[str, ...] = tuple(f"{g}.{k}" for g, keys in GROUPS.items() for k in keys)
"""Every figure, as ``group.key`` of :func:`run_metrics`' dict."""


NOBODY = ""
"""The person of a figure's unit that belongs to no worker (an equipment attribution)."""


@dataclass(frozen=True)
class Ranking:
    """A flag's scores against its labels in ascending score order (NaN scores left out).

    Attributes:
        cells: ``(N,)`` the cell of each sample.
        positive: ``(N,)`` its label.
        starts: first index of each run of tied scores.
    """

    cells: np.ndarray
    positive: np.ndarray
    starts: np.ndarray


@dataclass(frozen=True)
class CellTable:
    """Per-(day, person) counts of a set of shift results: all the headline figures need.

    Attributes:
        days: the evaluated days, ascending.
        people: the worker ids, sorted; :data:`NOBODY` is person ``len(people)``.
        cell_day: ``(C,)`` day row of each cell.
        cell_person: ``(C,)`` person row of each cell.
        counts: per group, ``(C, k)`` ints: ``root_cause`` and the two flags (tp, fp, fn),
            ``faults_explained`` (explained, total), ``equipment_attribution`` (agree, n).
        rankings: per flag, the :class:`Ranking` of its score (Z, −Y) against its label.
    """

    days: tuple[int, ...]
    people: tuple[str, ...]
    cell_day: np.ndarray
    cell_person: np.ndarray
    counts: dict[str, np.ndarray]
    rankings: dict[str, Ranking]

    def weights(self, day_w: np.ndarray, person_w: np.ndarray) -> np.ndarray:
        """``(B, C)`` cell weights from ``(B, days)`` day and ``(B, people + 1)`` person weights."""
        return day_w[:, self.cell_day] * person_w[:, self.cell_person]


def people_of(shifts: Sequence[ShiftResult]) -> tuple[str, ...]:
    """The sorted worker ids of shift results (workers and culprits)."""
    found = {w.worker for rec in shifts for w in rec.workers}
    found |= {c for rec in shifts for c in rec.culprits}
    return tuple(sorted(found - {NOBODY}))


def cell_table(shifts: Sequence[ShiftResult], people: Sequence[str] | None = None) -> CellTable:
    """Per-(day, person) counts of the headline figures from shift results.

    Args:
        people: the person rows (default :func:`people_of`); paired tables share one.
    """
    _check_records(shifts)
    days = tuple(sorted({rec.day for rec in shifts}))
    people = people_of(shifts) if people is None else tuple(people)
    day_row = {d: g for g, d in enumerate(days)}
    person_row = {p: k for k, p in enumerate(people)}
    person_row[NOBODY] = len(people)
    cells: dict[tuple[int, int], int] = {}

    def cell(g: int, person: str) -> int:
        return cells.setdefault((g, person_row[str(person)]), len(cells))

    units: dict[str, list[tuple[int, tuple[int, ...]]]] = defaultdict(list)
    sample_cells: list[int] = []
    workers: list[WorkerResult] = []
    for rec in shifts:
        g = day_row[rec.day]
        named_at, named, culprits = rec.named_at, rec.named, rec.culprits
        for w in sorted(named):
            units["root_cause"].append((cell(g, w), (w in culprits, w not in culprits, 0)))
        units["root_cause"].extend((cell(g, w), (0, 0, 1)) for w in sorted(culprits - named))
        for p in rec.posts:
            there = named_at.get(p.post, set())
            for fault in p.worker_faults():
                units["faults_explained"].append(
                    (cell(g, min(fault)), (bool(there & set(fault)), 1))
                )
            if p.hazard and p.faults:
                agree = (not there) == (not p.culprits)
                units["equipment_attribution"].append((cell(g, NOBODY), (agree, 1)))
        for w in rec.workers:
            workers.append(w)
            sample_cells.append(cell(g, w.worker))
    n_cells = len(cells)
    widths = {"root_cause": 3, "faults_explained": 2, "equipment_attribution": 2}
    counts = {}
    for group, width in widths.items():
        table = np.zeros((n_cells, width), dtype=np.int64)
        if units[group]:
            at = np.array([c for c, _ in units[group]], dtype=np.intp)
            np.add.at(table, at, np.array([v for _, v in units[group]], dtype=np.int64))
        counts[group] = table
    at = np.array(sample_cells, dtype=np.intp)
    rankings = {}
    for name, score_key, label_key in FLAGS:
        flags = np.array([getattr(w, name) for w in workers], dtype=bool)
        labels = np.array([getattr(w, label_key) for w in workers], dtype=bool)
        table = np.zeros((n_cells, 3), dtype=np.int64)
        for col, mask in enumerate((flags & labels, flags & ~labels, ~flags & labels)):
            table[:, col] = np.bincount(at[mask], minlength=n_cells)
        counts[name] = table
        scores = np.array([_or_nan(getattr(w, score_key)) for w in workers])
        if score_key == "Y":
            scores = -scores  # a low proficiency ranks a worker as needing training
        rankings[name] = ranking(scores, labels, at)
    cell_day = np.array([g for g, _ in cells], dtype=np.intp)
    cell_person = np.array([k for _, k in cells], dtype=np.intp)
    return CellTable(days, people, cell_day, cell_person, counts, rankings)


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else value


def ranking(scores: np.ndarray, labels: np.ndarray, cells: np.ndarray) -> Ranking:
    """The :class:`Ranking` of ``scores`` (higher: more likely positive) against ``labels``,
    each sample in cell ``cells`` (NaN scores left out)."""
    keep = ~np.isnan(scores)
    order = np.argsort(scores[keep], kind="stable")
    s = scores[keep][order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if s.size else np.zeros(0, np.intp)
    return Ranking(cells[keep][order], labels[keep][order], starts)


def group_values(table: CellTable, group: str, weights: np.ndarray) -> dict[str, np.ndarray]:
    """A group's figures under each row of cell weights: ``(B,)`` each (NaN where undefined).

    Args:
        table: the records' per-cell counts.
        group: one of :data:`GROUPS`.
        weights: ``(B, cells)`` cell weights (a row of ones: the figures themselves).
    """
    sums = weights @ table.counts[group]
    if group in RATIOS:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sums[:, 1] > 0, sums[:, 0] / sums[:, 1], np.nan)
        return {RATIOS[group]: ratio}
    out = dict(zip(PRF, prf(*sums.T), strict=True))
    if group in table.rankings:
        out[RANKED] = weighted_auc(table.rankings[group], weights)
    return out


def figure_values(table: CellTable, name: str, weights: np.ndarray) -> np.ndarray:
    """Figure ``name`` (one of :data:`FIGURES`) under each row of cell weights (see
    :func:`group_values`)."""
    group, key = split_figure(name)
    return group_values(table, group, weights)[key]


def weighted_auc(ranking: Ranking, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of a ranking under each row of ``(B, cells)`` cell weights (NaN: one class);
    ties count one half."""
    if not ranking.cells.size:
        return np.full(weights.shape[0], np.nan)
    sample = weights[:, ranking.cells]
    positives = np.add.reduceat(sample * ranking.positive, ranking.starts, axis=1)
    negatives = np.add.reduceat(sample * ~ranking.positive, ranking.starts, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    wins = np.sum(positives * (below + 0.5 * negatives), axis=1)
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, ...]:
    """Precision, recall and F1 of count arrays (0 where undefined, scikit-learn's default)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        total = precision + recall
        f1 = np.where(total > 0, 2 * precision * recall / total, 0.0)
    return precision, recall, f1


def split_figure(name: str) -> tuple[str, str]:
    if name not in FIGURES:
        raise HarnessError(f"unknown figure {name!r}; expected one of {list(FIGURES)}")
    group, key = name.split(".")
    return group, key


def _check_records(shifts: Sequence[ShiftResult]) -> None:
    """Raise unless there is a shift record to score."""
    if not shifts:
        raise HarnessError("`shifts` must hold at least one shift record, got none")
