"""Metrics of the model's decisions against the simulator's truth, with bootstrap intervals.

Pure functions of shift records (:mod:`harness.evaluation.results`; no I/O, no Ray), in the
style of TrackEval: each evaluated day's counts (:func:`day_table`) are kept apart from their
combination (:func:`figure_values`), so a figure and its bootstrap replicates come from one
code path.

Definitions (a shift record is one entry of ``results.json``'s ``shifts``):

- **root_cause** (the headline), over (day, shift, worker): the workers the model names as a
  root cause of some hazard post of the shift (any row of ``root_causes``) against the
  workers who truly caused a fault in the shift (the union of the posts' ``culprits``).
  precision, recall, f1 (0 where undefined), tp, fp, fn.
- **root_cause_pairs**, over (day, shift, hazard post, worker): the model's (hazard post,
  named worker) pairs against the (faulted post, culprit) pairs, matched exactly. One
  decision about a worker counts at every hazard post whose set holds the worker's post.
- **faults_explained**: the share of worker-caused faults for which the model names one of
  the fault's culprits as a root cause of the fault's post (which makes that post a hazard
  post of the model). A fault with several culprits is explained when any one of them is
  named: the manager is led to the fault; naming every culprit is root_cause's recall. The
  faults are a post's ``fault_culprits`` (one list of culprits per worker-caused fault) where
  the record has them; else each distinct culprit of a post stands for one fault, which is
  exact for today's simulator (a worker causes at most one fault per post-shift, alone).
- **equipment_attribution**: over the model's hazard posts that truly have a fault, whether
  "equipment/environment" (nobody in its set flagged) agrees with "no worker caused a fault
  here". accuracy (NaN with no such post), n.
- **management / training**: the flag (Z > τ_Z / Y < τ_Y) against the label
  (needs_management / needs_training) over every worker-shift: precision, recall, f1; ROC
  AUC of Z / of −Y (worker-shifts with undefined Y left out; ties count one half; NaN with
  one class only).
- **hazard_detection**: ``D > τ_D`` from the model's levels against from the true levels,
  over post-shifts: tp, fp, fn, tn.
- **level_accuracy / level_confusion**: the levels the model sees against the true levels;
  ``level_confusion[i][j]`` counts post-shifts of true level i given level j
  (:func:`core.confusion_matrix`: rows = true level, columns = the model's level).

**Intervals.** Each headline figure (:data:`HEADLINE`) gets a 95 % percentile interval from a
seeded two-way bootstrap over evaluated *days* and *people* (worker ids): a replicate draws
the days with replacement and, independently, the people with replacement, and weighs each
(day, person) cell by the product of the two counts: the pigeonhole bootstrap of Owen (2007),
"The pigeonhole bootstrap", Ann. Appl. Stat. 1(2):386–411 (product weights as in Owen &
Eckles 2012, "Bootstrapping data arrays of arbitrary order"). People repeat across days, so
a figure that rests on two people gets an interval as wide as those two people make it;
over many people and days it comes close to the day-only bootstrap (``people=False``).
Counts are summed per cell (:func:`cell_table`); a worker-caused fault belongs to its first
culprit, an equipment attribution to no person (weight 1). The AUC weighs each worker-shift
by its cell's weight. Replicates where a figure is undefined (no positives drawn, say) are
left out; the interval is ``None`` when the figure itself is undefined, or when no interval
was asked for (``replicates=0``). The paired version (:func:`paired_difference`) scores two
sets of records of the same days and people (tuned and default) under the same replicates,
so their difference gets its own interval.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import core
from harness.evaluation.results import ShiftRecord, WorkerRecord
from harness.runtime.errors import HarnessError

DEFAULT_REPLICATES = 2000
"""Bootstrap replicates of a run's intervals."""
MIN_CULPRITS = 20
"""Fewer true culprits than this on a set of days is too few to tell (see too_small_to_tell)."""
MAX_HALF_WIDTH = 0.1
"""A 95 % interval wider than ± this is too wide to tell (see too_small_to_tell)."""

