"""One fitted figure (:class:`Estimate`) and the ledger a fit writes them to (:class:`Fitting`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from harness.records._format import SECONDS, Manifest
from harness.records._tables import Labels, LevelTable
from harness.records.fit._measure import ShiftMeasure

SECONDS_FILES = f"{SECONDS}/*.parquet"
"""The records of a figure read from the seconds tables."""


@dataclass(frozen=True)
class Estimate:
    """One fitted figure: value, 95 % interval, sample size, and where it came from (fields
    in fit.json's order)."""

    name: str
    post: int | None = field(default=None, kw_only=True)
    worker: str | None = field(default=None, kw_only=True)
    shift: str | None = field(default=None, kw_only=True)
    value: float | None
    interval: tuple[float, float] | None
    n: int
    """Sample size (worker-shifts, people, post-shifts, readings: see ``unit_of_n``)."""
    unit_of_n: str
    unit: str
    records: str
    """The records it came from (files, columns, days, whose)."""
    method: str
    key: str | None = None
    """The twin's scenario key it sets, if any."""

    def to_json(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["interval"] = list(self.interval) if self.interval else None
        return row


@dataclass
class Fitting:
    """A fit in progress: the records it reads, and the estimates and limits found so far, in
    the order fit.json and the report list them."""

    m: Manifest
    levels: LevelTable
    labels: Labels | None
    measures: list[ShiftMeasure]
    seed: int
    estimates: list[Estimate] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        value: float | None,
        interval: tuple[float, float] | None = None,
        *,
        n: int | None = None,
        unit_of_n: str = "worker-shifts",
        **more: Any,
    ) -> Estimate:
        """Record one estimate: ``value``, its 95 % ``interval`` (if any) and its sample, ``n``
        ``unit_of_n`` (by default every worker-shift the fit reads); the other fields of
        :class:`Estimate` by keyword."""
        n = len(self.measures) if n is None else n
        e = Estimate(name, value, interval, n, unit_of_n, **more)
        self.estimates.append(e)
        return e
