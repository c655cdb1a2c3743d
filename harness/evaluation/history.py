"""The stored history of every day and the post databases that slide over them.

**The post database** (MODEL.md): for a shift on day d, a post's database holds its worker-shifts
of days ``d − W .. d − 1`` (``ModelParams.history_window_days``), of every shift type
(``history_pool = "post"``) or of the evaluated shift's type (``"post_shift"``), whoever
worked them. So every day a database reads is simulated first (the history days and the
evaluated days but the last, cached in a checksummed Parquet store keyed by
:func:`history_key`) and scored after: days stay
independent of the order tasks run in. A database slides day by day over the evaluated days
(:class:`Database`: the counts and speed sums are additive, so a slide adds one day's worker-shifts
and drops one).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import core
import sim
from harness.adapters.ray_cluster import map_unordered
from harness.evaluation.evidence import database_scores
from harness.evaluation.fidelities import WorkerSource, history_tag, signal_workers
from harness.runtime import interrupts, storage
from harness.runtime.cache_keys import cache_key

LOG = logging.getLogger(__name__)
HISTORY_CODE = (
    "core", "sim", "harness/evaluation/history.py", "harness/evaluation/fidelities.py",
    "harness/evaluation/pixels.py",
)  # fmt: skip
"""What makes stored history: the packages and modules :func:`history_key` hashes."""


def history_key(scenario: sim.Scenario) -> str:
    """Cache key of a scenario's stored history: the content that shapes them and the code and
    data files that make them (:mod:`harness.runtime.cache_keys`).

    The number of evaluated days, equipment, environment, name and fidelity do not change a
    stored day; the simulator, the model types, the worker sources and this module do.
    """
    content = scenario.model_dump(
        mode="json", exclude={"name", "fidelity", "equipment", "environment"}
    )
    content["days"].pop("evaluate", None)
    return cache_key(content, *HISTORY_CODE)


def stored_days(scenario: sim.Scenario) -> range:
    """Every day the post databases read: the history days and every evaluated day but the
    last (no database holds the last day: it would be the next day's)."""
    return range(1, scenario.days.history + scenario.days.evaluate)


def history_root(
    scenario: sim.Scenario,
    cache_dir: str | os.PathLike[str] | storage.Location,
    source: WorkerSource = signal_workers,
) -> storage.Location:
    """The folder of the scenario's stored history made by ``source`` in the cache."""
    tag = history_tag(source)
    key = history_key(scenario) + (f"-{tag}" if tag else "")
    return storage.location(cache_dir) / "history" / key


def open_store(root: str | storage.Location) -> sim.HistoryStore:
    """The history store at ``root`` (a local folder or an object-storage URI), read and
    written in place by whichever process opens it (a Ray task opens its own)."""
    where = storage.location(root)
    return sim.HistoryStore(where.path, filesystem=where.fs)


def build_post_history(
    scenario: sim.Scenario, store_root: str, post: int, source: WorkerSource = signal_workers
) -> list[tuple[int, str, int]]:
    """Task: verify the post's stored days, rebuild damaged ones, make and store the
    missing ones with ``source``; returns the rebuilt ``(post, shift, day)`` files."""
    store = open_store(store_root)
    return sim.build_history(
        scenario, store, posts=[post], days=stored_days(scenario), workers=source
    )


def ensure_history(
    scenario: sim.Scenario,
    cache_dir: str | os.PathLike[str] | storage.Location,
    *,
    max_in_flight: int,
    progress: bool,
    source: WorkerSource = signal_workers,
) -> storage.Location:
    """Build (or reuse) the scenario's stored history in the cache; returns their folder.

    ``source`` makes the history (the history fidelity: signal unless ``run
    --history-fidelity pixel``). Every post's stored files are verified (checksums) by its
    task; damaged or missing ones are rebuilt, with a warning naming them.
    """
    interrupts.checkpoint("history")
    root = history_root(scenario, cache_dir, source)
    posts = range(1, scenario.n_posts + 1)
    jobs = ((p, (scenario, str(root), p, source)) for p in posts)
    for post, rebuilt in map_unordered(
        build_post_history,
        jobs,
        total=len(posts),
        max_in_flight=max_in_flight,
        desc="history",
        progress=progress,
    ):
        if rebuilt:
            days = ", ".join(f"{shift} {day}" for _, shift, day in rebuilt)
            LOG.warning("post %s: damaged history files rebuilt (%s) in %s", post, days, root)
    return root


@dataclass
class Database:
    """A post's database for one pool of shift types, sliding day by day (MODEL.md).

    Holds the worker-shifts of the days in the window; :meth:`slide_to` moves it to the database
    of day d (days ``d − W .. d − 1``), reading entering days from the store and dropping
    leaving ones. The statistics come from :class:`core.HistoryWindow` (incremental).
    """

    store: sim.HistoryStore
    post: int
    n_posts: int
    T: int
    shifts: tuple[str, ...]
    window_days: int
    days: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _window: core.HistoryWindow = field(init=False, repr=False)
    _stats: core.HistoryStats | None = None
    _scores: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._window = core.HistoryWindow(post=self.post, n_posts=self.n_posts, T=self.T)

    def scores(self, params: core.ModelParams) -> dict[str, Any]:
        """The held worker-shifts' own Z and Y against the statistics (once per slide)."""
        if self._scores is None:
            self._scores = database_scores(self.stats(), self.held(), params)
        return self._scores

    def slide_to(self, day: int) -> None:
        """Hold the worker-shifts of days ``max(1, day − W) .. day − 1``."""
        target = set(core.database_days(day, self.window_days))
        for old in sorted(set(self.days) - target):
            positions, speeds = self.days.pop(old)
            if len(positions):
                self._window.remove(positions, speeds)
        for new in sorted(target - set(self.days)):
            self.days[new] = self._read(new)
        self._stats = self._scores = None

    def _read(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [self.store.read(post=self.post, shift=s, days=[day]) for s in self.shifts]
        positions = np.concatenate([p.positions for p in parts])
        speeds = np.concatenate([p.speeds for p in parts])
        if len(positions):
            self._window.add(positions, speeds)
        return positions, speeds

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """The held worker-shifts: ``(m, T)`` positions and ``(m, T, 14)`` speeds, by day."""
        ordered = [self.days[d] for d in sorted(self.days)]
        return np.concatenate([p for p, _ in ordered]), np.concatenate([v for _, v in ordered])

    @property
    def span(self) -> tuple[int, int]:
        """First and last day held."""
        return min(self.days), max(self.days)

    def stats(self) -> core.HistoryStats:
        """The statistics of the held worker-shifts (computed once per slide)."""
        if self._stats is None:
            if self._window.m == 0:
                raise core.ModelInputError(
                    f"post {self.post}: its database holds no worker-shifts (days "
                    f"{sorted(self.days)}): nobody worked it in the window"
                )
            self._stats = self._window.stats()
        return self._stats

    @classmethod
    def open(
        cls,
        store: sim.HistoryStore,
        scenario: sim.Scenario,
        post: int,
        shifts: tuple[str, ...],
        params: core.ModelParams,
    ) -> Database:
        """An empty database of ``post`` for ``shifts``."""
        return cls(store, post, scenario.n_posts, scenario.samples_per_shift, shifts,
                   params.history_window_days)  # fmt: skip


def post_databases(
    scenario: sim.Scenario,
    store: sim.HistoryStore,
    post: int,
    params: core.ModelParams,
    days: Iterable[int],
) -> Iterator[tuple[int, str, Database]]:
    """The post's database for every evaluated ``(day, shift)`` (see :class:`Database`).

    One database slides over the days for ``history_pool = "post"`` (both shift types share
    it); one per shift type for ``"post_shift"``.
    """
    for pool in core.database_pools(scenario.shift_names, params):
        database = Database.open(store, scenario, post, pool, params)
        for day in days:
            database.slide_to(day)
            for shift in pool:
                yield day, shift, database