GROUPS: dict[str, tuple[str, ...]] = {
    "root_cause": ("precision", "recall", "f1"),
    "faults_explained": ("value",),
    "equipment_attribution": ("accuracy",),
    "management": ("precision", "recall", "f1", "auc"),
    "training": ("precision", "recall", "f1", "auc"),
}
"""The figures computed from the per-day counts (:func:`group_values`), by group."""
FIGURES: tuple[str, ...] = tuple(f"{g}.{k}" for g, keys in GROUPS.items() for k in keys)
"""Every figure, as ``group.key`` of :func:`run_metrics`' dict."""


@dataclass(frozen=True)
class Figure:
    """A headline figure of :func:`run_metrics`: where it sits and what it is called."""

    path: str
    """``group.key`` in :func:`run_metrics`' dict (its interval: :func:`interval`)."""
    name: str
    """The figure's one-word name: tuning objective, table column, MLflow metric."""
    label: str
    """What a reader of the report is told it is."""


CATALOGUE: tuple[Figure, ...] = (
    Figure("root_cause.f1", "root_cause_f1", "root-cause F1 (worker level)"),
    Figure("root_cause.precision", "root_cause_precision", "root-cause precision (worker level)"),
    Figure("root_cause.recall", "root_cause_recall", "root-cause recall (worker level)"),
    Figure("faults_explained.value", "faults_explained", "faults explained"),
    Figure("equipment_attribution.accuracy", "equipment_accuracy",
           "equipment attribution accuracy"),
    Figure("management.f1", "management_f1", "management flag F1"),
    Figure("management.auc", "management_auc", "management ROC AUC of Z"),
    Figure("training.f1", "training_f1", "training flag F1"),
    Figure("training.auc", "training_auc", "training ROC AUC of −Y"),
)  # fmt: skip
"""The one catalogue of headline figures: the report, the tuning objectives and the tuned-vs-
start table all read it."""
HEADLINE: tuple[str, ...] = tuple(f.path for f in CATALOGUE)
"""The figures that carry an interval."""
_GROUP_HEADLINE = {
    "root_cause": "f1",
    "faults_explained": "value",
    "equipment_attribution": "accuracy",
    "management": "f1",
    "training": "f1",
}
"""Each group's headline figure: its interval is the group's ``ci95``."""
_FLAGS = (("management", "Z", "needs_management"), ("training", "Y", "needs_training"))
"""Worker flags: name (also the record's flag key), score key, label key."""


NOBODY = ""
"""The person of a figure's unit that belongs to no worker (an equipment attribution)."""
_CHUNK = 2**22
"""Replicate weights held at once (cells or samples × replicates), to bound memory."""


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
    """Per-(day, person) counts of a set of shift records: all the headline figures need.

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


def people_of(shifts: Sequence[ShiftRecord]) -> tuple[str, ...]:
    """The sorted worker ids of shift records (workers and culprits)."""
    found = {w.worker for rec in shifts for w in rec.workers}
    found |= {c for rec in shifts for c in rec.culprits}
    return tuple(sorted(found - {NOBODY}))


def cell_table(shifts: Sequence[ShiftRecord], people: Sequence[str] | None = None) -> CellTable:
    """Per-(day, person) counts of the headline figures from shift records.

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
    workers: list[WorkerRecord] = []
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
    for name, score_key, label_key in _FLAGS:
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


def day_weights(n_days: int, *, replicates: int, seed: int) -> np.ndarray:
    """``(replicates, n_days)`` bootstrap weights: how often each day is drawn, with replacement.

    The stream is keyed by ``seed`` alone, so two sets of records of the same days (tuned and
    default) get the same replicates.
    """
    _check_replicates(replicates)
    return _draws(n_days, replicates, seed, 0)


def person_weights(n_people: int, *, replicates: int, seed: int) -> np.ndarray:
    """``(replicates, n_people + 1)`` bootstrap weights of the people (drawn with replacement,
    a stream apart from the days'); the last column, :data:`NOBODY`, is always 1."""
    _check_replicates(replicates)
    drawn = _draws(n_people, replicates, seed, 1)
    return np.hstack([drawn, np.ones((replicates, 1))])


def _check_replicates(replicates: int) -> None:
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 0:
        raise HarnessError(f"`replicates` must be an int >= 0, got {replicates!r}")


