"""Per-shift features cached for tuning, and the cheap evaluation of one parameter set.

What no tunable changes is computed once on Ray by the run pipeline and kept: hazard levels,
post states (truth), dwell matrices, worker ids and posts, Z. Which parameters change what:

- ``tau_D, tau_P, tau_Z, tau_Y`` are thresholds, and ``lam, direction`` only shape P, which
  :func:`core.decide_shift` computes from the cached dwell matrix: all cost microseconds.
- ``rho_min, eps`` change Y. Y is rescored on Ray from each (post, shift type)'s
  :class:`core.HistoryStats` and the evaluated workers' speeds, both kept in the object store;
  the results are cached per ``(rho_min, eps)`` (the search space puts both on a grid, so
  points recur).
- ``alpha`` shapes positions at pixel fidelity only; the signal fidelity emits positions
  directly, so it changes nothing here (the search space leaves it out).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

import core
import sim
from harness import graders
from harness.execution import gather, put, submit
from harness.metrics import run_metrics
from harness.pipeline import (
    LineShift,
    ensure_history,
    group_by_shift,
    line_shifts,
    post_history_stats,
    score_posts,
)

YKey = tuple[float, float]
"""``(rho_min, eps)``, rounded: the key of a set of proficiencies."""


def y_key(params: core.ModelParams) -> YKey:
    """The Y-cache key of ``params``."""
    return (round(params.rho_min, 9), round(params.eps, 9))


@dataclass(frozen=True)
class Features:
    """Cached shifts of a scenario (in ``decide_shifts`` order) and the line's constants."""

    G: np.ndarray
    T: float
    shifts: tuple[LineShift, ...]

    @property
    def days(self) -> tuple[int, ...]:
        """The evaluated days present, in order."""
        return tuple(dict.fromkeys(s.day for s in self.shifts))

    def rows_of(self, days: Iterable[int]) -> np.ndarray:
        """Indices of the shifts of ``days``."""
        wanted = set(days)
        return np.array([k for k, s in enumerate(self.shifts) if s.day in wanted], dtype=np.intp)

    def select(self, days: Iterable[int]) -> Features:
        """The features of ``days`` only."""
        return replace(self, shifts=tuple(self.shifts[k] for k in self.rows_of(days)))


def shift_records(
    features: Features, params: core.ModelParams, Y: np.ndarray
) -> list[dict[str, Any]]:
    """``results.json`` shift records of ``params`` from cached features.

    Args:
        Y: ``(shifts, workers)`` proficiencies at ``params``' ``(rho_min, eps)``.
    """
    return [
        s.record(features.G, features.T, params, y) for s, y in zip(features.shifts, Y, strict=True)
    ]


def evaluate(features: Features, params: core.ModelParams, Y: np.ndarray) -> dict[str, Any]:
    """The run metrics of ``params`` on the cached shifts (see :mod:`harness.metrics`)."""
    return run_metrics(shift_records(features, params, Y), tau_D=params.tau_D)


def post_proficiency(
    stats: core.HistoryStats, speeds: np.ndarray, keys: Sequence[YKey]
) -> np.ndarray:
    """Task: Y of one (post, shift type)'s evaluated workers at each ``(rho_min, eps)``."""
    return np.stack(
        [core.proficiency_batch(stats, speeds, core.ModelParams(rho_min=r, eps=e)) for r, e in keys]
    )


class ProficiencyCache:
    """Y of every cached worker-shift per ``(rho_min, eps)``; missing keys are scored on Ray.

    Each (post, shift type)'s history statistics and its workers' speeds (all evaluated days)
    stay in the object store; one task per (post, shift type) scores all missing keys at once.
    """

    def __init__(
        self,
        *,
        refs: dict[tuple[int, str], tuple[Any, Any]],
        layout: dict[tuple[int, str], tuple[np.ndarray, slice]],
        shape: tuple[int, int],
        known: dict[YKey, np.ndarray],
    ) -> None:
        self._refs = refs
        self._layout = layout
        self._shape = shape
        self._known = dict(known)

    def __len__(self) -> int:
        return len(self._known)

    def get(self, keys: Iterable[YKey]) -> dict[YKey, np.ndarray]:
        """``(shifts, workers)`` Y per key, scoring the missing keys on Ray."""
        wanted = list(dict.fromkeys(keys))
        missing = [k for k in wanted if k not in self._known]
        if missing:
            groups = list(self._refs)
            refs = [submit(post_proficiency, *self._refs[g], missing) for g in groups]
            tables = {k: np.empty(self._shape) for k in missing}
            for group, values in zip(groups, gather(refs), strict=True):
                rows, cols = self._layout[group]  # values: (keys, days * w)
                for k, key in enumerate(missing):
                    tables[key][rows, cols] = values[k].reshape(len(rows), -1)
            self._known.update(tables)
        return {k: self._known[k] for k in wanted}


def build_features(
    scenario: sim.Scenario, *, cache_dir: Path, max_in_flight: int, progress: bool
) -> tuple[Features, ProficiencyCache]:
    """Simulate and score the scenario's evaluated shifts once (Ray must be running).

    Returns the cached features and a Y cache seeded with MODEL.md's ``(rho_min, eps)``.
    """
    store_root = ensure_history(scenario, cache_dir, max_in_flight=max_in_flight, progress=progress)
    scenario_ref = put(scenario)
    groups = [(p, s) for p in range(1, scenario.n_posts + 1) for s in scenario.shift_names]
    stats_refs = {g: submit(post_history_stats, scenario_ref, str(store_root), *g) for g in groups}
    default = core.ModelParams()
    by_shift = group_by_shift(
        score_posts(
            scenario,
            store_root,
            default,
            max_in_flight=max_in_flight,
            progress=progress,
            stats_refs=stats_refs,
            with_speeds=True,
        )
    )

    n, per_post = scenario.n_posts, scenario.workers.per_post
    order = [(d, s) for d in scenario.evaluate_days for s in scenario.shift_names]
    shifts = line_shifts(scenario, by_shift, levels_of=graders.true_levels)
    refs, layout = {}, {}
    for post, shift in groups:
        rows_idx = np.array([k for k, key in enumerate(order) if key[1] == shift])
        speeds = np.concatenate([by_shift[order[k]][post].speeds for k in rows_idx])
        refs[(post, shift)] = (stats_refs[(post, shift)], put(speeds))
        layout[(post, shift)] = (rows_idx, slice((post - 1) * per_post, post * per_post))
    y_default = np.array([s.Y for s in shifts])
    cache = ProficiencyCache(
        refs=refs,
        layout=layout,
        shape=(len(shifts), n * per_post),
        known={y_key(default): y_default},
    )
    features = Features(G=scenario.G, T=float(scenario.shifts.length_s), shifts=tuple(shifts))
    return features, cache
