"""Records against twin, post by post: the quantities, their two-sample distances, verdicts.

Per post, each quantity is a sample of the records and one of the twin (the twin simulated
by the harness over the same days, measured the same way):

| quantity | one value per | unit |
| --- | --- | --- |
| ``onpost_fraction`` | worker-shift: share of the working samples on the own post | share |
| ``offpost_dwell_s`` | excursion: seconds of one run off the post | s |
| ``destination`` | excursion: where it went (categorical: the aisle or a post) | — |
| ``speed_ratio`` | worker-shift: median work speed over the mean of the post's | ratio |
| ``Z``, ``Y`` | evaluated worker-shift: on-post state and proficiency, default params | MODEL.md |
| ``level`` | evaluated shift change: the hazard level | 0..4 |

The distance is the Wasserstein distance (in the quantity's unit; total variation for the
categorical ``destination``) with the two-sample Kolmogorov–Smirnov test (chi-square for
``destination``). A quantity **matches** when the test does not tell the samples apart at
`ALPHA`, or the distance is within the quantity's tolerance (:data:`TOLERANCES`: a difference
too small to matter, which large samples would otherwise flag); a post matches when all its
quantities do.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

ALPHA = 0.01
"""Significance level of the two-sample tests."""


@dataclass(frozen=True)
class Spec:
    """A compared quantity: its unit, tolerance and what one value is."""

    unit: str
    tolerance: float
    per: str
    categorical: bool = False


TOLERANCES: dict[str, Spec] = {
    "onpost_fraction": Spec("share of working time", 0.01, "worker-shift"),
    "offpost_dwell_s": Spec("s", 30.0, "excursion"),
    "destination": Spec("total variation", 0.15, "excursion", categorical=True),
    "speed_ratio": Spec("ratio to the post's mean", 0.03, "worker-shift"),
    "Z": Spec("fraction (MODEL.md Z)", 0.02, "evaluated worker-shift"),
    "Y": Spec("speed ratio (MODEL.md Y)", 0.03, "evaluated worker-shift"),
    "level": Spec("level 0..4", 0.15, "evaluated shift change"),
}
"""Every compared quantity (the README's tolerances)."""


@dataclass(frozen=True)
class Sample:
    """One side of a comparison: its size and summary, and where it came from."""

    n: int
    mean: float | None
    median: float | None
    q10: float | None
    q90: float | None
    source: str
    values: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, values: np.ndarray, source: str) -> Sample:
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if not len(v):
            return cls(0, None, None, None, None, source, v)
        q10, median, q90 = (float(x) for x in np.percentile(v, [10, 50, 90]))
        return cls(len(v), float(v.mean()), median, q10, q90, source, v)

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "mean": self.mean,
            "median": self.median,
            "q10": self.q10,
            "q90": self.q90,
            "from": self.source,
        }


@dataclass(frozen=True)
class Quantity:
    """One quantity of one post, records against twin."""

    name: str
    post: int
    records: Sample
    twin: Sample
    distance: float | None
    statistic: float | None
    """The test's statistic (KS D, or chi-square)."""
    p_value: float | None
    verdict: str
    """``matches`` or ``differs``."""

    @property
    def spec(self) -> Spec:
        return TOLERANCES[self.name]

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": self.name,
            "post": self.post,
            "records": self.records.to_json(),
            "twin": self.twin.to_json(),
            "distance": self.distance,
            "distance_kind": "total variation" if spec.categorical else "Wasserstein",
            "test": "chi-square" if spec.categorical else "Kolmogorov-Smirnov",
            "statistic": self.statistic,
            "p_value": self.p_value,
            "tolerance": spec.tolerance,
            "unit": spec.unit,
            "per": spec.per,
            "verdict": self.verdict,
        }


def compare(name: str, post: int, records: Sample, twin: Sample) -> Quantity:
    """The distance, test and verdict of one quantity (see the module docstring)."""
    spec = TOLERANCES[name]
    if records.n == 0 and twin.n == 0:
        return Quantity(name, post, records, twin, 0.0, None, None, "matches")
    if records.n == 0 or twin.n == 0:
        return Quantity(name, post, records, twin, None, None, None, "differs")
    if spec.categorical:
        distance, statistic, p = _categorical(records.values, twin.values)
    else:
        distance = float(stats.wasserstein_distance(records.values, twin.values))
        test = stats.ks_2samp(records.values, twin.values)
        statistic, p = float(test.statistic), float(test.pvalue)
    same = (p is not None and p >= ALPHA) or distance <= spec.tolerance
    return Quantity(
        name, post, records, twin, distance, statistic, p, "matches" if same else "differs"
    )


def _categorical(a: np.ndarray, b: np.ndarray) -> tuple[float, float | None, float | None]:
    """Total variation distance and the chi-square test of two categorical samples."""
    ca, cb = Counter(a.tolist()), Counter(b.tolist())
    cats = sorted(set(ca) | set(cb))
    table = np.array([[ca[c] for c in cats], [cb[c] for c in cats]], dtype=np.float64)
    shares = table / table.sum(axis=1, keepdims=True)
    distance = float(0.5 * np.abs(shares[0] - shares[1]).sum())
    if len(cats) < 2:
        return distance, None, 1.0
    chi2, p, _, _ = stats.chi2_contingency(table)
    return distance, float(chi2), float(p)


@dataclass(frozen=True)
class PostVerdict:
    """A post's plain verdict: matches when every quantity does."""

    post: int
    quantities: tuple[Quantity, ...]

    @property
    def verdict(self) -> str:
        return "matches" if all(q.verdict == "matches" for q in self.quantities) else "differs"

    @property
    def differs(self) -> list[str]:
        return [q.name for q in self.quantities if q.verdict != "matches"]

    def sentence(self) -> str:
        """E.g. ``post 3: differs in Z (Wasserstein 0.031 > 0.02, KS p 0.004)``."""
        if self.verdict == "matches":
            return f"post {self.post}: matches"
        parts = []
        for q in self.quantities:
            if q.verdict == "matches":
                continue
            if q.distance is None:
                parts.append(f"{q.name} (no {'records' if q.records.n == 0 else 'twin'} values)")
                continue
            kind = "total variation" if q.spec.categorical else "Wasserstein"
            test = "chi-square" if q.spec.categorical else "KS"
            p = "n/a" if q.p_value is None else f"{q.p_value:.3g}"
            parts.append(
                f"{q.name} ({kind} {_fmt(q.distance)} > {_fmt(q.spec.tolerance)}, {test} p {p})"
            )
        return f"post {self.post}: differs in " + "; ".join(parts)


def _fmt(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "n/a"