@functools.lru_cache(maxsize=16)
def _draws(n: int, replicates: int, seed: int, stream: int) -> np.ndarray:
    """Multinomial counts of ``n`` draws of ``n`` items per replicate, keyed by (seed, stream)
    (stream 0: days, 1: people); read-only and cached (every trial scores the same days)."""
    key = np.random.SeedSequence(seed) if stream == 0 else np.random.SeedSequence([seed, stream])
    rng = np.random.default_rng(key)
    drawn = rng.integers(0, max(n, 1), size=(replicates, n))  # each replicate's n draws
    drawn += n * np.arange(replicates)[:, None]
    counts = np.bincount(drawn.ravel(), minlength=replicates * n)
    weights = counts.reshape(replicates, n).astype(np.float64)
    weights.setflags(write=False)
    return weights


def group_values(table: CellTable, group: str, weights: np.ndarray) -> dict[str, np.ndarray]:
    """A group's figures under each row of cell weights: ``(B,)`` each (NaN where undefined).

    Args:
        table: the records' per-cell counts.
        group: one of :data:`GROUPS`.
        weights: ``(B, cells)`` cell weights (a row of ones: the figures themselves).
    """
    sums = weights @ table.counts[group]
    if group in ("faults_explained", "equipment_attribution"):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(sums[:, 1] > 0, sums[:, 0] / sums[:, 1], np.nan)
        return {GROUPS[group][0]: ratio}
    out = dict(zip(("precision", "recall", "f1"), _prf(*sums.T), strict=True))
    if group in table.rankings:
        out["auc"] = weighted_auc(table.rankings[group], weights)
    return out


