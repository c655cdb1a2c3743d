"""The recommendation rule on simulated paired outcomes: how often it recommends tuned
parameters that are truly no better (goal ≤ 5 %), and how often it recommends ones that are
clearly better (goal ≥ 95 % with 4 culprits).

Each repetition simulates a line's held-out days as ``tune SCENARIO`` sees them: 16 worker-
shifts a day, of whom the culprit-prone people (4 by default) each cause a fault on a day with
probability ``q``. A parameter set names a culprit with probability ``r`` and an innocent with
probability ``f``; both sets read the same random number per worker-shift (as two thresholds
on the same Z and Y would), so their outcomes are paired, and a person's numbers are
correlated from day to day (a person-level effect, ``person_sd`` on the normal scale: the
same people tend to be named day after day). The rule then runs exactly as in ``tune``
(:func:`harness.tuning._rule.decide`): a first look at the scenario's own 5 held-out days,
then, while undecided, more days at 10, 20, 40 and 60 (Bonferroni over the 5 looks) — or one
look at a fixed number of days. Every rate carries its 95 % Wilson interval; ``days`` is the
mean number of held-out days a study used.

"Truly no better" holds for the line at hand (the rule's claim is about this line's future
days): the exchangeable cases (identical, nearly identical, as good but deciding apart) are so
for every crew; the two calibrated ones (an equal F1 by another precision/recall trade-off, a
gain of exactly ``--min-gain``) use a crew without person effects, since with them a crew's draw
makes one set truly better on that line — which the rule is right to find.

Run: ``python experiments/benchmarks/bench_tune_rule.py [--repetitions N]``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from harness.tuning._rule import ALPHA, DEFAULT_MAX_HOLDOUT_DAYS, Paired, decide
from sim.seeding import stream

WORKERS = 16
"""Worker-shifts a day (an eight-post line, two shifts)."""
_cdf = np.vectorize(NormalDist().cdf)


@dataclass(frozen=True)
class Rates:
    """How one parameter set decides: a culprit named with ``r``, an innocent with ``f``."""

    r: float
    f: float


@dataclass(frozen=True)
class Case:
    """One simulated comparison of tuned against start."""

    name: str
    tuned: Rates
    start: Rates
    null: bool
    """True: the tuned set is truly no better (by ``min_gain``); a recommendation is false."""
    contrast: bool = False
    """A row for contrast, with no goal of its own (e.g. one look where tune would make more)."""
    culprits: int = 4
    """Culprit-prone people of the line."""
    q: float = 0.5
    """Chance a culprit-prone person causes a fault on a day."""
    shared: float = 1.0
    """Share of worker-shifts where both sets read the same random number (1: nested
    thresholds; below 1 the tuned set reads its own number on the rest)."""
    min_gain: float = 0.0
    days: int | None = None
    """A fixed number of held-out days (one look), or None: 5, then more up to the budget."""
    person_sd: float = 0.7


@dataclass(frozen=True)
class Config:
    """Benchmark settings."""

    repetitions: int = 400
    """Simulated studies per case."""
    first_days: int = 5
    """The scenario's own held-out days (eight-post: a third of 14)."""
    most_days: int = DEFAULT_MAX_HOLDOUT_DAYS
    """The budget of held-out days."""
    seed: int = 2025
    cases: tuple[Case, ...] = field(default_factory=tuple)


def equal_f1_false_rate(tuned_r: float, start: Rates, culprits: float, innocents: float) -> float:
    """The tuned set's innocent rate at which its expected F1 (over many days) equals the
    start's, with recall ``tuned_r``: F1 = 2rc / (rc + c + f·i)."""
    c, i = culprits, innocents
    return ((tuned_r - start.r) * c + tuned_r * start.f * i) / (start.r * i)


def recall_for_f1(target: float, f: float, culprits: float, innocents: float) -> float:
    """The recall at which F1 = 2rc / (rc + c + f·i) equals ``target``."""
    c, i = culprits, innocents
    return target * (c + f * i) / (2 * c - target * c)


def _f1(rates: Rates, c: float, i: float) -> float:
    return 2 * rates.r * c / (rates.r * c + c + rates.f * i)


