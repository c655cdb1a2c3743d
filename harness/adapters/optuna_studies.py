"""Optuna adapter: the one study factory, the ask/tell loop, the sequential loop of a pruned
study, and what the rest of the harness reads of a study (storage and the one-driver rule:
:mod:`harness.adapters.optuna_storage`).

Trials are asked in batches, evaluated by the caller (on Ray) and told back; the journal is
recorded after every batch (:meth:`harness.adapters.optuna_storage.StudyStore.record`).
Outside the adapters a study is an opaque handle (:data:`Study`) passed back to these
functions, and its trials are :class:`TrialRow`s: no Optuna method or attribute is used there
(``tests/test_layers.py`` checks).
"""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from harness.adapters.optuna_batched import BatchTPESampler
from harness.adapters.optuna_storage import StudyStore, study_names
from harness.runtime import interrupts
from harness.runtime.errors import HarnessError
from harness.runtime.progress import progress_bar
from harness.runtime.storage import Location

COMPLETE, FAIL, PRUNED, RUNNING = "COMPLETE", "FAIL", "PRUNED", "RUNNING"
"""Trial states by name (:attr:`TrialRow.state`; Optuna's ``TrialState`` names)."""
FINISHED = (COMPLETE, FAIL, PRUNED)
Study = optuna.Study
"""A study: outside the adapters an opaque handle, passed back to this module's functions."""

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial is noise here
optuna.logging.disable_default_handler()
optuna.logging.enable_propagation()  # its warnings go where harness.runtime.logs sends them


def create_study(
    *,
    name: str,
    store: StudyStore,
    directions: Sequence[str],
    seed: int,
    metric_names: Sequence[str] | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    batch_size: int = 1,
) -> tuple[optuna.Study, bool]:
    """The one study factory: create ``name`` or load it to resume; ``(study, resumed)``.

    TPE for one objective (fitted once per batch of ``batch_size`` asks:
    :class:`harness.adapters.optuna_batched.BatchTPESampler`), NSGA-II for several, both seeded;
    ``metric_names`` name the objectives for Optuna's tools (optuna-dashboard shows them
    instead of "Objective 0").
    """
    resumed = name in study_names(store)
    sampler: optuna.samplers.BaseSampler = (
        BatchTPESampler(batch_size=batch_size, seed=seed)
        if len(directions) == 1
        else optuna.samplers.NSGAIISampler(seed=seed)
    )
    study = optuna.create_study(
        storage=store.storage,
        study_name=name,
        sampler=sampler,
        pruner=pruner,
        directions=list(directions),
        load_if_exists=True,
    )
    if metric_names is not None and not resumed:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks set_metric_names experimental
            study.set_metric_names(list(metric_names))
    return study, resumed


def float_range(low: float, high: float, *, step: float | None = None, log: bool = False) -> Any:
    """A search-space dimension: a float in ``[low, high]`` (on a grid of ``step``; sampled
    log-uniformly with ``log``)."""
    return optuna.distributions.FloatDistribution(low, high, step=step, log=log)


def int_range(low: int, high: int, *, step: int = 1) -> Any:
    """A search-space dimension: an integer in ``[low, high]`` on a grid of ``step``."""
    return optuna.distributions.IntDistribution(low, high, step=step)


def categorical(choices: Sequence[Any]) -> Any:
    """A search-space dimension: one of ``choices``."""
    return optuna.distributions.CategoricalDistribution(tuple(choices))


@dataclass(frozen=True)
class Running:
    """A running trial as the objective of :func:`optimize_sequential` sees it."""

    number: int
    """The trial's number in its study."""
    params: dict[str, Any]
    """The sampled parameters, in the order of the search space."""
    _trial: optuna.Trial

    def report(self, value: float, step: int) -> None:
        """Report an intermediate ``value`` at ``step``; end the trial PRUNED (by raising
        Optuna's ``TrialPruned``) when the study's pruner says so."""
        self._trial.report(value, step)
        if self._trial.should_prune():
            raise optuna.TrialPruned()


