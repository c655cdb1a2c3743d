"""Metrics of the model's decisions against the simulator's truth, with bootstrap intervals.

Pure functions of ``results.json`` shift records (no I/O, no Ray), in the style of TrackEval:
each evaluated day's counts (:func:`day_table`) are kept apart from their combination
(:func:`figure_values`), so a figure and its bootstrap replicates come from one code path.

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
seeded bootstrap over evaluated *days*: a replicate draws the days with replacement (all
shifts of a day move together), i.e. multinomial day weights, under which the per-day counts
are summed and the AUC weighs each worker-shift by its day's weight. Replicates where a
figure is undefined (no positives drawn, say) are left out; the interval is ``None`` when the
figure itself is undefined, or when no interval was asked for (``replicates=0``). The paired
version (:func:`paired_difference`) scores two sets of records of the same days (tuned and
default) under the same replicates, so their difference gets its own interval.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import core
from harness._errors import HarnessError

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
HEADLINE: tuple[str, ...] = (
    "root_cause.f1",
    "root_cause.precision",
    "root_cause.recall",
    "faults_explained.value",
    "equipment_attribution.accuracy",
    "management.f1",
    "management.auc",
    "training.f1",
    "training.auc",
)
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
_RECORD_KEYS = {
    "shift record": {"day", "shift", "posts", "workers", "root_causes"},
    "post": {"post", "level", "true_level", "D", "true_D", "hazard", "faults", "culprits"},
    "worker": {"worker", "Z", "Y", "management", "training", "needs_management", "needs_training"},
    "root cause": {"hazard_post", "worker"},
}


@dataclass(frozen=True)
class PairTable:
    """A ranking's pairwise wins by day, so that a day-weighted ROC AUC is a quadratic form.

    ``AUC(w) = w·wins·w / ((w·positives)(w·negatives))`` for day weights w (all ones: the
    plain Mann–Whitney AUC, ties counting one half).

    Attributes:
        wins: ``(days, days)``: ``wins[g, h]`` sums, over positives of day g and negatives of
            day h, 1 when the positive scores higher and 1/2 on a tie.
        positives: ``(days,)`` positives per day.
        negatives: ``(days,)`` negatives per day.
    """

    wins: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray


@dataclass(frozen=True)
class DayTable:
    """Per-day counts of a set of shift records: all the headline figures need.

    Attributes:
        days: the evaluated days, ascending (row order of every table).
        counts: per group, ``(days, k)`` ints: ``root_cause`` and the two flags (tp, fp, fn),
            ``faults_explained`` (explained, total), ``equipment_attribution`` (agree, n).
        rankings: per flag, the :class:`PairTable` of its score (Z, −Y) against its label.
    """

    days: tuple[int, ...]
    counts: dict[str, np.ndarray]
    rankings: dict[str, PairTable]


def day_table(shifts: Sequence[Mapping[str, Any]]) -> DayTable:
    """Per-day counts of the headline figures from ``results.json`` shift records."""
    _check_records(shifts)
    days = tuple(sorted({int(rec["day"]) for rec in shifts}))
    row = {d: g for g, d in enumerate(days)}
    counts = {
        "root_cause": np.zeros((len(days), 3), dtype=np.int64),
        "faults_explained": np.zeros((len(days), 2), dtype=np.int64),
        "equipment_attribution": np.zeros((len(days), 2), dtype=np.int64),
    }
    worker_day: list[int] = []
    workers: list[Mapping[str, Any]] = []
    for rec in shifts:
        g = row[int(rec["day"])]
        named_at: dict[int, set[str]] = defaultdict(set)
        for c in rec["root_causes"]:
            named_at[c["hazard_post"]].add(c["worker"])
        named = set().union(*named_at.values())
        culprits = {w for p in rec["posts"] for w in p["culprits"]}
        counts["root_cause"][g] += (
            len(named & culprits),
            len(named - culprits),
            len(culprits - named),
        )
        for p in rec["posts"]:
            there = named_at.get(p["post"], set())
            for fault in _worker_faults(p):
                counts["faults_explained"][g] += (bool(there & set(fault)), 1)
            if p["hazard"] and p["faults"]:
                says_equipment = not there
                counts["equipment_attribution"][g] += (says_equipment == (not p["culprits"]), 1)
        workers.extend(rec["workers"])
        worker_day.extend([g] * len(rec["workers"]))
    day_of = np.array(worker_day, dtype=np.intp)
    rankings = {}
    for name, score_key, label_key in _FLAGS:
        flags = np.array([w[name] for w in workers], dtype=bool)
        labels = np.array([w[label_key] for w in workers], dtype=bool)
        counts[name] = np.stack(
            [
                np.bincount(day_of[flags & labels], minlength=len(days)),
                np.bincount(day_of[flags & ~labels], minlength=len(days)),
                np.bincount(day_of[~flags & labels], minlength=len(days)),
            ],
            axis=1,
        )
        scores = np.array([np.nan if w[score_key] is None else w[score_key] for w in workers])
        if score_key == "Y":
            scores = -scores  # a low proficiency ranks a worker as needing training
        rankings[name] = pair_table(scores, labels, day_of, n_days=len(days))
    return DayTable(days, counts, rankings)


def _worker_faults(post: Mapping[str, Any]) -> list[list[str]]:
    """The culprits of each worker-caused fault of a post record (see the module doc)."""
    if "fault_culprits" in post:
        return [list(f) for f in post["fault_culprits"] if f]
    return [[w] for w in post["culprits"]]


def pair_table(
    scores: np.ndarray, labels: np.ndarray, day: np.ndarray, *, n_days: int
) -> PairTable:
    """The :class:`PairTable` of ``scores`` against boolean ``labels`` (NaN scores left out).

    Args:
        scores: ``(N,)`` higher means more likely positive.
        labels: ``(N,)`` booleans.
        day: ``(N,)`` day row (0..n_days-1) of each sample.
        n_days: number of days.
    """
    keep = ~np.isnan(scores)
    s, y, g = scores[keep], labels[keep], day[keep]
    wins = np.zeros((n_days, n_days))
    positive_day = g[y]
    for h in range(n_days):
        negatives = np.sort(s[~y & (g == h)])
        if negatives.size == 0 or positive_day.size == 0:
            continue
        below = np.searchsorted(negatives, s[y], side="left")
        not_above = np.searchsorted(negatives, s[y], side="right")
        wins[:, h] = np.bincount(positive_day, weights=(below + not_above) / 2, minlength=n_days)
    return PairTable(
        wins=wins,
        positives=np.bincount(positive_day, minlength=n_days).astype(np.float64),
        negatives=np.bincount(g[~y], minlength=n_days).astype(np.float64),
    )


def day_weights(n_days: int, *, replicates: int, seed: int) -> np.ndarray:
    """``(replicates, n_days)`` bootstrap weights: how often each day is drawn, with replacement.

    The stream is keyed by ``seed`` alone, so two sets of records of the same days (tuned and
    default) get the same replicates.
    """
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 0:
        raise HarnessError(f"`replicates` must be an int >= 0, got {replicates!r}")
    return _day_weights(n_days, replicates, seed)


@functools.lru_cache(maxsize=16)
def _day_weights(n_days: int, replicates: int, seed: int) -> np.ndarray:
    """Read-only and cached: every trial of a study scores the same days."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    drawn = rng.integers(0, n_days, size=(replicates, n_days))  # each replicate's n draws
    drawn += n_days * np.arange(replicates)[:, None]
    counts = np.bincount(drawn.ravel(), minlength=replicates * n_days)
    weights = counts.reshape(replicates, n_days).astype(np.float64)
    weights.setflags(write=False)
    return weights


