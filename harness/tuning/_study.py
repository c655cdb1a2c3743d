"""The study: storage, resume, and an ask/tell loop whose trial batches run as Ray tasks.

Why ask/tell over Ray tasks rather than Ray Tune with ``OptunaSearch``: a threshold trial on
cached features takes about a millisecond, while a Ray Tune trial is an actor with its own
start-up, reporting and checkpointing (tens of milliseconds at best) — the overhead would be
most of the study. Here the driver asks a batch of trials (TPE's constant liar keeps a batch
diverse), sends them as one task per worker with the features already in the object store,
and tells the results. Only the driver talks to the storage, so any Optuna storage is safe.

Failure: a task whose worker dies is retried by Ray (``TASK_RETRIES``); if it keeps dying its
trials end FAIL with the reason, never hang. Trials left RUNNING by a driver that was
interrupted or killed are marked FAIL when the study is resumed and enqueued again with the
same parameters, so an interrupted study loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState
from tqdm import tqdm

import core
from harness._errors import HarnessError
from harness.execution import TASK_RETRIES
from harness.tuning._features import Features, ProficiencyCache, evaluate, y_key
from harness.tuning._objectives import Objective, objective_values
from harness.tuning._space import SearchSpace

JOURNAL = "optuna.journal"
"""Default storage: an Optuna journal file in the working folder (safe across processes)."""
FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)

Batch = list[tuple[int, core.ModelParams]]
Results = dict[int, "tuple[float, ...] | str"]
"""Per trial number: the objective values, or why the trial failed."""


def make_storage(url: str | None) -> str | optuna.storages.BaseStorage:
    """``url`` (any Optuna storage URL, or a ``.journal`` file path), else the default journal."""
    if url is None or url.endswith(".journal"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(Path(url or JOURNAL).resolve())))
    return url


def open_study(
    *,
    name: str,
    storage: str | optuna.storages.BaseStorage,
    objectives: Sequence[Objective],
    seed: int,
    attrs: dict[str, Any],
) -> tuple[optuna.Study, bool]:
    """Create the study ``name`` or load it to resume; returns ``(study, resumed)``.

    TPE for one objective, NSGA-II for several, both seeded. ``attrs`` (scenario, objectives,
    days) are stored on creation; resuming with different ones is refused.
    """
    try:
        resumed = name in optuna.get_all_study_names(storage)
    except Exception as exc:  # any storage back-end error: bad URL, unreachable server
        raise HarnessError(f"Optuna storage {storage!r} cannot be opened: {exc}") from exc
    sampler: optuna.samplers.BaseSampler = (
        optuna.samplers.TPESampler(seed=seed)
        if len(objectives) == 1
        else optuna.samplers.NSGAIISampler(seed=seed)
    )
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=sampler,
        directions=[o.direction for o in objectives],
        load_if_exists=True,
    )
    if resumed:
        stored = study.user_attrs.get("config")
        if stored != attrs:
            raise HarnessError(
                f"study {name!r} was made with {stored}, not {attrs}; "
                "resume it with the same scenario, objectives and hold-out days, or pick a new "
                "--study name"
            )
    else:
        study.set_user_attr("config", attrs)
    return study, resumed


def recover_stale(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a dead driver FAIL and enqueue their parameters again.

    One driver per study at a time (parallelism is on Ray), so RUNNING trials found at start
    belong to an interrupted session. Returns how many were recovered.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
    return len(stale)


@dataclass(frozen=True)
class OptimizeStats:
    """Where the time of a session's trials went."""

    trials: int
    """Trials finished in this session."""
    seconds: float
    """Wall time of the loop."""
    optuna_seconds: float
    """Time in Optuna (ask, tell, sampling, storage)."""

    @property
    def trials_per_s(self) -> float:
        """Trials per second of wall time."""
        return self.trials / self.seconds if self.seconds else float("nan")

    @property
    def optuna_fraction(self) -> float:
        """Optuna's share of the wall time."""
        return self.optuna_seconds / self.seconds if self.seconds else float("nan")


