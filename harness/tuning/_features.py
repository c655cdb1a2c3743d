"""Per-shift features cached for tuning, and the cheap evaluation of one parameter set.

What no tunable changes is computed once on Ray by the run pipeline and kept: hazard levels
(the run's graders), post states (truth), dwell matrices, worker ids and posts, and the
evaluated workers' measured arrays (in the object store). Which parameters change what:

- ``tau_D, tau_P, tau_Z, tau_Y`` are thresholds, and ``lam, direction`` only shape P, which
  :func:`core.decide_shift` computes from the cached dwell matrix: all cost microseconds.
- ``history_pool, history_window_days`` change the post databases, hence Z and Y;
  ``rho_min, eps, proficiency_seconds`` change Y. Z and Y are rescored on Ray, one task per
  post that slides the post's database over the evaluated days
  (:func:`harness.evaluation.history.post_databases`) and scores the cached arrays at every missing
  key at once — every ``rho_min`` of the search grid from one pass
  (:func:`core.proficiency_floors`); results are cached per :data:`ScoreKey` (the search
  space puts the numbers on grids, so points recur).
- ``alpha`` shapes positions at pixel fidelity only; tuning reads signal-fidelity features,
  so a pixel scenario is refused (:func:`harness.commands.tune.make_tune_config`).
"""

from __future__ import annotations

import copy
import functools
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import core
import sim
from harness.adapters.ray_cluster import gather, put, submit
from harness.evaluation.decisions import LineShift, line_shifts, simulated_states
from harness.evaluation.fidelities import signal_workers
from harness.evaluation.graders import Levels
from harness.evaluation.history import ensure_history, open_store, post_databases
from harness.evaluation.metrics import run_metrics
from harness.evaluation.results import ShiftResult
from harness.evaluation.scoring import group_by_shift
from harness.evaluation.scoring import score_posts as score_all_posts
from harness.records import Records
from harness.runtime.storage import Location
from harness.tuning._sweep import Stacked, stack

ScoreKey = tuple[str, int, float, float, str]
"""``(history_pool, history_window_days, rho_min, eps, proficiency_seconds)``: the key of a
set of Z and Y."""
Scores = list[tuple[np.ndarray, np.ndarray]]
"""Per cached shift, ``(Z, Y)`` of its workers (in the shift's row order)."""


def score_key(params: core.ModelParams) -> ScoreKey:
    """The score-cache key of ``params``."""
    return (
        params.history_pool,
        int(params.history_window_days),
        round(params.rho_min, 9),
        round(params.eps, 9),
        params.proficiency_seconds,
    )


@dataclass(frozen=True)
class Features:
    """Cached shifts of a scenario (in ``decide_shifts`` order) and the line's constants."""

    G: np.ndarray
    T: float
    shifts: tuple[LineShift, ...]

    @functools.cached_property
    def stacked(self) -> Stacked:
        """The shifts as flat arrays for threshold sweeps (built once)."""
        return stack(self.G, self.T, self.shifts)

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


def shift_results(
    features: Features, params: core.ModelParams, scores: Scores
) -> list[ShiftResult]:
    """The shift results of ``params`` from cached features and its scores."""
    return [
        s.record(features.G, features.T, params, Z=z, Y=y)
        for s, (z, y) in zip(features.shifts, scores, strict=True)
    ]


def results_of(
    features: Features, cache: ScoreCache, params: core.ModelParams, days: Iterable[int]
) -> list[ShiftResult]:
    """The shift results of ``params`` on the cached ``days`` (their Z and Y from ``cache``)."""
    days = tuple(days)
    scores = cache.get([score_key(params)])[score_key(params)]
    return shift_results(features.select(days), params, pick(scores, features.rows_of(days)))


def pick(scores: Scores, rows: Iterable[int]) -> Scores:
    """The scores of the cached shifts ``rows`` (e.g. :meth:`Features.rows_of`)."""
    return [scores[k] for k in rows]


def trial_metrics(features: Features, params: core.ModelParams, scores: Scores) -> dict[str, Any]:
    """The run metrics of ``params`` on the cached shifts (see
    :mod:`harness.evaluation.metrics`)."""
    return run_metrics(shift_results(features, params, scores), tau_D=params.tau_D, replicates=0)


