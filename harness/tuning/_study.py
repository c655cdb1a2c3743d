"""Evaluating trial batches as Ray tasks on cached features.

Why ask/tell over Ray tasks rather than Ray Tune with ``OptunaSearch``: a threshold trial on
cached features takes about a millisecond, while a Ray Tune trial is an actor with its own
start-up, reporting and checkpointing (tens of milliseconds at best) — the overhead would be
most of the study. The driver asks a batch of trials (:func:`harness.studies.optimize`; TPE's
constant liar keeps a batch diverse), sends them as one task per worker with the features
already in the object store, and tells the results. Only the driver talks to the storage.

Failure: a task whose worker dies is retried by Ray; if it keeps dying its trials end FAIL
with the reason, never hang.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import core
from harness.execution import TaskFailed, gather, put, submit
from harness.tuning._features import Features, ScoreCache, Scores, evaluate, pick, score_key
from harness.tuning._objectives import Objective, objective_values
from harness.tuning._space import SearchSpace

Batch = list[tuple[int, core.ModelParams]]
Results = dict[int, "tuple[float, ...] | str"]
"""Per trial number: the objective values, or why the trial failed."""


def evaluate_trials(
    features: Features,
    batch: Batch,
    scores: dict[tuple, Scores],
    objectives: Sequence[Objective],
) -> Results:
    """Task: the objective values of a batch of trials on the cached features."""
    out: Results = {}
    for number, params in batch:
        try:
            out[number] = objective_values(
                objectives, evaluate(features, params, scores[score_key(params)])
            )
        except (core.ModelInputError, KeyError, ValueError) as exc:
            out[number] = f"{type(exc).__name__}: {exc}"
    return out


class RayEvaluator:
    """Evaluates trial batches as Ray tasks, one per worker, on features in the object store.

    Args:
        space: turns a trial's parameter values into model parameters.
        features: the shifts trials are scored on.
        rows: their rows in ``cache``'s scores.
        cache: Z and Y per score key.
        objectives: what a trial returns.
        workers: tasks per batch.
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
        task: Callable[..., Results] = evaluate_trials,
    ) -> None:
        self._space = space
        self._features = put(features)
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
        chunks = [c for c in (batch[k :: self._workers] for k in range(self._workers)) if c]
        refs = []
        for chunk in chunks:
            keys = {score_key(p) for _, p in chunk}
            chunk_scores = {k: pick(found[k], self._rows) for k in keys}
            refs.append(submit(self._task, self._features, chunk, chunk_scores, self._objectives))
        for ref, chunk in zip(refs, chunks, strict=True):
            try:
                (result,) = gather([ref])
                out.update(result)
            except TaskFailed as exc:
                out.update({number: str(exc)[:500] for number, _ in chunk})
        return out
