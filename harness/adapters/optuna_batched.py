"""Optuna pieces that work a batch of trials at once: a journal file written once per batch,
and a TPE sampler fitted once per batch. Part of the Optuna adapter
(:mod:`harness.adapters.optuna_studies`).

A threshold trial on cached features takes well under a millisecond; asked and told one by
one, Optuna's own costs would be most of a study: an ``fsync`` of the journal per parameter
and per tell (about 1 ms each), and a TPE fit over every past trial per ask (10–30 ms at a
few hundred trials). So:

- :class:`BatchedJournal` holds the journal file's lock for a batch (no other process can
  append meanwhile, so the order of the log stays one), keeps the batch's appends in memory
  (reads see them), and writes them with one ``fsync`` when the batch ends — also when it
  ends by an exception, so what the study saw is what the file holds.
- :class:`BatchTPESampler` fits TPE's two Parzen estimators once per batch (the completed
  trials do not change within it) and hands out the batch's best candidates by the
  acquisition function, one per ask: the batch gets ``batch_size`` distinct points, as the
  constant liar would give, for one fit instead of ``batch_size``.

The sampler uses TPE's internals (Optuna 5.0: ``_split_trials``, ``_build_parzen_estimator``,
``_compute_acquisition_func``); ``pyproject.toml`` pins the minor version.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers._tpe.sampler import _split_trials, default_gamma
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend, JournalFileSymlinkLock
from optuna.trial import FrozenTrial, TrialState


class BatchedJournal(BaseJournalBackend):
    """An Optuna journal file whose appends inside :meth:`batch` are written once, at its end.

    Outside a batch it is the plain journal file (each append locked and synced).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = JournalFileSymlinkLock(path)
        self._file = JournalFileBackend(path, lock_obj=self._lock)
        self._pending: list[dict[str, Any]] | None = None
        self._file_logs = 0

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        if self._pending is None:
            yield from self._file.read_logs(log_number_from)
            return
        if log_number_from < self._file_logs:
            yield from self._file.read_logs(log_number_from)
        yield from self._pending[max(0, log_number_from - self._file_logs) :]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self._pending is None:
            self._file.append_logs(logs)
        else:
            self._pending.extend(logs)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the file's lock; keep appends in memory; write them with one sync at the end."""
        if self._pending is not None:  # nested: the outer batch writes
            yield
            return
        self._lock.acquire()
        try:
            self._file_logs += sum(1 for _ in self._file.read_logs(self._file_logs))
            self._pending = []
            try:
                yield
            finally:
                pending, self._pending = self._pending, None
                if pending:
                    text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in pending)
                    with open(self._path, "ab") as f:
                        f.write(text.encode("utf-8"))
                        f.flush()
                        os.fsync(f.fileno())
                    self._file_logs += len(pending)
        finally:
            self._lock.release()


class BatchTPESampler(optuna.samplers.TPESampler):
    """TPE for one objective, fitted once per batch of ``batch_size`` asks (see the module doc).

    Args:
        batch_size: asks between two tells (the candidates handed out per fit).
        seed: the sampler's seed.
    """

    def __init__(self, *, batch_size: int, seed: int) -> None:
        super().__init__(seed=seed, constant_liar=False)
        self._batch_size = max(1, int(batch_size))
        self._queues: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        trials = study._get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED), use_cache=True
        )
        key = (tuple(search_space), len(trials))
        if not self._queues.get(key):
            self._queues = {k: q for k, q in self._queues.items() if k[1] == len(trials) and q}
            self._queues[key] = self._fit_batch(study, trials, search_space)
        return self._queues[key].pop(0)

    def _fit_batch(
        self,
        study: optuna.Study,
        trials: Sequence[FrozenTrial],
        search_space: dict[str, BaseDistribution],
    ) -> list[dict[str, Any]]:
        """The batch's points: the best of ``n_ei_candidates + 4 × batch_size`` candidates."""
        below, above = _split_trials(
            study, list(trials), (self._gamma or default_gamma)(len(trials))
        )
        mpe_below = self._build_parzen_estimator(study, search_space, below, handle_below=True)
        mpe_above = self._build_parzen_estimator(study, search_space, above, handle_below=False)
        samples = mpe_below.sample(self._rng.rng, self._n_ei_candidates + 4 * self._batch_size)
        acquisition = self._compute_acquisition_func(samples, mpe_below, mpe_above)
        best = np.argsort(-acquisition, kind="stable")[: self._batch_size]
        return [
            {
                name: dist.to_external_repr(samples[name][k].item())
                for name, dist in search_space.items()
            }
            for k in best
        ]
