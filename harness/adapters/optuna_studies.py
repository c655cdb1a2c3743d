"""Optuna adapter: storages, the one study factory, a guarded journal and the ask/tell loop.

**Storage.** The default is an Optuna journal file (``optuna.journal`` in the working folder);
any Optuna storage URL works too (``sqlite:///optuna.db``, a shared RDB).

**One driver per study.** A study is driven by one ``tune`` process at a time (parallelism is
on Ray): a second driver on the same journal file is refused with one line naming the first
(an exclusive ``flock`` of the journal file itself, so a hard link or another path to it is
the same journal; the holder is written in ``<journal>.driver``); on an RDB the study holds a
lease (host, pid, heartbeat) that a second driver respects while it is fresh. Trials a dead
driver left RUNNING are failed and enqueued again when the study is resumed.

**A guarded journal.** After every batch the driver records the journal's size and the
SHA-256 of its content in ``<journal>.sum``, and whether a driver is still at work on it.
Opening the journal verifies it: lost records (a deleted line, an emptied file), changed
bytes, an incomplete line, or records past the recorded size when no driver was at work (a
trial appended by something else) are reported in one line naming the file and how to
recover, never used silently (a trial that silently lost a parameter, a study that silently
restarts). Records past the size that a killed driver left (its last batch) are kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from harness.adapters.optuna_batched import BatchedJournal, BatchTPESampler
from harness.runtime import interrupts
from harness.runtime.errors import HarnessError
from harness.runtime.progress import progress_bar

JOURNAL = "optuna.journal"
"""Default storage: an Optuna journal file in the working folder."""
COMPLETE, FAIL, PRUNED, RUNNING = (
    TrialState.COMPLETE,
    TrialState.FAIL,
    TrialState.PRUNED,
    TrialState.RUNNING,
)
FINISHED = (COMPLETE, FAIL, PRUNED)
Pruned = optuna.TrialPruned
"""Raise from an objective to prune its trial."""
Study = optuna.Study
LEASE_S = 120.0
"""An RDB study's driver lease is fresh for this long after its last heartbeat."""

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial is noise here
optuna.logging.disable_default_handler()
optuna.logging.enable_propagation()  # its warnings go where harness.runtime.logs sends them