def figure_values(table: CellTable, name: str, weights: np.ndarray) -> np.ndarray:
    """Figure ``name`` (one of :data:`FIGURES`) under each row of cell weights (see
    :func:`group_values`)."""
    group, key = _split(name)
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


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, ...]:
    """Precision, recall and F1 of count arrays (0 where undefined, scikit-learn's default)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        total = precision + recall
        f1 = np.where(total > 0, 2 * precision * recall / total, 0.0)
    return precision, recall, f1


def _intervals(rows: Sequence[np.ndarray]) -> list[list[float] | None]:
    """Per array of replicates, the 2.5 and 97.5 percentiles of its defined values (None when
    none is); the arrays without NaN go through one percentile call."""
    out: list[list[float] | None] = [None] * len(rows)
    complete = [k for k, r in enumerate(rows) if r.size and np.all(np.isfinite(r))]
    if complete:
        bounds = np.percentile(np.stack([rows[k] for k in complete]), [2.5, 97.5], axis=1)
        for k, low, high in zip(complete, *bounds, strict=True):
            out[k] = [float(low), float(high)]
    for k, r in enumerate(rows):
        defined = r[np.isfinite(r)]
        if k not in complete and defined.size:
            out[k] = [float(v) for v in np.percentile(defined, [2.5, 97.5])]
    return out


def _split(name: str) -> tuple[str, str]:
    if name not in FIGURES:
        raise HarnessError(f"unknown figure {name!r}; expected one of {list(FIGURES)}")
    group, key = name.split(".")
    return group, key


def replicated(
    tables: Sequence[CellTable],
    figures: Sequence[str],
    *,
    replicates: int,
    seed: int,
    people: bool = True,
) -> list[dict[str, np.ndarray]]:
    """Per table, each figure under the same ``(replicates,)`` bootstrap replicates.

    The tables must share days and people (e.g. two parameter sets on the same worker-shifts);
    ``people=False`` resamples the days alone.
    """
    first = tables[0]
    day_w = day_weights(len(first.days), replicates=replicates, seed=seed)
    person_w = (
        person_weights(len(first.people), replicates=replicates, seed=seed)
        if people
        else np.ones((replicates, len(first.people) + 1))
    )
    width = max([len(t.cell_day) for t in tables] + [t.rankings["management"].cells.size
                                                      for t in tables] + [1])  # fmt: skip
    step = max(1, _CHUNK // width)
    out: list[dict[str, list[np.ndarray]]] = [defaultdict(list) for _ in tables]
    for start in range(0, replicates, step):
        chunk = slice(start, start + step)
        for table, found in zip(tables, out, strict=True):
            weights = table.weights(day_w[chunk], person_w[chunk])
            groups = {g: group_values(table, g, weights) for g in {_split(f)[0] for f in figures}}
            for name in figures:
                group, key = _split(name)
                found[name].append(groups[group][key])
    return [
        {name: np.concatenate(found[name]) if found[name] else np.zeros(0) for name in figures}
        for found in out
    ]


def run_metrics(
    shifts: Sequence[ShiftRecord],
    *,
    tau_D: float,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    people: bool = True,
) -> dict[str, Any]:
    """All metrics of a run from its shift records (see the module doc).

    Args:
        shifts: the shift records.
        tau_D: the hazard threshold the run used (hazard detection).
        replicates: bootstrap replicates for the intervals (0: no intervals, all ``None``;
            what a tuning trial needs).
        seed: the bootstrap's seed.
        people: resample people with the days (the two-way bootstrap); False: days alone.

    Returns:
        per group (``root_cause``, ``faults_explained``, ``equipment_attribution``,
        ``management``, ``training``) its figures, counts and intervals: ``ci95`` is the
        group's headline figure's (f1, value, accuracy, f1, f1), ``<figure>_ci95`` each
        figure's where a group has several; then ``root_cause_pairs``, ``hazard_detection``,
        ``level_accuracy``, ``level_confusion`` (rows = true level), ``worker_shifts``,
        ``post_shifts`` and ``bootstrap`` (``replicates``, ``seed``, ``days``, ``people``:
        how many, and ``resampled``: what).
    """
    table = cell_table(shifts)
    ones = np.ones((1, len(table.cell_day)))
    value = {}
    for group in GROUPS:
        point = group_values(table, group, ones)
        for key in GROUPS[group]:
            value[f"{group}.{key}"] = float(point[key][0])
    defined = [name for name in HEADLINE if np.isfinite(value[name])]
    spread = replicated([table], defined, replicates=replicates, seed=seed, people=people)[0]
    ci = dict.fromkeys(HEADLINE)
    ci.update(zip(defined, _intervals([spread[n] for n in defined]), strict=True))
    sums = {group: [int(v) for v in c.sum(axis=0)] for group, c in table.counts.items()}
    out: dict[str, Any] = {
        "root_cause": {
            **{k: value[f"root_cause.{k}"] for k in ("precision", "recall", "f1")},
            **dict(zip(("tp", "fp", "fn"), sums["root_cause"], strict=True)),
            "ci95": ci["root_cause.f1"],
            **{f"{k}_ci95": ci[f"root_cause.{k}"] for k in ("precision", "recall", "f1")},
        },
        "faults_explained": {
            "value": value["faults_explained.value"],
            **dict(zip(("explained", "total"), sums["faults_explained"], strict=True)),
            "ci95": ci["faults_explained.value"],
        },
        "equipment_attribution": {
            "accuracy": value["equipment_attribution.accuracy"],
            "n": sums["equipment_attribution"][1],
            "ci95": ci["equipment_attribution.accuracy"],
        },
    }
    for flag, _, _ in _FLAGS:
        out[flag] = {
            **{k: value[f"{flag}.{k}"] for k in ("precision", "recall", "f1", "auc")},
            "ci95": ci[f"{flag}.f1"],
            "f1_ci95": ci[f"{flag}.f1"],
            "auc_ci95": ci[f"{flag}.auc"],
        }
    pairs = _pair_counts(shifts)
    scores = _prf(*(np.float64(pairs[k]) for k in ("tp", "fp", "fn")))
    out["root_cause_pairs"] = {
        **{k: float(v) for k, v in zip(("precision", "recall", "f1"), scores, strict=True)},
        **pairs,
    }
    posts = [p for rec in shifts for p in rec.posts]
    confusion = core.confusion_matrix([p.true_level for p in posts], [p.level for p in posts])
    detected = np.array([tau_D < p.D for p in posts])
    truly = np.array([p.true_D > tau_D for p in posts])
    out["hazard_detection"] = {
        "tp": int(np.sum(detected & truly)),
        "fp": int(np.sum(detected & ~truly)),
        "fn": int(np.sum(~detected & truly)),
        "tn": int(np.sum(~detected & ~truly)),
    }
    out["level_accuracy"] = float(np.trace(confusion) / max(1, confusion.sum()))
    out["level_confusion"] = confusion.tolist()
    out["worker_shifts"] = sum(len(rec.workers) for rec in shifts)
    out["post_shifts"] = len(posts)
    out["bootstrap"] = {
        "replicates": replicates,
        "seed": seed,
        "days": len(table.days),
        "people": len(table.people),
        "resampled": "days and people" if people else "days",
    }
    return out


def _pair_counts(shifts: Sequence[ShiftRecord]) -> dict[str, int]:
    """tp, fp, fn of the (day, shift, hazard post, worker) pairs (root_cause_pairs)."""
    tp = fp = fn = 0
    for rec in shifts:
        named = {(c.hazard_post, c.worker) for c in rec.root_causes}
        truth = {(p.post, w) for p in rec.posts for w in p.culprits}
        tp, fp, fn = tp + len(named & truth), fp + len(named - truth), fn + len(truth - named)
    return {"tp": tp, "fp": fp, "fn": fn}


def paired_difference(
    a: Sequence[ShiftRecord],
    b: Sequence[ShiftRecord],
    *,
    figures: Sequence[str] = HEADLINE,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    people: bool = True,
) -> dict[str, dict[str, Any]]:
    """Each figure of records ``a`` minus that of ``b``, with a paired bootstrap interval.

    ``a`` and ``b`` are shift records of the same days (e.g. tuned and default parameters on
    the held-out days). Every replicate draws the same days and people for both (``people``
    as for :func:`run_metrics`), so the interval is that
    of the difference itself, narrower than the two intervals side by side when the two
    sets of decisions move together from day to day.

    Returns:
        per figure name: ``{"a", "b", "difference", "ci95"}`` (``ci95`` ``None`` when either
        figure is undefined).
    """
    shared = tuple(sorted(set(people_of(a)) | set(people_of(b))))
    table_a, table_b = cell_table(a, shared), cell_table(b, shared)
    if table_a.days != table_b.days:
        raise HarnessError(
            f"paired records must cover the same days, got {list(table_a.days)} and "
            f"{list(table_b.days)}"
        )
    spread_a, spread_b = replicated(
        [table_a, table_b], figures, replicates=replicates, seed=seed, people=people
    )
    out = {}
    for name in figures:
        value_a = float(figure_values(table_a, name, np.ones((1, len(table_a.cell_day))))[0])
        value_b = float(figure_values(table_b, name, np.ones((1, len(table_b.cell_day))))[0])
        difference = value_a - value_b
        ci = None
        if np.isfinite(difference):
            ci = _intervals([spread_a[name] - spread_b[name]])[0]
        out[name] = {"a": value_a, "b": value_b, "difference": difference, "ci95": ci}
    return out


def interval(metrics: Mapping[str, Any], name: str) -> list[float] | None:
    """The 95 % interval of headline figure ``name`` in a :func:`run_metrics` dict."""
    group, key = _split(name)
    entry = metrics[group]
    return entry.get(f"{key}_ci95", entry["ci95"] if key == _GROUP_HEADLINE[group] else None)


def too_small_to_tell(
    metrics: Mapping[str, Any],
    *,
    figure: str = "root_cause.f1",
    min_culprits: int = MIN_CULPRITS,
    max_half_width: float = MAX_HALF_WIDTH,
) -> list[str]:
    """Why a set of days is too small to tell figures apart (empty when it is not).

    Too small: fewer than ``min_culprits`` true culprits (root_cause's tp + fn), or
    ``figure``'s 95 % interval wider than ``± max_half_width`` (or missing).

    Args:
        metrics: a :func:`run_metrics` dict of those days.
        figure: the figure that decides (e.g. the tuning objective), one of :data:`HEADLINE`.
    """
    reasons = []
    culprits = metrics["root_cause"]["tp"] + metrics["root_cause"]["fn"]
    if culprits < min_culprits:
        reasons.append(f"only {culprits} true culprits (fewer than {min_culprits})")
    ci = interval(metrics, figure)
    if ci is None:
        reasons.append(f"{figure} has no interval")
    elif (ci[1] - ci[0]) / 2 > max_half_width:
        reasons.append(
            f"{figure}'s 95 % interval [{ci[0]:.3f}, {ci[1]:.3f}] is wider than ±{max_half_width}"
        )
    return reasons


def _check_records(shifts: Sequence[ShiftRecord]) -> None:
    """Raise unless there is a shift record to score."""
    if not shifts:
        raise HarnessError("`shifts` must hold at least one shift record, got none")
