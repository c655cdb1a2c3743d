"""Metrics of the model's decisions against the simulator's truth, with bootstrap intervals.

Pure functions of shift results (:mod:`harness.evaluation.results`; no I/O, no Ray), in the
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

Each headline figure carries a 95 % interval from the two-way bootstrap of
:mod:`harness.evaluation.bootstrap`, over the per-(day, person) cells of
:mod:`harness.evaluation.cells`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import core
from harness.evaluation.bootstrap import percentile_intervals, replicated
from harness.evaluation.cells import (
    FLAGS,
    GROUPS,
    PRF,
    cell_table,
    figure_values,
    group_values,
    people_of,
    prf,
    split_figure,
)
from harness.evaluation.results import ShiftResult
from harness.runtime.errors import HarnessError

DEFAULT_REPLICATES = 2000
"""Bootstrap replicates of a run's intervals."""


MIN_CULPRITS = 20
"""Fewer true culprits than this on a set of days is too few to tell (see too_small_to_tell)."""


MAX_HALF_WIDTH = 0.1
"""A 95 % interval wider than ± this is too wide to tell (see too_small_to_tell)."""


@dataclass(frozen=True)
class Figure:
    """A headline figure of :func:`run_metrics`: where it sits and what it is called."""

    path: str
    """``group.key`` in :func:`run_metrics`' dict (its interval: :func:`interval`)."""
    name: str
    """The figure's one-word name: tuning objective, table column, MLflow metric."""
    label: str
    """What a reader of the report is told it is."""
    objective: bool = False
    """A study may optimise it (a threshold moves it)."""
    sweeps: tuple[str, ...] = ()
    """The thresholds a study with it as the one objective sweeps (the others do not move it;
    none: it is no count of the flags, and is sampled)."""


THRESHOLDS = ("tau_Z", "tau_Y")
"""The worker flags' thresholds (Z > τ_Z, Y < τ_Y): what a sweep can set."""
CATALOGUE: tuple[Figure, ...] = (
    Figure("root_cause.f1", "root_cause_f1", "root-cause F1 (worker level)", True, THRESHOLDS),
    Figure("root_cause.precision", "root_cause_precision", "root-cause precision (worker level)",
           True, THRESHOLDS),
    Figure("root_cause.recall", "root_cause_recall", "root-cause recall (worker level)", True,
           THRESHOLDS),
    Figure("faults_explained.value", "faults_explained", "faults explained"),
    Figure("equipment_attribution.accuracy", "equipment_accuracy",
           "equipment attribution accuracy", True),
    Figure("management.f1", "management_f1", "management flag F1", True, ("tau_Z",)),
    Figure("management.auc", "management_auc", "management ROC AUC of Z"),
    Figure("training.f1", "training_f1", "training flag F1", True, ("tau_Y",)),
    Figure("training.auc", "training_auc", "training ROC AUC of −Y"),
)  # fmt: skip
"""The one catalogue of headline figures: the report, the tuning objectives and sweeps and the
tuned-vs-start table all read it. A group's first figure here is its headline (its interval
is the group's ``ci95``)."""


HEADLINE: tuple[str, ...] = tuple(f.path for f in CATALOGUE)
"""The figures that carry an interval."""


_GROUP_HEADLINE = dict(reversed([split_figure(f.path) for f in CATALOGUE]))
"""Each group's headline figure (its first in :data:`CATALOGUE`)."""


def run_metrics(
    shifts: Sequence[ShiftResult],
    *,
    tau_D: float,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    people: bool = True,
) -> dict[str, Any]:
    """All metrics of a run from its shift results (see the module doc).

    Args:
        shifts: the shift results.
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
    ci.update(zip(defined, percentile_intervals([spread[n] for n in defined]), strict=True))
    sums = {group: [int(v) for v in c.sum(axis=0)] for group, c in table.counts.items()}
    out: dict[str, Any] = {
        "root_cause": {
            **{k: value[f"root_cause.{k}"] for k in PRF},
            **dict(zip(("tp", "fp", "fn"), sums["root_cause"], strict=True)),
            "ci95": ci["root_cause.f1"],
            **{f"{k}_ci95": ci[f"root_cause.{k}"] for k in PRF},
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
    for flag, _, _ in FLAGS:
        out[flag] = {
            **{k: value[f"{flag}.{k}"] for k in GROUPS[flag]},
            "ci95": ci[f"{flag}.f1"],
            "f1_ci95": ci[f"{flag}.f1"],
            "auc_ci95": ci[f"{flag}.auc"],
        }
    pairs = _pair_counts(shifts)
    scores = prf(*(np.float64(pairs[k]) for k in ("tp", "fp", "fn")))
    out["root_cause_pairs"] = {
        **{k: float(v) for k, v in zip(PRF, scores, strict=True)},
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


def _pair_counts(shifts: Sequence[ShiftResult]) -> dict[str, int]:
    """tp, fp, fn of the (day, shift, hazard post, worker) pairs (root_cause_pairs)."""
    tp = fp = fn = 0
    for rec in shifts:
        named = {(c.hazard_post, c.worker) for c in rec.root_causes}
        truth = {(p.post, w) for p in rec.posts for w in p.culprits}
        tp, fp, fn = tp + len(named & truth), fp + len(named - truth), fn + len(truth - named)
    return {"tp": tp, "fp": fp, "fn": fn}


def paired_difference(
    a: Sequence[ShiftResult],
    b: Sequence[ShiftResult],
    *,
    figures: Sequence[str] = HEADLINE,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
    people: bool = True,
) -> dict[str, dict[str, Any]]:
    """Each figure of results ``a`` minus that of ``b``, with a paired bootstrap interval.

    ``a`` and ``b`` are shift results of the same days (e.g. tuned and default parameters on
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
            f"paired results must cover the same days, got {list(table_a.days)} and "
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
            ci = percentile_intervals([spread_a[name] - spread_b[name]])[0]
        out[name] = {"a": value_a, "b": value_b, "difference": difference, "ci95": ci}
    return out


def interval(metrics: Mapping[str, Any], name: str) -> list[float] | None:
    """The 95 % interval of headline figure ``name`` in a :func:`run_metrics` dict."""
    group, key = split_figure(name)
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