def optimize(
    study: optuna.Study,
    *,
    space: SearchSpace,
    evaluate_batch: Callable[[Batch], Results],
    n_trials: int,
    batch_size: int,
    progress: bool = False,
) -> OptimizeStats:
    """Run trials until the study holds ``n_trials`` finished ones (resume-friendly)."""
    distributions = space.distributions()
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    optuna_s = 0.0
    started = time.perf_counter()
    session = 0
    with tqdm(total=max(0, n_trials - done), desc="trials", disable=not progress) as bar:
        while done < n_trials:
            t0 = time.perf_counter()
            asked = [study.ask(distributions) for _ in range(min(batch_size, n_trials - done))]
            batch, invalid = [], {}
            for t in asked:
                try:
                    batch.append((t.number, space.params(t.params)))
                except core.ModelInputError as exc:  # an enqueued trial with bad values
                    invalid[t.number] = str(exc)
            t1 = time.perf_counter()
            results = {**evaluate_batch(batch), **invalid} if batch else invalid
            t2 = time.perf_counter()
            for t in asked:
                outcome = results.get(t.number, "no result")
                if isinstance(outcome, tuple) and all(np.isfinite(outcome)):
                    study.tell(t, list(outcome))
                else:
                    t.set_user_attr("fail_reason", str(outcome))
                    study.tell(t, state=TrialState.FAIL)
            optuna_s += (t1 - t0) + (time.perf_counter() - t2)
            done += len(asked)
            session += len(asked)
            bar.update(len(asked))
    return OptimizeStats(session, time.perf_counter() - started, optuna_s)


def evaluate_trials(
    features: Features,
    batch: Batch,
    ys: dict[tuple[float, float], np.ndarray],
    objectives: Sequence[Objective],
) -> Results:
    """Task: the objective values of a batch of trials on the cached features."""
    out: Results = {}
    for number, params in batch:
        try:
            out[number] = objective_values(
                objectives, evaluate(features, params, ys[y_key(params)])
            )
        except (core.ModelInputError, KeyError, ValueError) as exc:
            out[number] = f"{type(exc).__name__}: {exc}"
    return out


class RayEvaluator:
    """Evaluates trial batches as Ray tasks, one per worker, on features in the object store.

    Args:
        features: the shifts trials are scored on.
        rows: their rows in ``cache``'s Y tables.
        cache: Y per ``(rho_min, eps)``.
        objectives: what a trial returns.
        workers: tasks per batch.
        task: the batch function (a module-level function, or a closure for tests).
    """

    def __init__(
        self,
        *,
        features: Features,
        rows: np.ndarray,
        cache: ProficiencyCache,
        objectives: Sequence[Objective],
        workers: int,
        task: Callable[..., Results] = evaluate_trials,
    ) -> None:
        import ray

        self._features = ray.put(features)
        self._rows = rows
        self._cache = cache
        self._objectives = tuple(objectives)
        self._workers = workers
        self._task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False)(task)

    def __call__(self, batch: Batch) -> Results:
        import ray

        try:
            ys = self._cache.get(y_key(p) for _, p in batch)
        except ray.exceptions.RayError as exc:
            return {number: f"Y rescoring failed: {exc}" for number, _ in batch}
        chunks = [c for c in (batch[k :: self._workers] for k in range(self._workers)) if c]
        refs = []
        for chunk in chunks:
            keys = {y_key(p) for _, p in chunk}
            chunk_ys = {k: ys[k][self._rows] for k in keys}
            refs.append(self._task.remote(self._features, chunk, chunk_ys, self._objectives))
        out: Results = {}
        for ref, chunk in zip(refs, chunks, strict=True):
            try:
                out.update(ray.get(ref))
            except ray.exceptions.RayError as exc:
                reason = f"{type(exc).__name__} after {TASK_RETRIES} retries: {exc}"
                out.update({number: reason[:500] for number, _ in chunk})
        return out