def _suggest(trial: optuna.Trial, name: str, distribution: Any) -> Any:
    """``trial``'s value of ``name`` drawn from ``distribution`` (as ``suggest_*`` draw it)."""
    d = distribution
    if isinstance(d, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)
    if isinstance(d, optuna.distributions.IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)


def optimize_sequential(
    study: optuna.Study,
    objective: Callable[[Running], float],
    *,
    distributions: Mapping[str, Any],
    n_trials: int,
) -> None:
    """Run ``n_trials`` trials one after another, each sampled from ``distributions`` and
    scored by ``objective`` (which may prune it through :meth:`Running.report`): Optuna's own
    loop, for a study whose trials must run in order (a pruned study's)."""

    def run(trial: optuna.Trial) -> float:
        params = {name: _suggest(trial, name, d) for name, d in distributions.items()}
        return objective(Running(trial.number, params, trial))

    study.optimize(run, n_trials=n_trials)


def median_pruner(*, startup_trials: int, warmup_steps: int) -> optuna.pruners.BasePruner:
    """Prune a trial below the median of earlier trials at the same step."""
    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_steps)


@dataclass(frozen=True)
class TrialRow:
    """A trial as plain data, read from the study (Optuna's ``FrozenTrial`` stays here)."""

    number: int
    """The trial's number in its study."""
    state: str
    """:data:`COMPLETE`, :data:`FAIL`, :data:`PRUNED`, :data:`RUNNING` or ``WAITING``."""
    values: tuple[float, ...]
    """Objective values (empty unless COMPLETE)."""
    params: dict[str, Any]
    """Parameter name → value."""
    attrs: dict[str, Any]
    """User attributes."""


def _row(trial: FrozenTrial) -> TrialRow:
    return TrialRow(
        number=trial.number,
        state=trial.state.name,
        values=tuple(trial.values or ()),
        params=dict(trial.params),
        attrs=dict(trial.user_attrs),
    )


def _frozen(study: optuna.Study, states: Sequence[str]) -> list[FrozenTrial]:
    """The study's trials in ``states`` (every trial when none is given)."""
    wanted = tuple(TrialState[s] for s in states) if states else None
    return study.get_trials(deepcopy=False, states=wanted)


def trials(study: optuna.Study, *states: str) -> list[TrialRow]:
    """The study's trials in ``states`` (every trial when none is given), by number."""
    return [_row(t) for t in _frozen(study, states)]


def count(study: optuna.Study, *states: str) -> int:
    """How many trials ``study`` holds in ``states`` (all of them when none is given)."""
    return len(_frozen(study, states))


def best_trial(study: optuna.Study) -> TrialRow:
    """Optuna's best trial of a one-objective study (a mark of a recommendation included)."""
    return _row(study.best_trial)


def pareto_front(study: optuna.Study) -> list[TrialRow]:
    """Optuna's best trials of a study of several objectives (its Pareto front), less the
    marks of recommendations (:data:`MARK`)."""
    return [_row(t) for t in study.best_trials if MARK not in t.user_attrs]


def name_of(study: optuna.Study) -> str:
    """The study's name."""
    return study.study_name


def study_attrs(study: optuna.Study) -> dict[str, Any]:
    """The study's user attributes."""
    return dict(study.user_attrs)


def set_study_attr(study: optuna.Study, key: str, value: Any) -> None:
    """Store ``value`` as the study's user attribute ``key``."""
    study.set_user_attr(key, value)


def enqueue(study: optuna.Study, params: Mapping[str, Any], *, attrs: Mapping[str, Any]) -> None:
    """Make ``params`` the next trial asked, with user attributes ``attrs``; values off their
    range or grid are enqueued as given (warnings on enqueueing silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.enqueue_trial(dict(params), user_attrs=dict(attrs))


def recover_stale(study: optuna.Study) -> int:
    """Fail the trials a dead driver left RUNNING and enqueue their parameters again.

    Call only while holding the study (:func:`harness.adapters.optuna_storage.exclusive`):
    the RUNNING trials found then belong to an interrupted session. Returns how many were
    recovered.
    """
    stale = _frozen(study, (RUNNING,))
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
    return len(stale)


@dataclass(frozen=True)
class OptimizeStats:
    """Where the time of a session's trials went."""

    trials: int
    """Trials finished in this session (complete or failed)."""
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


