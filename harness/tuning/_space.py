"""The search space over MODEL.md's tunables: documented default ranges, checked overrides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import core
from harness.adapters import optuna_studies
from harness.runtime.errors import HarnessError
from sim.registry import suggest


@dataclass(frozen=True)
class Range:
    """One tunable's range: ``[low, high]`` (on a grid of ``step`` when set) or choices."""

    low: float = 0.0
    high: float = 1.0
    step: float | None = None
    choices: tuple[str, ...] | None = None
    why: str = ""
    integer: bool = False

    def distribution(self) -> Any:
        """The Optuna distribution of the range."""
        if self.choices is not None:
            return optuna_studies.categorical(self.choices)
        if self.integer:
            return optuna_studies.int_range(int(self.low), int(self.high), step=int(self.step or 1))
        return optuna_studies.float_range(self.low, self.high, step=self.step)


RANGES: dict[str, Range] = {
    "tau_D": Range(0.2, 1.6, why="D = 0.2 · (own + neighbours' levels); 0.2 per level step"),
    "lam": Range(0.0, 1.0, why="weight of G against r; the whole of [0, 1]"),
    "tau_P": Range(0.05, 0.95, why="P is in [0, 1]; the ends make sets trivial"),
    "direction": Range(choices=core.DIRECTIONS, why="both options of MODEL.md"),
    "rho_min": Range(0.0, 0.9, step=0.05, why="ρ in [0, 1]; grid so Y rescoring is reused"),
    "eps": Range(0.25, 5.0, step=0.25, why="keypoint noise floor is ~1 px/s; grid as rho_min"),
    "tau_Z": Range(0.01, 0.6, why="Z is a fraction of reliable seconds off the standard post"),
    "tau_Y": Range(0.2, 1.5, why="Y ≈ 1 for a normal worker, ≈ skill for a slower one"),
    "history_pool": Range(choices=core.HISTORY_POOLS, why="both pools of MODEL.md"),
    "history_window_days": Range(
        10, 60, step=5, integer=True, why="W: MODEL.md's month (30) within 10..60 days"
    ),
    "proficiency_seconds": Range(
        choices=core.PROFICIENCY_SECONDS, why="both of MODEL.md (the patent's and the variant)"
    ),
}
"""Default ranges of the tunables of MODEL.md ("The parameters the harness tunes")."""

NOT_TUNABLE = {
    "alpha": "it shapes pixel-fidelity positions, and tuning reads signal-fidelity features",
}
"""Parameters of ``core.ModelParams`` that ``tune`` leaves alone, and why."""
OPT_IN = ("history_pool", "history_window_days")
"""Tunables searched only when named (``--tune``): each new value rebuilds every post's
database over the evaluated days, so they cost far more per trial than the thresholds."""


