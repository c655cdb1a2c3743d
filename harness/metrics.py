"""Metrics of the model's decisions against the simulator's truth.

Pure functions of plain arrays and tuples (no I/O, no Ray), in the style of TrackEval:
per-shift counts are separate from their combination, so any worker can compute them.

Definitions:
- **Root causes** are (day, shift, hazard post, worker) pairs. The model's pairs are its
  hazard posts with each flagged worker of the post's set; the true pairs are each faulted
  post with each worker that caused a fault there. Matching is exact.
- **Equipment attribution**: over the model's hazard posts that truly have a fault, whether
  "equipment/environment" (nobody flagged) agrees with "no worker caused a fault here".
- **Worker flags**: management vs *needs management*, training vs *needs training*, over all
  worker-shifts; ROC AUC of Z and of −Y (shifts with undefined Y are left out).
- **Hazard detection**: ``D > τ_D`` from the model's levels vs from the true levels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def precision_recall_f1(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 from counts (0 where undefined, as scikit-learn's default)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def pair_counts(predicted: Iterable[tuple], truth: Iterable[tuple]) -> dict[str, int]:
    """True positives, false positives and false negatives of two sets of pairs."""
    p, t = set(predicted), set(truth)
    return {"tp": len(p & t), "fp": len(p - t), "fn": len(t - p)}


def binary_counts(predicted: np.ndarray, truth: np.ndarray) -> dict[str, int]:
    """Confusion counts of two boolean arrays."""
    p = np.asarray(predicted, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise ValueError(
            f"`predicted` and `truth` must have one shape, got {p.shape} and {t.shape}"
        )
    return {
        "tp": int(np.sum(p & t)),
        "fp": int(np.sum(p & ~t)),
        "fn": int(np.sum(~p & t)),
        "tn": int(np.sum(~p & ~t)),
    }


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the Mann–Whitney statistic with average ranks for ties.

    Returns NaN when only one class is present (AUC undefined).
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    _same_shape(("scores", s), ("labels", y))
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size)
    sorted_s = s[order]
    # average ranks of tied runs
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], s.size]
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def confusion_matrix(predicted: Sequence[int], truth: Sequence[int], n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` counts, rows = truth, columns = prediction."""
    p = np.asarray(predicted, dtype=np.intp)
    t = np.asarray(truth, dtype=np.intp)
    if p.shape != t.shape:
        raise ValueError(
            f"`predicted` and `truth` must have one shape, got {p.shape} and {t.shape}"
        )
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def flag_scores(flags: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Precision/recall/F1 of a worker flag against its label, and the ROC AUC of ``scores``.

    ``scores`` may hold NaN (undefined): those worker-shifts are left out of the AUC.
    """
    counts = binary_counts(flags, labels)
    out = precision_recall_f1(counts["tp"], counts["fp"], counts["fn"])
    s = np.asarray(scores, dtype=np.float64)
    keep = ~np.isnan(s)
    out["auc"] = roc_auc(s[keep], np.asarray(labels, dtype=bool)[keep])
    return out


def _same_shape(a: tuple[str, np.ndarray], b: tuple[str, np.ndarray]) -> None:
    if a[1].shape != b[1].shape:
        raise ValueError(
            f"`{a[0]}` and `{b[0]}` must have one shape, got {a[1].shape} and {b[1].shape}"
        )


def run_metrics(shifts: Sequence[dict], *, tau_D: float, n_levels: int = 5) -> dict[str, Any]:
    """All metrics of a run from its ``results.json`` shift records (see the module doc)."""
    predicted, truth = set(), set()
    equipment_agree = equipment_total = 0
    levels, true_levels, D, true_D = [], [], [], []
    workers: list[dict] = []
    for rec in shifts:
        key = (rec["day"], rec["shift"])
        flagged_posts = {c["hazard_post"] for c in rec["root_causes"]}
        predicted.update((*key, c["hazard_post"], c["worker"]) for c in rec["root_causes"])
        for p in rec["posts"]:
            truth.update((*key, p["post"], w) for w in p["culprits"])
            levels.append(p["level"])
            true_levels.append(p["true_level"])
            D.append(p["D"])
            true_D.append(p["true_D"])
            if p["hazard"] and p["faults"]:
                equipment_total += 1
                model_says_equipment = p["post"] not in flagged_posts
                equipment_agree += model_says_equipment == (not p["culprits"])
        workers.extend(rec["workers"])
    counts = pair_counts(predicted, truth)
    z = np.array([w["Z"] for w in workers])
    y = np.array([np.nan if w["Y"] is None else w["Y"] for w in workers])
    confusion = confusion_matrix(levels, true_levels, n_levels)
    detection = binary_counts(np.array(D) > tau_D, np.array(true_D) > tau_D)
    return {
        "root_cause": {**precision_recall_f1(**counts), **counts},
        "equipment_attribution_accuracy": (
            equipment_agree / equipment_total if equipment_total else float("nan")
        ),
        "equipment_attribution_n": equipment_total,
        "management": flag_scores(
            np.array([w["management"] for w in workers]),
            np.array([w["needs_management"] for w in workers]),
            z,
        ),
        "training": flag_scores(
            np.array([w["training"] for w in workers]),
            np.array([w["needs_training"] for w in workers]),
            -y,
        ),
        "hazard_detection": detection,
        "level_accuracy": float(np.trace(confusion) / max(1, confusion.sum())),
        "level_confusion": confusion.T.tolist(),
        "worker_shifts": len(workers),
        "post_shifts": len(levels),
    }