@dataclass(frozen=True)
class Scored:
    """A trial's objective values, the user attributes to store with them, and parameters the
    evaluation set that the sampler did not ask (e.g. the thresholds a sweep chose): name →
    ``(value, distribution)``, stored as the trial's params so Optuna's tools show them."""

    values: tuple[float, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, tuple[Any, Any]] = field(default_factory=dict)


MARK = "recommended"
"""User attribute of the trial that repeats the parameters ``tune`` recommends (:func:`mark`);
such trials are not counted as the study's trials."""


def set_params(trial: optuna.Trial, params: Mapping[str, tuple[Any, Any]]) -> None:
    """Store ``name → (value, distribution)`` as params of a running ``trial`` that its sampler
    did not ask for. Optuna has no public call for it: this writes through the trial's storage
    (``set_trial_param``, as ``Trial.suggest_*`` does)."""
    for name, (value, distribution) in params.items():
        trial.storage.set_trial_param(
            trial._trial_id, name, distribution.to_internal_repr(value), distribution
        )


def complete(study: optuna.Study) -> list[TrialRow]:
    """The study's COMPLETE trials, less the marks of recommendations (:data:`MARK`)."""
    return [t for t in trials(study, COMPLETE) if MARK not in t.attrs]


def mark(
    study: optuna.Study,
    *,
    params: Mapping[str, tuple[Any, Any]],
    values: Sequence[float],
    attrs: Mapping[str, Any],
) -> int:
    """Add a COMPLETE trial that repeats a recommendation — ``params`` as ``name → (value,
    distribution)`` — with its ``values``, marked with user attribute :data:`MARK` and
    ``attrs`` (Optuna cannot change a finished trial); returns its number.

    A value outside its distribution (a start off a range or its grid) is stored with the
    range widened to hold it, without the grid."""
    study.add_trial(
        optuna.trial.create_trial(
            params={name: value for name, (value, _) in params.items()},
            distributions={name: _holding(d, v) for name, (v, d) in params.items()},
            values=list(values),
            user_attrs={MARK: True, **attrs},
        )
    )
    return study.get_trials(deepcopy=False)[-1].number


def _holding(distribution: Any, value: Any) -> Any:
    """``distribution``, or the same kind widened to hold ``value`` (off its grid: none)."""
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        if value in distribution.choices:
            return distribution
        raise HarnessError(f"{value!r} is not one of {list(distribution.choices)}")
    low, high, step = distribution.low, distribution.high, distribution.step
    on_grid = step is None or abs((value - low) / step - round((value - low) / step)) < 1e-8
    if low <= value <= high and on_grid:
        return distribution
    kind = type(distribution)
    return kind(min(low, value), max(high, value), log=distribution.log)


