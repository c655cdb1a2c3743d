"""The bootstrap behind every interval: replicate weights over days and people, percentiles.

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
sets of results of the same days and people (tuned and default) under the same replicates,
so their difference gets its own interval.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from harness.evaluation.cells import CellTable, group_values, split_figure
from harness.runtime.errors import HarnessError
from sim.seeding import Stream, stream

_CHUNK = 2**22
"""Replicate weights held at once (cells or samples × replicates), to bound memory."""


def day_weights(n_days: int, *, replicates: int, seed: int) -> np.ndarray:
    """``(replicates, n_days)`` bootstrap weights: how often each day is drawn, with replacement.

    The stream is keyed by ``seed`` and the days' family alone, so two sets of records of the
    same days (tuned and default) get the same replicates.
    """
    _check_replicates(replicates)
    return _draws(n_days, replicates, seed, Stream.DAY_BOOTSTRAP)


def person_weights(n_people: int, *, replicates: int, seed: int) -> np.ndarray:
    """``(replicates, n_people + 1)`` bootstrap weights of the people (drawn with replacement,
    a stream apart from the days'); the last column, :data:`NOBODY`, is always 1."""
    _check_replicates(replicates)
    drawn = _draws(n_people, replicates, seed, Stream.PEOPLE_BOOTSTRAP)
    return np.hstack([drawn, np.ones((replicates, 1))])


def _check_replicates(replicates: int) -> None:
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 0:
        raise HarnessError(f"`replicates` must be an int >= 0, got {replicates!r}")


@functools.lru_cache(maxsize=16)
def _draws(n: int, replicates: int, seed: int, family: Stream) -> np.ndarray:
    """Multinomial counts of ``n`` draws of ``n`` items per replicate, keyed by (seed, family);
    read-only and cached (every trial scores the same days)."""
    rng = stream([seed, family])
    drawn = rng.integers(0, max(n, 1), size=(replicates, n))  # each replicate's n draws
    drawn += n * np.arange(replicates)[:, None]
    counts = np.bincount(drawn.ravel(), minlength=replicates * n)
    weights = counts.reshape(replicates, n).astype(np.float64)
    weights.setflags(write=False)
    return weights


def percentile_intervals(rows: Sequence[np.ndarray]) -> list[list[float] | None]:
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
            groups = {
                g: group_values(table, g, weights) for g in {split_figure(f)[0] for f in figures}
            }
            for name in figures:
                group, key = split_figure(name)
                found[name].append(groups[group][key])
    return [
        {name: np.concatenate(found[name]) if found[name] else np.zeros(0) for name in figures}
        for found in out
    ]