@dataclass(frozen=True)
class SearchSpace:
    """Tuned parameters with their ranges; the others keep the values of ``base``."""

    ranges: Mapping[str, Range]
    base: core.ModelParams = core.ModelParams()

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions of the tuned parameters (for ``study.ask``)."""
        return {name: r.distribution() for name, r in self.ranges.items()}

    def params(self, values: Mapping[str, object]) -> core.ModelParams:
        """``base`` with the tuned ``values`` (e.g. a trial's params) put in."""
        merged = {**self.base.to_dict(), **{k: values[k] for k in self.ranges if k in values}}
        return core.ModelParams.from_dict(merged)

    def distance_to_base(self, values: Mapping[str, object]) -> float:
        """How far ``values`` lie from ``base``: each tuned parameter's offset as a fraction of
        its range (a different choice counts 1), summed. Ranks equally good trials."""
        total = 0.0
        base = self.base.to_dict()
        for name, r in self.ranges.items():
            if name not in values:
                continue
            if r.choices is not None:
                total += float(values[name] != base[name])
            else:
                total += abs(float(values[name]) - float(base[name])) / (r.high - r.low)
        return total

    def without(self, names: Sequence[str]) -> SearchSpace:
        """The space less ``names`` (e.g. the swept thresholds, which the sampler leaves)."""
        return replace(self, ranges={n: r for n, r in self.ranges.items() if n not in names})

    def describe(self) -> dict[str, str]:
        """One line per tuned parameter (for logs and MLflow params)."""
        return {
            name: (
                "|".join(r.choices)
                if r.choices is not None
                else f"[{r.low}, {r.high}]" + (f" step {r.step}" if r.step else "")
            )
            for name, r in self.ranges.items()
        }


def make_space(
    *,
    names: Sequence[str] | None = None,
    overrides: Mapping[str, tuple[float, float]] | None = None,
    base: core.ModelParams = core.ModelParams(),
) -> SearchSpace:
    """The search space over ``names`` (default: every tunable but the opt-in ones).

    Args:
        names: parameters to tune (default: every tunable, but the opt-in ones of
            :data:`OPT_IN` unless ``overrides`` name them); the others keep ``base``.
        overrides: ``name → (low, high)`` replacing a default range; the parameter is tuned.
        base: values of the parameters that are not tuned (the study's start).

    Raises:
        HarnessError: an unknown or untunable name, or a range outside the parameter's domain.
    """
    overrides = dict(overrides or {})
    default = [n for n in RANGES if n not in OPT_IN] + [n for n in overrides if n in OPT_IN]
    chosen = default if names is None else list(dict.fromkeys(names))
    for name in [*chosen, *overrides]:
        if name in NOT_TUNABLE:
            raise HarnessError(f"{name!r} is not tunable: {NOT_TUNABLE[name]}")
        if name not in RANGES:
            raise HarnessError(
                f"unknown tunable {name!r}; expected one of {list(RANGES)}{suggest(name, RANGES)}"
            )
    if names is not None:
        outside = [n for n in overrides if n not in chosen]
        if outside:
            raise HarnessError(f"--range names {outside}, which --tune leaves out; add them")
    if not chosen:
        raise HarnessError("the search space is empty: name at least one tunable")
    ranges = {}
    for name in chosen:
        r = RANGES[name]
        if name in overrides:
            r = _override(name, r, *overrides[name])
        ranges[name] = r
    return SearchSpace(ranges=ranges, base=base)


def _override(name: str, default: Range, low: float, high: float) -> Range:
    if default.choices is not None:
        raise HarnessError(f"{name!r} is categorical {list(default.choices)}: it has no range")
    if not low < high:
        raise HarnessError(f"range of {name!r} must have low < high, got [{low}, {high}]")
    if default.integer:
        if low != int(low) or high != int(high):
            raise HarnessError(f"range of {name!r} must have whole bounds, got [{low}, {high}]")
        low, high = int(low), int(high)
    for value in (low, high):
        try:
            core.ModelParams(**{name: value})
        except core.ModelInputError as exc:
            raise HarnessError(f"range of {name!r} [{low}, {high}]: {exc}") from None
    if default.step is not None and (high - low) < default.step:
        raise HarnessError(
            f"range of {name!r} [{low}, {high}] is narrower than its grid step {default.step}"
        )
    return Range(
        low, high, step=default.step, integer=default.integer,
        why=f"user range (default {default.why})",
    )  # fmt: skip


def fit_window(space: SearchSpace, *, history_days: int, given: bool) -> SearchSpace:
    """Keep ``history_window_days`` within the history a post's database can hold: a window
    longer than the days before the first evaluated day holds the same days as a shorter one
    there, so the search would tell nothing apart. A range the user gave (``given``) that
    reaches past it is refused; the default range is narrowed to it (and says so).

    Raises:
        HarnessError: naming the range, the history available and the key that sets it.
    """
    r = space.ranges.get("history_window_days")
    if r is None or r.high <= history_days:
        return space
    if given or r.low > history_days:
        raise HarnessError(
            f"--range history_window_days=[{r.low:g}, {r.high:g}] reaches past the "
            f"{history_days} days of history before the first evaluated day (days.history): "
            f"keep it within {int(r.low) if r.low <= history_days else 1}..{history_days}, or "
            "simulate more history"
        )
    step = int(r.step or 1)
    high = int(r.low + (history_days - r.low) // step * step)
    narrowed = replace(r, high=high, why=f"{r.why}; at most the {history_days} history days")
    return replace(space, ranges={**space.ranges, "history_window_days": narrowed})