def optimize(
    study: optuna.Study,
    *,
    distributions: Mapping[str, Any],
    evaluate_batch: Callable[[list[tuple[int, dict[str, Any]]]], dict[int, Any]],
    n_complete: int,
    batch_size: int,
    on_batch: Callable[[list[TrialRow]], None] | None = None,
    progress: bool = False,
    max_failures: int | None = None,
    store: StudyStore | None = None,
) -> OptimizeStats:
    """Ask/tell until ``study`` holds ``n_complete`` COMPLETE trials (resume-friendly).

    Args:
        distributions: the search space (``study.ask``'s fixed distributions).
        evaluate_batch: given the asked trials' ``(number, params)``, trial number → its
            objective values (a tuple, or :class:`Scored` with attributes) or why it failed
            (a str).
        on_batch: called with each batch's finished trials right after they are told (e.g. to
            log them to MLflow), so an interrupted session loses none.
        max_failures: stop with :class:`HarnessError` when this session has failed that many
            trials (default: ``n_complete``).
        store: the study's storage: each batch's asks and tells are written at once.
    """
    limit = n_complete if max_failures is None else max_failures
    done = len(complete(study))
    failed = session = 0
    optuna_s = 0.0
    started = time.perf_counter()
    with progress_bar(total=max(0, n_complete - done), desc="trials", enabled=progress) as bar:
        while done < n_complete:
            t0 = time.perf_counter()
            size = min(batch_size, n_complete - done)
            with store.batch() if store is not None else contextlib.nullcontext():
                asked = [study.ask(dict(distributions)) for _ in range(size)]
                t1 = time.perf_counter()
                results = evaluate_batch([(t.number, dict(t.params)) for t in asked])
                t2 = time.perf_counter()
                last_reason = ""
                for t in asked:
                    outcome = results.get(t.number, "no result")
                    if isinstance(outcome, Scored):
                        for key, value in outcome.attrs.items():
                            t.set_user_attr(key, value)
                        set_params(t, outcome.params)
                        outcome = outcome.values
                    if isinstance(outcome, tuple) and all(v == v for v in outcome):
                        study.tell(t, list(outcome))
                        done += 1
                        bar.update(1)
                    else:
                        last_reason = str(outcome)
                        t.set_user_attr("fail_reason", last_reason)
                        study.tell(t, state=TrialState.FAIL)
                        failed += 1
            optuna_s += (t1 - t0) + (time.perf_counter() - t2)
            session += len(asked)
            if on_batch is not None:
                numbers = {t.number for t in asked}
                on_batch([_row(t) for t in _frozen(study, ()) if t.number in numbers])
            interrupts.checkpoint("trials")
            if failed >= limit:
                raise HarnessError(
                    f"{failed} trials of study {study.study_name!r} failed this session (last: "
                    f"{last_reason[:300]}); see their fail_reason"
                )
    return OptimizeStats(session, time.perf_counter() - started, optuna_s)


def trial_rows(study: optuna.Study, objectives: Sequence[str]) -> list[dict[str, Any]]:
    """The study's trials as plain rows: ``number``, ``state``, ``values`` (objective →
    value), ``params`` (with the thresholds a sweep set, user attribute ``swept``), ``start``,
    ``retry_of``, ``fail_reason`` (see :func:`harness.outputs.tables.trials_table`)."""
    rows = []
    for t in trials(study):
        attrs = t.attrs
        rows.append({
            "number": t.number,
            "state": t.state,
            "values": dict(zip(objectives, t.values, strict=False)),
            "params": {**t.params, **attrs.get("swept", {})},
            "start": bool(attrs.get("start", False)),
            "retry_of": attrs.get("retry_of"),
            "fail_reason": attrs.get("fail_reason"),
        })  # fmt: skip
    return rows


def save_plots(
    study: optuna.Study, folder: Path | Location, objectives: Sequence[str]
) -> list[str]:
    """Optimisation history (and Pareto front) and parameter importances as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    first = objectives[0]
    target = None if len(objectives) == 1 else (lambda t: t.values[0])
    plots: dict[str, Callable[[], Any]] = {
        "optimization_history.png": lambda: vis.plot_optimization_history(
            study, target=target, target_name=first
        ),
        "param_importances.png": lambda: vis.plot_param_importances(
            study, target=target, target_name=first
        ),
    }
    if len(objectives) > 1:
        plots["pareto_front.png"] = lambda: vis.plot_pareto_front(
            study, target_names=list(objectives)
        )
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        for name, plot in plots.items():
            try:
                ax = plot()
            except (ValueError, RuntimeError):  # e.g. importances need >= 2 distinct trials
                continue
            png = io.BytesIO()
            ax.figure.savefig(png, format="png", dpi=90, bbox_inches="tight")
            (folder / name).write_bytes(png.getvalue())
            plt.close(ax.figure)
            written.append(name)
    return written