class JournalGuard:
    """Integrity record of a journal file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sum_path = path.with_name(path.name + ".sum")
        self.driving = False
        """Set while this process drives the journal (:func:`exclusive`)."""

    def _recovery(self) -> str:
        return (
            f"restore {self.path} from a backup, or start afresh with another --study and "
            f"--storage (delete {self.sum_path} only if you accept the journal as it is)"
        )

    def verify(self) -> None:
        """Raise :class:`HarnessError` unless the journal holds what was recorded, intact."""
        recorded = json.loads(self.sum_path.read_text()) if self.sum_path.is_file() else None
        data = self.path.read_bytes() if self.path.is_file() else b""
        if recorded is not None:
            size = int(recorded["size"])
            if len(data) < size:
                raise HarnessError(
                    f"Optuna journal {self.path} lost records: {size} bytes were written, "
                    f"{len(data)} remain: {self._recovery()}"
                )
            if hashlib.sha256(data[:size]).hexdigest() != recorded["sha256"]:
                raise HarnessError(
                    f"Optuna journal {self.path} was changed or damaged (its first {size} bytes "
                    f"no longer match {self.sum_path.name}): {self._recovery()}"
                )
        for number, line in enumerate(data.splitlines(keepends=True), start=1):
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("no line end")
                json.loads(line)
            except (ValueError, UnicodeDecodeError):
                raise HarnessError(
                    f"Optuna journal {self.path} line {number} is incomplete or garbled (a crash "
                    f"while writing?): remove that line if it is the last, else "
                    f"{self._recovery()}"
                ) from None
        if recorded is not None and recorded.get("driver", "") is None:
            size = int(recorded["size"])
            if len(data) > size:
                raise HarnessError(
                    f"Optuna journal {self.path} holds {len(data) - size} bytes past the "
                    f"{size} its last driver recorded when it closed the study: records "
                    f"appended by something else are not used; {self._recovery()}"
                )

    def record(self) -> None:
        """Record the journal's current size and hash (atomically)."""
        data = self.path.read_bytes() if self.path.is_file() else b""
        tmp = self.sum_path.with_name(self.sum_path.name + f".{os.getpid()}.tmp")
        driver = _me() if self.driving else None
        tmp.write_text(json.dumps({"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                   "driver": driver}))  # fmt: skip
        os.replace(tmp, self.sum_path)


@dataclass(frozen=True)
class StudyStore:
    """An opened storage: what Optuna takes, its description, and the journal's guard."""

    storage: Any
    """An Optuna storage object or URL."""
    description: str
    """The journal path or URL, for messages."""
    guard: JournalGuard | None = None
    """Set for journal files."""

    def record(self) -> None:
        """Update the journal's integrity record (no-op for RDB storages)."""
        if self.guard is not None:
            self.guard.record()

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """A batch of asks and tells written at once (a journal file; else no-op)."""
        backend = getattr(self.storage, "_backend", None)
        if isinstance(backend, BatchedJournal):
            return backend.batch()
        return contextlib.nullcontext()


def open_storage(url: str | os.PathLike[str] | None) -> StudyStore:
    """Open ``url`` (an Optuna URL or a ``.journal`` path; default :data:`JOURNAL`), verified.

    Raises:
        HarnessError: a damaged journal, or a storage that cannot be opened.
    """
    text = str(url) if url is not None else JOURNAL
    if "://" not in text:
        from optuna.storages.journal import JournalStorage

        path = Path(text).resolve()
        if path.is_dir():
            raise HarnessError(f"--storage {text!r} is a folder; expected a .journal file")
        if path.exists() and not path.is_file():
            raise HarnessError(f"--storage {text!r} is not a regular file (a device or FIFO); "
                               "expected a .journal file")  # fmt: skip
        guard = JournalGuard(path)
        guard.verify()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            storage = JournalStorage(BatchedJournal(str(path)))
        except (OSError, ValueError) as exc:
            raise HarnessError(f"Optuna journal {str(path)!r} cannot be opened: {exc}") from None
        return StudyStore(storage, str(path), guard)
    try:
        storage = optuna.storages.get_storage(text)
    except Exception as exc:  # any back-end error: bad URL, unreachable server, driver missing
        raise HarnessError(f"Optuna storage {text!r} cannot be opened: {exc}") from None
    return StudyStore(storage, text)


def study_names(store: StudyStore) -> list[str]:
    """Names of the studies in ``store``."""
    return list(optuna.get_all_study_names(store.storage))


@contextlib.contextmanager
def exclusive(store: StudyStore, study: str) -> Iterator[None]:
    """Hold ``study`` for this driver alone (see the module docstring); refuse if held."""
    guard = store.guard
    if guard is not None:
        holder_path = guard.path.with_name(guard.path.name + ".driver")
        with open(guard.path, "ab") as journal, open(holder_path, "a+") as holder:
            try:  # the journal file itself, whatever the path (a hard link is the same file)
                fcntl.flock(journal, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder.seek(0)
                who = holder.read().strip() or "another process, through another path"
                raise HarnessError(
                    f"Optuna journal {store.description} is in use by another tune driver "
                    f"({who}): wait for it to finish, or use another --storage"
                ) from None
            holder.seek(0)
            holder.truncate()
            holder.write(f"pid {os.getpid()} on {socket.gethostname()}, study {study!r}")
            holder.flush()
            guard.driving = True
            try:
                yield
            finally:
                guard.driving = False
                guard.record()  # closed: records past this size are no driver's
                holder.truncate(0)
                fcntl.flock(journal, fcntl.LOCK_UN)
        return
    yield  # an RDB study is held by its lease (see take_lease)


def _me() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}


def take_lease(study: optuna.Study) -> None:
    """On an RDB storage, take (or renew) the study's driver lease; refuse a fresh foreign one."""
    lease = study.user_attrs.get("driver")
    me = _me()
    if lease and (lease["host"], lease["pid"]) != (me["host"], me["pid"]):
        fresh = time.time() - float(lease["heartbeat"]) < LEASE_S
        if fresh:
            raise HarnessError(
                f"study {study.study_name!r} is driven by pid {lease['pid']} on "
                f"{lease['host']} (heartbeat {time.time() - lease['heartbeat']:.0f} s ago): wait "
                "for it to finish, or use another --study"
            )
    study.set_user_attr("driver", me)


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
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks set_metric_names experimental
            study.set_metric_names(list(metric_names))
    return study, resumed


def float_range(low: float, high: float, *, step: float | None = None) -> Any:
    """A search-space dimension: a float in ``[low, high]`` (on a grid of ``step``)."""
    return optuna.distributions.FloatDistribution(low, high, step=step)


def int_range(low: int, high: int, *, step: int = 1) -> Any:
    """A search-space dimension: an integer in ``[low, high]`` on a grid of ``step``."""
    return optuna.distributions.IntDistribution(low, high, step=step)


def categorical(choices: Sequence[Any]) -> Any:
    """A search-space dimension: one of ``choices``."""
    return optuna.distributions.CategoricalDistribution(tuple(choices))


def median_pruner(*, startup_trials: int, warmup_steps: int) -> optuna.pruners.BasePruner:
    """Prune a trial below the median of earlier trials at the same step."""
    return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_steps)


def recover_stale(study: optuna.Study) -> int:
    """Fail the trials a dead driver left RUNNING and enqueue their parameters again.

    Call only while holding the study (:func:`exclusive`, :func:`take_lease`): the RUNNING
    trials found then belong to an interrupted session. Returns how many were recovered.
    """
    stale = study.get_trials(deepcopy=False, states=(RUNNING,))
    for t in stale:
        study.tell(t.number, state=FAIL)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
    return len(stale)


def count(study: optuna.Study, *states: TrialState) -> int:
    """Trials of ``study`` in ``states``."""
    return len(study.get_trials(deepcopy=False, states=states))


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
    """A trial's objective values and the user attributes to store with them (e.g. the
    thresholds a sweep chose)."""

    values: tuple[float, ...]
    attrs: dict[str, Any] = field(default_factory=dict)


def optimize(
    study: optuna.Study,
    *,
    distributions: Mapping[str, Any],
    evaluate_batch: Callable[[list[tuple[int, dict[str, Any]]]], dict[int, Any]],
    n_complete: int,
    batch_size: int,
    on_batch: Callable[[list[FrozenTrial]], None] | None = None,
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
    done = count(study, COMPLETE)
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
                        outcome = outcome.values
                    if isinstance(outcome, tuple) and all(v == v for v in outcome):
                        study.tell(t, list(outcome))
                        done += 1
                        bar.update(1)
                    else:
                        last_reason = str(outcome)
                        t.set_user_attr("fail_reason", last_reason)
                        study.tell(t, state=FAIL)
                        failed += 1
            optuna_s += (t1 - t0) + (time.perf_counter() - t2)
            session += len(asked)
            if on_batch is not None:
                numbers = {t.number for t in asked}
                on_batch([t for t in study.get_trials(deepcopy=False) if t.number in numbers])
            interrupts.checkpoint("trials")
            if failed >= limit:
                raise HarnessError(
                    f"{failed} trials of study {study.study_name!r} failed this session (last: "
                    f"{last_reason[:300]}); see their fail_reason"
                )
    return OptimizeStats(session, time.perf_counter() - started, optuna_s)


def trials_frame(study: optuna.Study, objectives: Sequence[str]) -> Any:
    """The study's trials as a DataFrame with the objective columns named after ``objectives``."""
    frame = study.trials_dataframe(attrs=("number", "value", "state", "params", "user_attrs"))
    if len(objectives) == 1:
        return frame.rename(columns={"value": objectives[0]})
    return frame.rename(columns={f"values_{k}": name for k, name in enumerate(objectives)})


def save_plots(study: optuna.Study, folder: Path, objectives: Sequence[str]) -> list[str]:
    """Optimisation history (and Pareto front) and parameter importances as PNG files."""
    import warnings

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
            ax.figure.savefig(folder / name, dpi=90, bbox_inches="tight")
            plt.close(ax.figure)
            written.append(name)
    return written