STATS_CACHE_BYTES = 256 * 2**20
"""Memory a Ray worker may keep of window statistics between rescoring tasks."""
_STATS: OrderedDict[tuple, tuple[dict[tuple[int, str], core.HistoryStats], int]] = OrderedDict()


def window_stats(
    scenario: sim.Scenario,
    store_root: str,
    post: int,
    pool: str,
    window: int,
    days: tuple[int, ...],
) -> dict[tuple[int, str], core.HistoryStats]:
    """The post's database statistics per (day, shift) of ``days`` for one (pool, W), kept in
    this worker process (least recently used first out, :data:`STATS_CACHE_BYTES` in all), so
    a new ``(rho_min, eps)`` rescores without reading the store again."""
    key = (store_root, post, pool, window, days)
    if key in _STATS:
        _STATS.move_to_end(key)
        return _STATS[key][0]
    base = core.ModelParams(history_pool=pool, history_window_days=window)  # type: ignore[arg-type]
    store = open_store(store_root)
    stats = {
        (day, shift): database.stats()
        for day, shift, database in post_databases(scenario, store, post, base, days)
    }
    size = sum(s.rho.nbytes + s.standard.nbytes + s.mean_speeds.nbytes for s in stats.values())
    _STATS[key] = (stats, size)
    while sum(n for _, n in _STATS.values()) > STATS_CACHE_BYTES and len(_STATS) > 1:
        _STATS.popitem(last=False)
    return stats


def rescore_post(
    scenario: sim.Scenario,
    store_root: str,
    post: int,
    keys: Sequence[ScoreKey],
    arrays: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]],
    days: tuple[int, ...],
) -> dict[ScoreKey, dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]]:
    """Task: Z and Y of one post's evaluated workers on ``days`` (``arrays`` per (day, shift))
    at each key; the keys that differ only in ``rho_min`` share one pass."""
    out: dict[ScoreKey, dict] = {key: {} for key in keys}
    by_window: dict[tuple[str, int], list[ScoreKey]] = defaultdict(list)
    for key in keys:
        by_window[key[:2]].append(key)
    for (pool, window), group in by_window.items():
        by_terms: dict[tuple[float, str], list[ScoreKey]] = defaultdict(list)
        for key in group:
            by_terms[(key[3], key[4])].append(key)
        found = window_stats(scenario, store_root, post, pool, window, days)
        for (day, shift), stats in found.items():
            positions, speeds = arrays[(day, shift)]
            if not len(positions):
                for key in group:
                    out[key][(day, shift)] = (np.zeros(0), np.zeros(0))
                continue
            z = core.onpost_state_batch(stats, positions)
            for (eps, seconds), same in by_terms.items():
                params = core.ModelParams(eps=eps, proficiency_seconds=seconds)  # type: ignore[arg-type]
                floors = core.proficiency_floors(
                    stats, speeds, [key[2] for key in same], params, positions=positions
                )
                for key, y in zip(same, floors, strict=True):
                    out[key][(day, shift)] = (z, y)
    return out


