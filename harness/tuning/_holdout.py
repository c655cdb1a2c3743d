"""The held-out days, and more of them when a scenario's own are too few to decide.

A scenario is a simulator, so held-out days cost only compute. Its days are simulated from
streams keyed by what they describe (seed, person, post, day, shift: :mod:`sim.seeding`), and
its stored history are keyed without ``days.evaluate``
(:func:`harness.evaluation.history.history_key`): a copy with more evaluated days simulates
the same days as the scenario and new ones after them, reusing every stored day
(``tests/harness/tuning/test_holdout.py`` checks both). The added days come after the
scenario's own held-out days — never among the tuning days — and each added day's post
database holds the ``W`` stored days before it, the earlier evaluated days included, as
every evaluated day's does. A records folder's held-out days are what was recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import core
import sim
from harness.evaluation.graders import Levels
from harness.evaluation.results import ShiftResult
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_count
from harness.runtime.storage import Location
from harness.tuning._features import Features, ScoreCache, build_features, results_of
from harness.tuning._rule import DEFAULT_MAX_HOLDOUT_DAYS

Maker = Callable[[tuple[int, ...]], tuple[Features, ScoreCache]]
"""Cached features of new evaluated days (and their score cache)."""

AUTO_HOLDOUT = "auto"
"""``--holdout-days auto``: a third of the evaluated days, and more simulated while undecided."""


def holdout_budget(
    holdout_days: int | str, *, most: int | None, evaluated: int, records: bool, cv: int | None
) -> tuple[int, int | None]:
    """The study's own held-out days, and the most held-out days in all (None: no more are
    simulated): ``--holdout-days auto|N`` and ``--max-holdout-days`` (``most``), of
    ``evaluated`` days of a records folder (``records``) or a scenario, with ``--cv``."""
    auto = holdout_days == AUTO_HOLDOUT
    if not auto and (isinstance(holdout_days, bool) or not isinstance(holdout_days, int)):
        raise HarnessError(f"--holdout-days must be auto or a number of days, got {holdout_days!r}")
    k = max(1, round(evaluated / 3)) if auto else holdout_days
    if not 1 <= k < evaluated:
        raise HarnessError(f"--holdout-days must be in 1..{evaluated - 1}, got {k}")
    if most is not None:
        why = (
            "with --holdout-days N the held-out days are those N" if not auto
            else "a records folder's held-out days are what was recorded" if records
            else "with --cv the cross-validation decides, over the evaluated days" if cv
            else ""
        )  # fmt: skip
        if why:
            raise HarnessError(f"--max-holdout-days applies to simulated held-out days; {why}")
        check_count("max-holdout-days", most)
        if most < k:
            raise HarnessError(
                f"--max-holdout-days must be >= the scenario's own held-out days ({k}), got {most}"
            )
    if not auto or records or cv:
        return k, None
    return k, max(k, DEFAULT_MAX_HOLDOUT_DAYS) if most is None else most


def with_evaluated_days(scenario: sim.Scenario, last: int) -> sim.Scenario:
    """``scenario`` (validated again) evaluated up to day ``last``."""
    data = scenario.model_dump()  # python values: JSON would turn integer keys into strings
    data["days"]["evaluate"] = last - scenario.days.history
    try:
        return sim.load_scenario(data)
    except sim.ScenarioError as exc:
        raise HarnessError(f"more held-out days of {scenario.name!r}: {exc}") from None


def simulated_days(
    scenario: sim.Scenario,
    *,
    cache_dir: Location,
    levels_of: Levels,
    max_in_flight: int,
    progress: bool,
) -> Maker:
    """A :data:`Maker` that simulates new evaluated days of ``scenario`` (Ray running)."""

    def make(days: tuple[int, ...]) -> tuple[Features, ScoreCache]:
        return build_features(
            with_evaluated_days(scenario, days[-1]), cache_dir=cache_dir, levels_of=levels_of,
            max_in_flight=max_in_flight, progress=progress, days=days,
        )  # fmt: skip

    return make


@dataclass
class HeldOut:
    """The held-out days' cached features: the study's own held-out days, then those added.

    Attributes:
        parts: per batch of days, its features, score cache and days.
        make: makes the features of new days (None: no more can be had).
    """

    parts: list[tuple[Features, ScoreCache, tuple[int, ...]]]
    make: Maker | None = None
    added: list[int] = field(default_factory=list)
    """The days added so far."""

    @property
    def days(self) -> tuple[int, ...]:
        """Every held-out day, in order."""
        return tuple(d for _, _, days in self.parts for d in days)

    def results(self, params: core.ModelParams) -> list[ShiftResult]:
        """The shift results of ``params`` on every held-out day."""
        return [r for f, cache, days in self.parts for r in results_of(f, cache, params, days)]

    def extend(self, total: int) -> None:
        """Add the days after the last held-out day until there are ``total``."""
        if self.make is None:
            raise HarnessError("no more held-out days can be made of a records folder")
        have = self.days
        new = tuple(range(have[-1] + 1, have[-1] + 1 + total - len(have)))
        if new:
            features, cache = self.make(new)
            self.parts.append((features, cache, new))
            self.added.extend(new)
