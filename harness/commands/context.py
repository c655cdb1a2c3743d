"""The one command stack: signals, a staged output folder, its log file and the tracked run.

Every command that writes an output folder runs inside :func:`command_context`::

    with command_context(out_dir) as ctx:            # signals → staging → log file
        run_id = ctx.track(tracked_run(...))         # the MLflow run (FINISHED/FAILED/KILLED)
        with config.compute.ray() as session:        # the Ray session, where one is needed
            ...
        staging.write_json(ctx.stage / "x.json", ...)
    # on success: the stage's files logged to the run, then published into out_dir

so that an interrupt at any moment ends the run KILLED and leaves ``out_dir`` as it was, and
library notices go to the output's ``harness.log``, the same way for every command. What a
command holds between the folder and the run (``tune``'s study lock) goes in with
:meth:`CommandContext.hold`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from harness.adapters.mlflow_tracking import log_artifacts
from harness.runtime import logs, staging
from harness.runtime.interrupts import handle_signals

T = TypeVar("T")


@dataclass
class CommandContext:
    """What a running command holds: its stage folder and, once tracked, its MLflow run."""

    stage: staging.Folder
    """The folder the command writes into (local, or a prefix on object storage); published as
    ``out_dir`` when it succeeds."""
    _stack: contextlib.ExitStack
    run_id: str | None = None
    """The MLflow run, once :meth:`track` started it."""

    def track(self, run: AbstractContextManager[str]) -> str:
        """Start the command's MLflow ``run`` (a
        :func:`harness.adapters.mlflow_tracking.tracked_run`), which ends with the context;
        its files are logged to it on success. Returns its id."""
        self.run_id = self._stack.enter_context(run)
        return self.run_id

    def hold(self, manager: AbstractContextManager[T]) -> T:
        """Hold ``manager`` until the context ends (released after the run has ended)."""
        return self._stack.enter_context(manager)


@contextlib.contextmanager
def command_context(
    out_dir: staging.Folder, *, staged: bool = True, last: tuple[str, ...] = (staging.RESULTS,)
) -> Iterator[CommandContext]:
    """Signals → staged ``out_dir`` → its log file; on success, the stage's files are logged
    to the tracked run (if any) before the folder is published (the files named in ``last``
    after the others).

    ``staged=False`` writes into ``out_dir`` itself: for a command whose folder is its own
    checkpoint (``perception train`` resumes from what an interrupted run left there).
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(handle_signals())
        if staged:
            stage = stack.enter_context(staging.staged(out_dir, last=last))
        else:
            stage = Path(str(out_dir))
            stage.mkdir(parents=True, exist_ok=True)
        stack.enter_context(logs.log_to(stage))
        ctx = CommandContext(stage, stack)
        yield ctx
        if ctx.run_id is not None:
            log_artifacts(stage)
