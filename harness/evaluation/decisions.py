"""The line-level decisions of each evaluated shift: every post's results assembled in post
order with the truth, decided by :func:`core.decide_shift`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

import core
import sim
from harness.evaluation.results import ShiftResult, shift_result
from harness.evaluation.scoring import PostShift, WorkerRow


@dataclass(frozen=True)
class LineShift:
    """One evaluated shift of the line: what its decisions need, in post order, and the truth."""

    day: int
    shift: str
    levels: np.ndarray
    """``(n,)`` levels the model sees (the grading)."""
    true_D: np.ndarray
    """``(n,)`` hazard degrees from the true levels."""
    states: tuple[sim.PostState, ...]
    rows: tuple[WorkerRow, ...]
    dwell: np.ndarray
    """``(n, n+1)`` dwell seconds."""

    @functools.cached_property
    def worker_ids(self) -> tuple[str, ...]:
        """Ids of the shift's workers, in post order."""
        return tuple(w.worker for w in self.rows)

    @functools.cached_property
    def worker_posts(self) -> np.ndarray:
        """``(w,)`` posts of the shift's workers."""
        return np.array([w.post for w in self.rows])

    @functools.cached_property
    def Z(self) -> np.ndarray:
        """``(w,)`` on-post states of the shift's workers."""
        return np.array([w.Z for w in self.rows])

    @functools.cached_property
    def Y(self) -> np.ndarray:
        """``(w,)`` proficiencies at the parameters the workers were scored with."""
        return np.array([w.Y for w in self.rows])

    def record(
        self,
        G: np.ndarray,
        T: float,
        params: core.ModelParams,
        Z: np.ndarray | None = None,
        Y: np.ndarray | None = None,
    ) -> ShiftResult:
        """The shift's record at ``params`` (``Z``, ``Y`` override the rows').

        Cheap enough for every trial of a threshold study: the worker arrays are built once.
        """
        table = core.decide_shift(
            self.levels,
            G,
            dwell=self.dwell,
            T=T,
            worker_ids=self.worker_ids,
            worker_posts=self.worker_posts,
            Z=self.Z if Z is None else Z,
            Y=self.Y if Y is None else Y,
            params=params,
        )
        return shift_result(self.day, self.shift, table, self.true_D, self.states, self.rows)


StatesOf = Callable[[sim.Scenario, int, str, list[sim.WorkerSummary]], tuple[sim.PostState, ...]]
"""``(scenario, day, shift, the shift's worker summaries) -> post states`` (the truth)."""


def simulated_states(
    scenario: sim.Scenario, day: int, shift: str, workers: list[sim.WorkerSummary]
) -> tuple[sim.PostState, ...]:
    """The simulator's post states of a shift change (a scenario's truth)."""
    return sim.simulate_post_states(scenario, day=day, shift=shift, workers=workers)


def line_shifts(
    scenario: sim.Scenario,
    post_shifts: dict[tuple[int, str], dict[int, PostShift]],
    *,
    levels_of: Callable[[sim.Scenario, int, str, tuple[sim.PostState, ...]], np.ndarray],
    states_of: StatesOf = simulated_states,
    days: Iterable[int] | None = None,
) -> list[LineShift]:
    """Every evaluated shift (or every shift of ``days``) assembled from its posts' results,
    in (day, shift) order.

    Args:
        post_shifts: per (day, shift), per post, the scoring result.
        levels_of: the levels the model sees for a shift's post states (the grading).
        states_of: the post states (the simulator's; a records folder's from its labels).
    """
    out = []
    for day in scenario.evaluate_days if days is None else days:
        for shift in scenario.shift_names:
            by_post = post_shifts[(day, shift)]
            ordered = [by_post[p] for p in range(1, scenario.n_posts + 1)]
            summaries = [s for ps in ordered for s in ps.summaries]
            states = states_of(scenario, day, shift, summaries)
            out.append(
                LineShift(
                    day=day,
                    shift=shift,
                    levels=levels_of(scenario, day, shift, states),
                    true_D=core.hazard_degree([s.true_level for s in states], scenario.G),
                    states=states,
                    rows=tuple(w for ps in ordered for w in ps.workers),
                    dwell=np.stack([ps.dwell for ps in ordered]),
                )
            )
    return out


def decide_shifts(
    scenario: sim.Scenario,
    post_shifts: dict[tuple[int, str], dict[int, PostShift]],
    params: core.ModelParams,
    *,
    levels_of: Callable[[sim.Scenario, int, str, tuple[sim.PostState, ...]], np.ndarray],
    states_of: StatesOf = simulated_states,
) -> list[ShiftResult]:
    """Line-level decisions of every evaluated shift as shift results."""
    T = scenario.shifts.length_s
    return [
        s.record(scenario.G, T, params)
        for s in line_shifts(scenario, post_shifts, levels_of=levels_of, states_of=states_of)
    ]
