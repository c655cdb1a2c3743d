"""The recommendation rule: are the tuned parameters better than the start on held-out days?

**Units.** The held-out *days*: draws of the line and its crew keyed by the day's number
(:mod:`sim.seeding`), so the rule's claim is about future days of this line. A day's post
database holds the stored days before it, so neighbouring days share some history: the test
below needs only that, under H0, each day's two outcomes be exchangeable; the bootstrap bounds,
which resample days as independent, are approximate. How far a gain carries to other people is
what the two-way (days × people) intervals of the comparison table show. Per day, each
parameter set has the counts of the decisive figure's group (:func:`day_counts`): tp, fp, fn
for the root-cause and flag figures; agreed, n for the ratios. A figure of a set of days comes
from its summed counts and is **undefined (NaN) where its denominator is 0** — F1 with no true
culprit and nothing named, precision with nothing named — never 0 (:func:`figure`).

**Test.** A one-sided paired randomisation test (Fisher 1935; Noreen 1989, *Computer-Intensive
Methods for Testing Hypotheses*; for F-scores, which no per-item test handles, Yeh 2000, "More
accurate tests for the statistical significance of result differences", COLING). Its null
distribution swaps the two sets' outcomes of each day or not, over every pattern of the ``m``
days whose counts differ (a day that agrees swaps to itself) when ``2**m <= EXACT_PATTERNS``,
else over :data:`SAMPLED_PATTERNS` seeded random patterns with ``p = (1 + hits) / (1 +
patterns)`` (Phipson & Smyth 2010). The statistic is the *studentized* gain, ``gain / se``
with the delta-method standard error over days (:func:`_gain_and_spread`), and ``p`` the share
of patterns whose statistic reaches the observed one (an undefined one counts; an undefined
observed gain gives ``p = 1``). So the test is exact under H0: *on every held-out day the two
sets' outcomes are exchangeable* — ``P(p ≤ a) ≤ a`` whatever the numbers of days, people or
culprits; identical sets give ``p = 1``, sets that differ on m days ``p ≥ 2**-m`` — and, being
studentized, asymptotically valid under the wider H0 *the two sets' figures are equal* (Chung &
Romano 2013, "Exact and asymptotically robust permutation tests", Ann. Statist. 41(2); for
matched pairs, Konietschke & Pauly 2014, Stat. Comput. 24:283–296).

**Bounds.** A paired day bootstrap (each replicate draws the same days for both sets, by
:func:`harness.evaluation.bootstrap.day_weights`); replicates in which either figure is
undefined are left out — the bounds are conditional on the defined replicates, whose share
is reported. A look's lower bound is the ``a`` percentile (one-sided ``1 − a``, at the look's
level ``a``), its upper bound the ``1 −`` :data:`FUTILITY` percentile (one-sided 95 %).

**Looks.** :func:`schedule`: the first look at ``n0`` held-out days; where more days can be
made (a scenario) and the look does not decide, looks follow at ``2·n0, 4·n0, …`` up to the
budget. The number of looks ``L`` is fixed before the first, and each tests at ``a = ALPHA / L``
(Bonferroni), so the chance of *ever* recommending under H0 is at most :data:`ALPHA`, however
the looks go. At a look (:func:`look`):

- **tuned** when ``p ≤ a`` and the lower bound ``> min_gain``;
- **start** when the upper bound ``< min_gain`` (the gain is shown to be below ``min_gain``:
  a non-binding futility bound, which can only lower the false-recommend rate; days on which
  the two score alike show nothing either way), or when the tuned parameters are the start's;
- else **more** days (at the last look: the start, the budget spent).

With ``min_gain = 0`` the false-recommend rate is the test's, exact under H0; a positive
``min_gain`` is checked by the bootstrap bound, which is approximate —
``experiments/benchmarks/bench_tune_rule.py`` measures both on simulated paired outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from harness.evaluation.bootstrap import day_weights
from harness.evaluation.cells import GROUPS, RANKED, RATIOS, cell_table, people_of, split_figure
from harness.evaluation.results import ShiftResult
from harness.runtime.errors import HarnessError
from sim.seeding import Stream, stream

ALPHA = 0.05
"""The most the rule may recommend tuned parameters that are no better (one-sided, all looks)."""
EXACT_PATTERNS = 2**16
"""Up to this many swap patterns the test enumerates them all (exact)."""
SAMPLED_PATTERNS = 20_000
"""Random swap patterns of the test beyond :data:`EXACT_PATTERNS`."""
FUTILITY = 0.05
"""The one-sided level of a look's upper bound: the looks stop for the start once the gain
is shown to be at most ``min_gain`` at this level (a futility bound never raises the
false-recommend rate, so it need not share the looks' Bonferroni level)."""
REPLICATES = 4_000
"""Day-bootstrap replicates of the bounds (40 beyond a look's lower bound at a level of 1 %)."""
DEFAULT_MAX_HOLDOUT_DAYS = 60
"""The default budget of held-out days (``--max-holdout-days``)."""

COUNTED = {group: tuple(k for k in keys if k != RANKED) for group, keys in GROUPS.items()}
"""The figures the rule can decide on (those a sum of per-day counts determines)."""


def _terms(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Figure ``name`` (``group.key``) as ``N / D`` of a group's counts: the coefficients of
    N and D (F1 ``2 tp / (2 tp + fp + fn)``, precision ``tp / (tp + fp)``, recall
    ``tp / (tp + fn)``, the ratios ``agreed / n``)."""
    group, key = split_figure(name)
    if key not in COUNTED.get(group, ()):
        raise HarnessError(
            f"the recommendation rule decides on a figure of summed counts, one of "
            f"{[f'{g}.{k}' for g, keys in COUNTED.items() for k in keys]}; got {name!r}"
        )
    if group in RATIOS:
        return np.array([1.0, 0.0]), np.array([0.0, 1.0])
    return {
        "precision": (np.array([1.0, 0, 0]), np.array([1.0, 1, 0])),
        "recall": (np.array([1.0, 0, 0]), np.array([1.0, 0, 1])),
        "f1": (np.array([2.0, 0, 0]), np.array([2.0, 1, 1])),
    }[key]


def figure(name: str, sums: np.ndarray) -> np.ndarray:
    """Figure ``name`` (``group.key``) of summed counts ``(..., k)``: NaN where undefined."""
    num, den = _terms(name)
    sums = np.asarray(sums, dtype=np.float64)
    n, d = sums @ num, sums @ den
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, n / d, np.nan)


@dataclass(frozen=True)
class Paired:
    """Per-day counts of one figure's group for two parameter sets on the same days.

    Attributes:
        figure: ``group.key``, e.g. ``root_cause.f1``.
        a: ``(days, k)`` the tuned parameters' counts.
        b: ``(days, k)`` the start's.
    """

    figure: str
    a: np.ndarray
    b: np.ndarray

    def __post_init__(self) -> None:
        if self.a.shape != self.b.shape or self.a.ndim != 2:
            raise HarnessError(
                f"paired counts must have the same (days, k) shape, got {self.a.shape} and "
                f"{self.b.shape}"
            )

    @property
    def days(self) -> int:
        return int(self.a.shape[0])

    @property
    def gain(self) -> float:
        """``figure(a) − figure(b)`` over all the days (NaN where either is undefined)."""
        return float(figure(self.figure, self.a.sum(axis=0)) - figure(self.figure, self.b.sum(0)))


def day_counts(a: Sequence[ShiftResult], b: Sequence[ShiftResult], figure_name: str) -> Paired:
    """:class:`Paired` per-day counts of ``figure_name``'s group from two sets of shift results
    of the same days (e.g. tuned and start on the held-out days)."""
    group, _ = split_figure(figure_name)
    figure(figure_name, np.zeros(3))  # refuses a figure the rule cannot decide on
    people = tuple(sorted(set(people_of(a)) | set(people_of(b))))
    tables = [cell_table(records, people) for records in (a, b)]
    if tables[0].days != tables[1].days:
        raise HarnessError(
            f"paired results must cover the same days, got {list(tables[0].days)} and "
            f"{list(tables[1].days)}"
        )
    out = []
    for table in tables:
        counts = np.zeros((len(table.days), table.counts[group].shape[1]), dtype=np.int64)
        np.add.at(counts, table.cell_day, table.counts[group])
        out.append(counts)
    return Paired(figure_name, out[0], out[1])


def _gain_and_spread(
    paired: Paired, patterns: np.ndarray, days: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The gain, and ``sqrt(Σ φ_d²)``, under each row of ``patterns`` (1: swap that day of
    ``days``).

    Figure ``F = ΣN / ΣD`` over the days; a day's influence on it is ``(N_d − F·D_d) / D̄``
    (the delta method), the gain's ``φ_d`` is tuned's minus the start's, and the gain's
    standard error is ``sqrt(Σ φ_d²) / days``.
    """
    num, den = _terms(paired.figure)
    n = paired.days
    a, b = paired.a.astype(np.float64), paired.b.astype(np.float64)
    v = np.stack([a @ num, a @ den, b @ num, b @ den], axis=1)  # (days, 4): Na, Da, Nb, Db
    swapped = v[:, [2, 3, 0, 1]]
    sums = v.sum(axis=0) + patterns @ (swapped - v)[days]
    outer = np.einsum("di,dj->dij", v, v)
    moved = np.einsum("di,dj->dij", swapped, swapped) - outer
    moment = outer.sum(axis=0).ravel() + patterns @ moved[days].reshape(len(days), 16)
    with np.errstate(divide="ignore", invalid="ignore"):
        f_a, f_b = sums[:, 0] / sums[:, 1], sums[:, 2] / sums[:, 3]
        d_a, d_b = sums[:, 1] / n, sums[:, 3] / n
        w = np.stack([1 / d_a, -f_a / d_a, -1 / d_b, f_b / d_b], axis=1)
        squares = np.einsum("ri,rij,rj->r", w, moment.reshape(-1, 4, 4), w)
    return f_a - f_b, np.sqrt(np.maximum(squares, 0.0))


def _studentized(paired: Paired, patterns: np.ndarray, days: np.ndarray) -> np.ndarray:
    """``gain / sqrt(Σ φ_d²)`` under each pattern (NaN where undefined; ±inf where every
    φ_d is 0)."""
    gain, spread = _gain_and_spread(paired, patterns, days)
    flat = spread <= 1e-9 * (np.abs(gain) + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, np.sign(gain) * np.where(gain == 0, 0, np.inf), gain / spread)


def randomisation_p(paired: Paired, *, seed: int) -> tuple[float, str]:
    """One-sided p of the studentized paired randomisation test (see the module doc), and how
    it was computed (``"exact over 2^m patterns"`` or ``"N random patterns of m days"``)."""
    discordant = np.flatnonzero(np.any(paired.a != paired.b, axis=1))
    m = len(discordant)
    if not math.isfinite(paired.gain):
        return 1.0, "undefined gain"
    exact = 2**m <= EXACT_PATTERNS
    if exact:
        codes = np.arange(2**m, dtype=np.int64)
        patterns = ((codes[:, None] >> np.arange(m)) & 1).astype(np.float64)
        how = f"exact over 2^{m} patterns"
    else:
        rng = stream([seed, Stream.SWAP_PATTERNS], m)
        drawn = rng.integers(0, 2, size=(SAMPLED_PATTERNS, m)).astype(np.float64)
        patterns = np.vstack([np.zeros((1, m)), drawn])  # the observed statistic first
        how = f"{SAMPLED_PATTERNS} random patterns of {m} days"
    found = _studentized(paired, patterns, discordant)
    observed = found[0]
    if np.isnan(observed):
        return 1.0, how
    tolerance = 1e-9 * max(1.0, abs(observed)) if np.isfinite(observed) else 0.0
    hits = int(np.sum(~(found < observed - tolerance)))  # NaN counts as a hit
    return hits / len(patterns), how  # sampled: the observed is among them, (1 + hits) / (1 + N)


def gain_interval(
    paired: Paired,
    *,
    level: float,
    upper_level: float | None = None,
    replicates: int = REPLICATES,
    seed: int,
) -> tuple[list[float] | None, float]:
    """The ``[level, 1 − upper_level]`` percentiles (``upper_level`` defaults to ``level``) of
    the gain over paired day-bootstrap replicates in which both figures are defined, and the
    share of such replicates (None, 0.0: none)."""
    weights = day_weights(paired.days, replicates=replicates, seed=seed)
    gains = figure(paired.figure, weights @ paired.a) - figure(paired.figure, weights @ paired.b)
    defined = gains[np.isfinite(gains)]
    if not defined.size:
        return None, 0.0
    high_level = level if upper_level is None else upper_level
    low, high = np.percentile(defined, [100 * level, 100 * (1 - high_level)])
    return [float(low), float(high)], defined.size / replicates


def days_needed(paired: Paired, *, min_gain: float, power: float = 0.8) -> int | None:
    """Held-out days one look at :data:`ALPHA` would need to recommend the tuned parameters
    with probability ``power``, were the gain and its day-to-day spread to stay as seen (the
    normal approximation ``n = days · ((z_{1−α} + z_power) · se / (gain − min_gain))²``, and
    at least the ``log2(1/α)`` days an exact test needs); None when the gain seen is not
    above ``min_gain`` (more days are not expected to show one)."""
    gain, spread = _gain_and_spread(paired, np.zeros((1, 0)), np.zeros(0, dtype=np.intp))
    margin = float(gain[0]) - min_gain
    if not math.isfinite(margin) or margin <= 0:
        return None
    z = NormalDist().inv_cdf(1 - ALPHA) + NormalDist().inv_cdf(power)
    se = float(spread[0]) / paired.days
    return max(math.ceil(math.log2(1 / ALPHA)), math.ceil(paired.days * (z * se / margin) ** 2))


def check_figure(name: str) -> None:
    """Refuse a decisive figure the rule cannot decide on (before any work)."""
    _terms(name)


def schedule(first: int, most: int | None) -> tuple[int, ...]:
    """Held-out days at each look: ``first``, then doubling up to ``most`` (None: one look)."""
    sizes = [first]
    while most is not None and sizes[-1] < most:
        sizes.append(min(2 * sizes[-1], most))
    return tuple(sizes)


Verdict = Literal["tuned", "start", "more"]


@dataclass(frozen=True)
class Look:
    """One look of the rule at the held-out days so far."""

    days: int
    """Held-out days looked at."""
    level: float
    """The look's one-sided level ``ALPHA / looks``."""
    gain: float
    """tuned − start over those days (NaN: undefined)."""
    p: float
    """The randomisation test's one-sided p."""
    test: str
    """How p was computed."""
    ci: list[float] | None
    """The day-bootstrap bounds (defined replicates): lower one-sided at ``level``, upper at
    :data:`FUTILITY`."""
    defined: float
    """Share of bootstrap replicates in which both figures are defined."""
    verdict: Verdict
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days, "level": self.level, "gain": self.gain, "p": self.p,
            "test": self.test, "ci": self.ci, "defined_replicates": self.defined,
            "verdict": self.verdict, "reason": self.reason,
        }  # fmt: skip


def look(paired: Paired, *, min_gain: float, level: float, seed: int, same: bool = False) -> Look:
    """The rule at one look (see the module doc); ``same``: the two parameter sets are one."""
    gain = paired.gain
    p, how = randomisation_p(paired, seed=seed)
    ci, defined = gain_interval(paired, level=level, upper_level=FUTILITY, seed=seed)
    shown = f"{gain:+.3f}" if math.isfinite(gain) else "undefined"
    where = f"{paired.days} held-out days"
    if same:
        verdict: Verdict = "start"
        reason = "the tuned parameters are the start's: there is nothing to recommend"
    elif not math.isfinite(gain):
        verdict = "more"
        reason = f"the gain is undefined on the {where} (no true culprit, and one names nobody)"
    elif ci is not None and p <= level and ci[0] > min_gain:
        verdict = "tuned"
        reason = (
            f"gain {shown} on {where}: randomisation p = {p:.2g} <= {level:.3g} and its lower "
            f"bound {ci[0]:+.3f} > {min_gain}"
        )
    elif ci is not None and ci[1] < min_gain:
        verdict = "start"
        reason = f"gain {shown} on {where}: its upper bound {ci[1]:+.3f} < {min_gain}"
    else:
        verdict = "more"
        bound = f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "[n/a]"
        reason = f"gain {shown} {bound} on {where}, p = {p:.2g}: not decided at {level:.3g}"
    return Look(paired.days, level, gain, p, how, ci, defined, verdict, reason)


@dataclass(frozen=True)
class Decision:
    """The rule's verdict over its looks."""

    verdict: Literal["tuned", "start"]
    looks: tuple[Look, ...]
    planned: tuple[int, ...]
    """Held-out days of every planned look (their count fixes each look's level)."""
    stop_reason: str
    """Why the looks stopped: a verdict, the budget, or no more days to be had."""

    @property
    def last(self) -> Look:
        return self.looks[-1]


def decide(
    first: Paired,
    *,
    min_gain: float,
    seed: int,
    more: Callable[[int], Paired] | None = None,
    most_days: int | None = None,
    same: bool = False,
) -> Decision:
    """Look at ``first``; while undecided, ask ``more(n)`` for the paired counts of ``n``
    held-out days (the first ones included) at the next planned size, up to ``most_days``.

    Without ``more`` (a records folder, ``--holdout-days N``) there is one look at
    :data:`ALPHA`. ``same``: the tuned parameters are the start's (one look, the start).
    """
    planned = schedule(first.days, most_days if more is not None and not same else None)
    level = ALPHA / len(planned)
    paired, looks = first, []
    for k, size in enumerate(planned):
        if more is not None and k:
            paired = more(size)
        found = look(paired, min_gain=min_gain, level=level, seed=seed + k, same=same)
        looks.append(found)
        if found.verdict != "more":
            return Decision(found.verdict, tuple(looks), planned, found.reason)
    last = looks[-1].reason
    if more is None:
        stop = f"{last}; there are no more held-out days"
    else:
        stop = f"{last}; the budget of {paired.days} held-out days is spent (--max-holdout-days)"
    return Decision("start", tuple(looks), planned, stop)
