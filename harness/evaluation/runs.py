"""One run's evaluation, whatever its source: the one path of a scenario and a records folder.

A run's worker-shifts come from a scenario (the simulator, with its truth) or from a records
folder (a plant's recorded shifts): :class:`RunSource` is what the path asks of either —
the stored history and the evaluated shifts' workers, the levels, the post states — and
:func:`evaluate` scores the posts, decides every shift and gathers the evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import core
import sim
from harness.evaluation.decisions import StatesOf, decide_shifts, simulated_states
from harness.evaluation.fidelities import Fidelities, WorkerSource
from harness.evaluation.graders import GraderPlan, Levels, levels_source
from harness.evaluation.history import ensure_history
from harness.evaluation.results import Evidence, ShiftResult
from harness.evaluation.scoring import group_by_shift, score_posts
from harness.runtime.storage import Location


@dataclass(frozen=True)
class RunSource:
    """What a run's path asks of its source (a scenario or a records folder), Ray running."""

    store: Callable[[], tuple[Location, WorkerSource]]
    """Stores the history (or reuses it): the store and the evaluated shifts' worker source."""
    levels: Callable[[], tuple[Levels, dict[str, Any]]]
    """The levels the model sees, and ``results.json``'s ``graders``."""
    states: StatesOf
    """The post states of a shift change (the truth, or what stands in for it)."""
    labelled: bool
    """Whether the truth is known (without: the records carry none of it)."""


def simulated(
    scenario: sim.Scenario,
    fidelities: Fidelities,
    graders: GraderPlan,
    cache_dir: Location,
    *,
    max_in_flight: int,
    progress: bool,
) -> RunSource:
    """A scenario as a run's source: its history at the history fidelity, its evaluated
    shifts at theirs, the levels of ``graders``, the simulator's post states."""

    def store() -> tuple[Location, WorkerSource]:
        root = ensure_history(scenario, cache_dir, max_in_flight=max_in_flight,
                              progress=progress, source=fidelities.history_source())  # fmt: skip
        return root, fidelities.evaluation_source()

    levels = partial(levels_source, graders, scenario, cache_dir,
                     max_in_flight=max_in_flight, progress=progress)  # fmt: skip
    return RunSource(store=store, levels=levels, states=simulated_states, labelled=True)


class Recorded(Protocol):
    """What a records folder (:class:`harness.records.Records`) offers a run's path."""

    @property
    def labels(self) -> object | None:
        """The folder's labels (None: it has none, the truth is unknown)."""

    def prepare(
        self, cache_dir: Location, *, max_in_flight: int, progress: bool
    ) -> tuple[Location, WorkerSource]:
        """Store every post's rows (Ray running): the store and the worker source."""

    def levels_source(self, spec: str) -> tuple[Levels, dict[str, Any]]:
        """The levels of ``--graders spec``, and ``results.json``'s ``graders``."""

    def states(
        self, scenario: sim.Scenario, day: int, shift: str, workers: Any
    ) -> tuple[sim.PostState, ...]:
        """The post states of a shift change."""


def recorded(
    folder: Recorded, cache_dir: Location, graders: str, *, max_in_flight: int, progress: bool
) -> RunSource:
    """A records folder as a run's source: its rows stored, the levels of ``--graders``,
    the post states of its labels (or of its levels, the truth then removed)."""
    store = partial(folder.prepare, cache_dir, max_in_flight=max_in_flight, progress=progress)
    return RunSource(store=store, levels=partial(folder.levels_source, graders),
                     states=folder.states, labelled=folder.labels is not None)  # fmt: skip


@dataclass(frozen=True)
class Evaluation:
    """What a run computed: the shift results, where the levels came from, the evidence."""

    records: list[ShiftResult]
    """The shift results."""
    graders: dict[str, Any]
    """Provenance of the levels (:meth:`harness.evaluation.graders.GraderPlan.describe`)."""
    evidence: list[Evidence]
    """The evidence of every flagged worker-shift (:mod:`harness.evaluation.evidence`)."""


def evaluate(
    scenario: sim.Scenario,
    params: core.ModelParams,
    source: RunSource,
    *,
    max_in_flight: int,
    progress: bool,
) -> Evaluation:
    """Score every evaluated post-shift of ``source`` on Ray (already started), decide the
    shifts and gather the flagged workers' evidence in (day, shift, post) order."""
    store_root, workers = source.store()
    scores = score_posts(scenario, store_root, params, max_in_flight=max_in_flight,
                         progress=progress, source=workers)  # fmt: skip
    by_shift = group_by_shift(scores)
    levels_of, provenance = source.levels()
    evidence = [
        e
        for key in sorted(by_shift, key=lambda k: (k[0], scenario.shift_names.index(k[1])))
        for post in sorted(by_shift[key])
        for e in by_shift[key][post].evidence
    ]
    shifts = decide_shifts(scenario, by_shift, params, levels_of=levels_of,
                           states_of=source.states)  # fmt: skip
    if not source.labelled:
        shifts = [s.without_truth() for s in shifts]
    return Evaluation(shifts, provenance, evidence)