def default_cases() -> tuple[Case, ...]:
    c, i = 4 * 0.5, WORKERS - 4 * 0.5  # expected culprits and innocents a day
    good = Rates(0.7, 0.05)
    tradeoff_start = Rates(0.6, 0.02)
    tradeoff = Rates(0.8, equal_f1_false_rate(0.8, tradeoff_start, c, i))
    margin_start = Rates(0.5, 0.02)
    margin = Rates(recall_for_f1(_f1(margin_start, c, i) + 0.1, 0.02, c, i), 0.02)
    nobody = Rates(0.0, 0.0)
    finds_most = Rates(0.85, 0.02)
    return (
        Case("identical parameters", good, good, null=True),
        Case("nearly identical (5 % of decisions redrawn)", good, good, null=True, shared=0.95),
        Case("as good, deciding apart (independent draws)", good, good, null=True, shared=0.0),
        Case("slightly worse (recall 0.65 vs 0.70)", Rates(0.65, 0.05), good, null=True),
        Case(
            "as good by F1, other trade-off (recall 0.8, more false names)",
            tradeoff,
            tradeoff_start,
            null=True,
            person_sd=0.0,
        ),
        Case(
            "better by exactly --min-gain 0.1",
            margin,
            margin_start,
            null=True,
            min_gain=0.1,
            person_sd=0.0,
        ),
        Case("start flags nobody, tuned finds most (4 culprits)", finds_most, nobody, null=False),
        Case(
            "  same, 5 held-out days and no more (one look; contrast)",
            finds_most,
            nobody,
            null=False,
            days=5,
            contrast=True,
        ),
        Case("  same, culprits rarer (q = 0.15)", finds_most, nobody, null=False, q=0.15),
        Case("recall 0.5 → 0.8 (4 culprits)", Rates(0.8, 0.02), Rates(0.5, 0.02), null=False),
    )


class Line:
    """Held-out days of one simulated study, drawn on demand (day by day, seeded)."""

    def __init__(self, case: Case, seed: int) -> None:
        self.case = case
        self.seed = seed
        rng = stream([seed, 0])
        self.effect = rng.normal(0.0, case.person_sd, size=WORKERS)
        self.prone = np.zeros(WORKERS, dtype=bool)
        self.prone[rng.choice(WORKERS, size=case.culprits, replace=False)] = True
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []

    def paired(self, n: int) -> Paired:
        """The first ``n`` held-out days' (tp, fp, fn) of tuned and start."""
        while len(self.a) < n:
            a, b = self._day(len(self.a))
            self.a.append(a)
            self.b.append(b)
        return Paired("root_cause.f1", np.array(self.a[:n]), np.array(self.b[:n]))

    def _day(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        case = self.case
        rng = stream([self.seed, 1], day)
        culprit = self.prone & (rng.random(WORKERS) < case.q)
        scale = math.sqrt(1 + case.person_sd**2)
        u = _cdf((self.effect + rng.normal(size=WORKERS)) / scale)
        own = _cdf((self.effect + rng.normal(size=WORKERS)) / scale)
        u_tuned = np.where(rng.random(WORKERS) < case.shared, u, own)
        out = []
        for rates, draw in ((case.tuned, u_tuned), (case.start, u)):
            named = np.where(culprit, draw < rates.r, draw < rates.f)
            tp = int(np.sum(named & culprit))
            out.append(np.array([tp, int(np.sum(named & ~culprit)), int(culprit.sum()) - tp]))
        return out[0], out[1]


def run_case(case: Case, cfg: Config) -> tuple[float, tuple[float, float], float]:
    """Recommend rate, its 95 % interval, and the mean held-out days used."""
    recommended, days = 0, []
    for rep in range(cfg.repetitions):
        line = Line(case, cfg.seed * 1000 + rep)
        first = line.paired(case.days or cfg.first_days)
        fixed = case.days is not None
        decision = decide(
            first, min_gain=case.min_gain, seed=rep,
            more=None if fixed else line.paired, most_days=None if fixed else cfg.most_days,
        )  # fmt: skip
        recommended += decision.verdict == "tuned"
        days.append(decision.last.days)
    return recommended / cfg.repetitions, wilson(recommended, cfg.repetitions), float(np.mean(days))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate ``k / n``."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repetitions", type=int, default=Config.repetitions)
    parser.add_argument("--only", help="run the cases whose name contains this")
    args = parser.parse_args()
    cases = tuple(c for c in default_cases() if not args.only or args.only in c.name)
    cfg = Config(repetitions=args.repetitions, cases=cases)
    print(
        f"{cfg.repetitions} simulated studies per case; {WORKERS} worker-shifts a day; "
        f"held-out days {cfg.first_days}, then up to {cfg.most_days} (looks at "
        f"5, 10, 20, 40, 60; each at {ALPHA}/5)"
    )
    print(f"{'case':66} {'recommends tuned [95% CI]':>26} {'days':>5}  goal")
    started = time.perf_counter()
    for case in cfg.cases:
        rate, (low, high), days = run_case(case, cfg)
        goal = "≤ 5 % (false)" if case.null else "≥ 95 % (power)"
        met = (high <= 0.05 or rate <= 0.05) if case.null else rate >= 0.95
        if case.contrast:
            goal, met = "— (power, for contrast)", True
        print(
            f"{case.name:66} {100 * rate:6.1f} % [{100 * low:4.1f}, {100 * high:5.1f}] "
            f"{days:5.1f}  {goal}{'' if met else '  MISSED'}"
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
