"""Evaluating trial batches as Ray tasks on cached features.

Why ask/tell over Ray tasks rather than Ray Tune with ``OptunaSearch``: a threshold trial on
cached features takes about a millisecond, while a Ray Tune trial is an actor with its own
start-up, reporting and checkpointing (tens of milliseconds at best) — the overhead would be
most of the study. The driver asks a batch of trials
(:func:`harness.adapters.optuna_studies.optimize`; TPE's
constant liar keeps a batch diverse), sends them as one task per worker with the features
already in the object store, and tells the results. Only the driver talks to the storage.

Swept trials (:mod:`harness.tuning._sweep`) run in the driver: one costs about 0.5 ms on the
8-post, 14-day line, while a Ray round trip of a batch cost 50–100 ms on a loaded 2-core
machine (``bench_tune.py``). Rescoring Z and Y for new keys stays on Ray.

Failure: a task whose worker dies is retried by Ray; if it keeps dying its trials end FAIL
with the reason, never hang.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import core
from harness.adapters.optuna_studies import Scored
from harness.adapters.ray_cluster import TaskFailed, gather, put, submit
from harness.tuning._features import Features, ScoreCache, Scores, pick, score_key, trial_metrics
from harness.tuning._objectives import Objective, objective_values
from harness.tuning._space import SearchSpace
from harness.tuning._sweep import Stacked, SweepPlan, sweep

Batch = list[tuple[int, core.ModelParams]]
Results = dict[int, "tuple[float, ...] | Scored | str"]
"""Per trial number: the objective values (with the swept thresholds), or why it failed."""


def evaluate_trials(
    features: Features | Stacked,
    batch: Batch,
    scores: dict[tuple, Any],
    objectives: Sequence[Objective],
    plan: SweepPlan | None = None,
) -> Results:
    """Task: the objective values of a batch of trials on the cached features.

    Without a sweep ``plan``: on :class:`Features` with per-shift ``scores``. With one: on
    their :class:`Stacked` arrays with flat ``(Z, Y)`` per key, each trial's best value over
    the swept thresholds, and the thresholds.
    """
    out: Results = {}
    for number, params in batch:
        key = score_key(params)
        try:
            if plan is None or not isinstance(features, Stacked):
                out[number] = objective_values(
                    objectives, trial_metrics(features, params, scores[key])
                )
                continue
            found = sweep(features, params, *scores[key], plan)
            out[number] = Scored(
                (found.value,), {"swept": found.thresholds},
                {n: (v, plan.distribution(n)) for n, v in found.thresholds.items()},
            )  # fmt: skip
        except (core.ModelInputError, KeyError, ValueError) as exc:
            out[number] = f"{type(exc).__name__}: {exc}"
    return out


def _flat(scores: Scores) -> tuple[np.ndarray, np.ndarray]:
    """Z and Y of every cached worker-shift, in shift then row order."""
    if not scores:
        return np.zeros(0), np.zeros(0)
    return np.concatenate([z for z, _ in scores]), np.concatenate([y for _, y in scores])


class RayEvaluator:
    """Evaluates trial batches as Ray tasks, one per worker, on features in the object store.

    Args:
        space: turns a trial's parameter values into model parameters.
        features: the shifts trials are scored on.
        rows: their rows in ``cache``'s scores.
        cache: Z and Y per score key.
        objectives: what a trial returns.
        workers: tasks per batch.
        plan: the thresholds each trial sweeps (None: the sampler sets them).
        task: the batch function (a module-level function, or a closure for tests).
    """

    def __init__(
        self,
        *,
        space: SearchSpace,
        features: Features,
        rows: np.ndarray,
        cache: ScoreCache,
        objectives: Sequence[Objective],
        workers: int,
        plan: SweepPlan | None = None,
        task: Callable[..., Results] = evaluate_trials,
    ) -> None:
        self._plan = plan
        self._space = space
        self._stacked = features.stacked if plan else None
        self._features = None if plan else put(features)
        self._flat: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._rows = rows
        self._cache = cache
        self._objectives = tuple(objectives)
        self._workers = workers
        self._task = task

    def __call__(self, asked: list[tuple[int, dict[str, Any]]]) -> Results:
        out: Results = {}
        batch: Batch = []
        for number, values in asked:
            try:
                batch.append((number, self._space.params(values)))
            except core.ModelInputError as exc:  # an enqueued trial with bad values
                out[number] = str(exc)
        if not batch:
            return out
        try:
            found = self._cache.get(score_key(p) for _, p in batch)
        except TaskFailed as exc:
            return {**out, **{number: f"rescoring Z and Y failed: {exc}" for number, _ in batch}}
        if self._stacked is not None:  # a sweep is cheaper than a Ray round trip: here
            scores = {k: self._scores(k, found[k]) for k in {score_key(p) for _, p in batch}}
            return {**out, **self._task(self._stacked, batch, scores, self._objectives, self._plan)}
        chunks = [c for c in (batch[k :: self._workers] for k in range(self._workers)) if c]
        refs = []
        for chunk in chunks:
            keys = {score_key(p) for _, p in chunk}
            chunk_scores = {k: self._scores(k, found[k]) for k in keys}
            refs.append(
                submit(
                    self._task, self._features, chunk, chunk_scores, self._objectives, self._plan
                )
            )
        for ref, chunk in zip(refs, chunks, strict=True):
            try:
                (result,) = gather([ref])
                out.update(result)
            except TaskFailed as exc:
                out.update({number: str(exc)[:500] for number, _ in chunk})
        return out

    def _scores(self, key: tuple, scores: Scores) -> Any:
        """A key's scores as a task reads them: per shift, or flat for a sweep (kept)."""
        if self._plan is None:
            return pick(scores, self._rows)
        if key not in self._flat:
            self._flat[key] = _flat(pick(scores, self._rows))
        return self._flat[key]