class ScoreCache:
    """Z and Y of every cached worker-shift per :data:`ScoreKey`; missing keys scored on Ray.

    Each post's evaluated arrays stay in the object store; one :func:`rescore_post` task per
    post scores all missing keys of a request at once, and with them every ``rho_min`` of
    ``rho_grid`` at the same other values (one pass scores them all).
    """

    def __init__(
        self,
        *,
        scenario_ref: Any,
        store_root: str,
        arrays: dict[int, Any],
        layout: dict[int, dict[int, slice]],
        order: list[tuple[int, str]],
        known: dict[ScoreKey, Scores],
        rho_grid: Sequence[float] = (),
    ) -> None:
        self._rho_grid = tuple(round(float(r), 9) for r in rho_grid)
        self._scenario = scenario_ref
        self._root = store_root
        self._arrays = arrays
        self._layout = layout
        self._order = order
        self._days = tuple(dict.fromkeys(day for day, _ in order))
        self._known = dict(known)

    def __len__(self) -> int:
        return len(self._known)

    def with_rho_grid(self, rho_grid: Sequence[float]) -> ScoreCache:
        """This cache (sharing its scores) filling every ``rho_min`` of ``rho_grid`` at once."""
        other = copy.copy(self)
        other._rho_grid = tuple(round(float(r), 9) for r in rho_grid)
        return other

    def get(self, keys: Iterable[ScoreKey]) -> dict[ScoreKey, Scores]:
        """Per key, the scores of every cached shift, scoring the missing keys on Ray."""
        wanted = list(dict.fromkeys(keys))
        grid = [(*k[:2], rho, *k[3:]) for k in wanted for rho in self._rho_grid]
        missing = [k for k in dict.fromkeys(wanted + grid) if k not in self._known]
        if missing:
            posts = list(self._arrays)
            refs = [
                submit(
                    rescore_post,
                    self._scenario,
                    self._root,
                    p,
                    missing,
                    self._arrays[p],
                    self._days,
                )
                for p in posts
            ]
            tables = {k: self._empty() for k in missing}
            for post, result in zip(posts, gather(refs), strict=True):
                for key, by_shift in result.items():
                    for row, shift_key in enumerate(self._order):
                        cols = self._layout[post][row]
                        z, y = by_shift[shift_key]
                        tables[key][row][0][cols] = z
                        tables[key][row][1][cols] = y
            self._known.update(tables)
        return {k: self._known[k] for k in wanted}

    def _empty(self) -> Scores:
        sizes = [max((s.stop for s in (lay[row] for lay in self._layout.values())), default=0)
                 for row in range(len(self._order))]  # fmt: skip
        return [(np.full(n, np.nan), np.full(n, np.nan)) for n in sizes]


def build_features(
    scenario: sim.Scenario,
    *,
    cache_dir: Location,
    max_in_flight: int,
    progress: bool,
    levels_of: Levels,
    records: Records | None = None,
    days: Sequence[int] | None = None,
) -> tuple[Features, ScoreCache]:
    """Simulate and score the scenario's evaluated shifts once (Ray must be running).

    With ``records`` (a labelled records folder; ``scenario`` is its line) the shifts are its
    recorded ones, and the post states its labels. With ``days`` (evaluated days of
    ``scenario``) only theirs: the records of every day are stored all the same, so their post
    databases hold the days before them (more held-out days: :mod:`harness.tuning._holdout`).

    Returns the cached features and a score cache seeded with MODEL.md's defaults.
    """
    if records is not None:
        store_root, source = records.prepare(
            cache_dir, max_in_flight=max_in_flight, progress=progress
        )
        states_of = records.states
    else:
        store_root = ensure_history(
            scenario, cache_dir, max_in_flight=max_in_flight, progress=progress
        )
        source, states_of = signal_workers, simulated_states
    default = core.ModelParams()
    by_shift = group_by_shift(
        score_all_posts(
            scenario, store_root, default, max_in_flight=max_in_flight, progress=progress,
            with_arrays=True, source=source, days=days,
        )
    )  # fmt: skip
    shifts = line_shifts(scenario, by_shift, levels_of=levels_of, states_of=states_of, days=days)
    order = [(s.day, s.shift) for s in shifts]
    arrays, layout = {}, {}
    for post in range(1, scenario.n_posts + 1):
        arrays[post] = put(
            {key: (by_shift[key][post].positions, by_shift[key][post].speeds) for key in order}
        )
        layout[post] = {}
    for row in range(len(shifts)):
        offset = 0
        for post in range(1, scenario.n_posts + 1):
            count = len(by_shift[order[row]][post].workers)
            layout[post][row] = slice(offset, offset + count)
            offset += count
    cache = ScoreCache(
        scenario_ref=put(scenario),
        store_root=str(store_root),
        arrays=arrays,
        layout=layout,
        order=order,
        known={score_key(default): [(s.Z, s.Y) for s in shifts]},
    )
    features = Features(G=scenario.G, T=float(scenario.shifts.length_s), shifts=tuple(shifts))
    return features, cache