def group_values(table: DayTable, group: str, weights: np.ndarray) -> dict[str, np.ndarray]:
    """A group's figures under each row of day weights: ``(B,)`` each (NaN where undefined).

    Args:
        table: the records' per-day counts.
        group: one of :data:`GROUPS`.
        weights: ``(B, days)`` day weights (a row of ones: the figures themselves).
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


def figure_values(table: DayTable, name: str, weights: np.ndarray) -> np.ndarray:
    """Figure ``name`` (one of :data:`FIGURES`) under each row of day weights (see
    :func:`group_values`)."""
    group, key = _split(name)
    return group_values(table, group, weights)[key]


def weighted_auc(ranking: PairTable, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of a ranking under each row of ``(B, days)`` day weights (NaN: one class)."""
    wins = np.sum((weights @ ranking.wins) * weights, axis=1)
    pairs = (weights @ ranking.positives) * (weights @ ranking.negatives)
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


def run_metrics(
    shifts: Sequence[Mapping[str, Any]],
    *,
    tau_D: float,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> dict[str, Any]:
    """All metrics of a run from its ``results.json`` shift records (see the module doc).

    Args:
        shifts: the shift records.
        tau_D: the hazard threshold the run used (hazard detection).
        replicates: bootstrap replicates for the intervals (0: no intervals, all ``None``;
            what a tuning trial needs).
        seed: the bootstrap's seed.

    Returns:
        per group (``root_cause``, ``faults_explained``, ``equipment_attribution``,
        ``management``, ``training``) its figures, counts and intervals: ``ci95`` is the
        group's headline figure's (f1, value, accuracy, f1, f1), ``<figure>_ci95`` each
        figure's where a group has several; then ``root_cause_pairs``, ``hazard_detection``,
        ``level_accuracy``, ``level_confusion`` (rows = true level), ``worker_shifts``,
        ``post_shifts`` and ``bootstrap`` (``replicates``, ``seed``, ``days``: how many).
    """
    table = day_table(shifts)
    ones = np.ones((1, len(table.days)))
    weights = day_weights(len(table.days), replicates=replicates, seed=seed)
    value, replicated = {}, {}
    for group in GROUPS:
        point = group_values(table, group, ones)
        spread = group_values(table, group, weights)
        for key in GROUPS[group]:
            value[f"{group}.{key}"] = float(point[key][0])
            replicated[f"{group}.{key}"] = spread[key]
    defined = [name for name in HEADLINE if np.isfinite(value[name])]
    ci = dict.fromkeys(HEADLINE)
    ci.update(zip(defined, _intervals([replicated[n] for n in defined]), strict=True))
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
    posts = [p for rec in shifts for p in rec["posts"]]
    confusion = core.confusion_matrix([p["true_level"] for p in posts], [p["level"] for p in posts])
    detected = np.array([p["D"] > tau_D for p in posts])
    truly = np.array([p["true_D"] > tau_D for p in posts])
    out["hazard_detection"] = {
        "tp": int(np.sum(detected & truly)),
        "fp": int(np.sum(detected & ~truly)),
        "fn": int(np.sum(~detected & truly)),
        "tn": int(np.sum(~detected & ~truly)),
    }
    out["level_accuracy"] = float(np.trace(confusion) / max(1, confusion.sum()))
    out["level_confusion"] = confusion.tolist()
    out["worker_shifts"] = sum(len(rec["workers"]) for rec in shifts)
    out["post_shifts"] = len(posts)
    out["bootstrap"] = {"replicates": replicates, "seed": seed, "days": len(table.days)}
    return out


def _pair_counts(shifts: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """tp, fp, fn of the (day, shift, hazard post, worker) pairs (root_cause_pairs)."""
    tp = fp = fn = 0
    for rec in shifts:
        named = {(c["hazard_post"], c["worker"]) for c in rec["root_causes"]}
        truth = {(p["post"], w) for p in rec["posts"] for w in p["culprits"]}
        tp, fp, fn = tp + len(named & truth), fp + len(named - truth), fn + len(truth - named)
    return {"tp": tp, "fp": fp, "fn": fn}


def paired_difference(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    *,
    figures: Sequence[str] = HEADLINE,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Each figure of records ``a`` minus that of ``b``, with a paired bootstrap interval.

    ``a`` and ``b`` are shift records of the same days (e.g. tuned and default parameters on
    the held-out days). Every replicate draws the same days for both, so the interval is that
    of the difference itself, narrower than the two intervals side by side when the two
    sets of decisions move together from day to day.

    Returns:
        per figure name: ``{"a", "b", "difference", "ci95"}`` (``ci95`` ``None`` when either
        figure is undefined).
    """
    table_a, table_b = day_table(a), day_table(b)
    if table_a.days != table_b.days:
        raise HarnessError(
            f"paired records must cover the same days, got {list(table_a.days)} and "
            f"{list(table_b.days)}"
        )
    ones = np.ones((1, len(table_a.days)))
    weights = day_weights(len(table_a.days), replicates=replicates, seed=seed)
    out = {}
    for name in figures:
        value_a = float(figure_values(table_a, name, ones)[0])
        value_b = float(figure_values(table_b, name, ones)[0])
        difference = value_a - value_b
        ci = None
        if np.isfinite(difference):
            spread = figure_values(table_a, name, weights) - figure_values(table_b, name, weights)
            ci = _intervals([spread])[0]
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


def _check_records(shifts: Sequence[Mapping[str, Any]]) -> None:
    """Raise unless every shift record and its items carry the keys the metrics read."""
    if not shifts:
        raise HarnessError("`shifts` must hold at least one shift record, got none")
    for k, rec in enumerate(shifts):
        items = [("shift record", rec)]
        items += [("post", p) for p in rec.get("posts", ())]
        items += [("worker", w) for w in rec.get("workers", ())]
        items += [("root cause", c) for c in rec.get("root_causes", ())]
        for kind, item in items:
            missing = _RECORD_KEYS[kind] - set(item)
            if missing:
                raise HarnessError(
                    f"shifts[{k}]: a {kind} lacks key(s) {sorted(missing)}; expected "
                    f"results.json shift records"
                )
