"""Interruptions: SIGINT, SIGTERM and SIGHUP end a command the same way, at any moment.

Inside :func:`handle_signals` the first of these signals raises :class:`Interrupted` (a
``KeyboardInterrupt``) in the main thread, wherever it is: Ray starting, the history being
built, scoring, writing, registering. The command's context managers then end its MLflow run
KILLED and remove its staged output, and the CLI exits with ``128 + signal`` and one line.
Further signals while that cleanup runs are reported once and otherwise ignored, so a second
Ctrl-C never prints a traceback (SIGKILL is the way to stop a cleanup that hangs; the next
command marks a run a killed process left RUNNING as FAILED).

Ray replaces the SIGTERM handler while it starts; the Ray adapter calls :func:`reinstall`
after it. Ray's driver also installs a C++ "failure signal handler" (SIGTERM among its
signals) and, a moment into ``ray.shutdown()``, resets those signals to their default action
(death) while Python still reports its handler: the adapter turns that handler off in the
driver, and holds signals (:func:`held`) while Ray shuts down so that the shutdown completes
before the interrupt is raised.

**Fault hooks for tests.** :func:`checkpoint` marks a named moment of a command. When the
environment variable :data:`ENV_FAULT` is ``"<moment>:<SIGNAL>"`` (e.g. ``"writing:SIGTERM"``),
the process sends itself that signal at that moment, so tests interrupt every moment
deterministically, without sleeps. ``"<moment>:<SIGNAL>:<marker file>"`` fires once: only
in the process that creates the marker file (e.g. one Ray worker of many, ``"task:SIGKILL:…"``).
``"<moment>:WAIT:<file>"`` holds the command at the moment (it writes ``<file>.reached``) until
``<file>`` exists: a test starts a second command while the first is there, then releases it,
so races are tested by order, not by timing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.runtime.errors import HarnessError

SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""The signals that interrupt a command."""
ENV_FAULT = "HAZARD_HARNESS_FAULT"
"""Test hook: ``"<moment>:<SIGNAL>"`` sends ``SIGNAL`` to this process at ``moment``."""
MOMENTS: tuple[str, ...] = (
    "start",
    "store_wait",
    "store",
    "ray_start",
    "history",
    "scoring",
    "task",
    "trials",
    "writing",
    "logging",
    "registering",
    "ray_shutdown",
)
"""The moments :func:`checkpoint` marks (``start``: the command line's first instruction;
``store_wait``: waiting for another command's first use of a store; ``store``: a tracking
store's first use (its tables created: an interrupt waits for them); ``task``: inside a Ray scoring
task; ``trials``: between two batches of a study's trials; ``ray_shutdown``: Ray's processes
exiting)."""


class Interrupted(KeyboardInterrupt):
    """A command interrupted by a signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number."""
        return 128 + self.signum


class _State:
    received: int | None = None
    warned = False
    depth = 0
    holding = False
    pending: int | None = None


_STATE = _State()


def _handler(signum: int, frame: Any) -> None:
    if _STATE.received is None:
        _STATE.received = signum
        if _STATE.holding:
            _STATE.pending = signum
            return
        raise Interrupted(signum)
    if not _STATE.warned:
        _STATE.warned = True
        name = signal.Signals(signum).name
        print(f"hazard-harness: {name} received again; still cleaning up", file=sys.stderr)


def _install() -> None:
    for sig in SIGNALS:
        signal.signal(sig, _handler)


def reinstall() -> None:
    """Install the handlers again if :func:`handle_signals` is active (see the module doc)."""
    if _STATE.depth and threading.current_thread() is threading.main_thread():
        _install()


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Inside the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    outermost = _STATE.depth == 0
    if outermost:
        reset()
    _STATE.depth += 1
    _install()
    try:
        yield
    finally:
        _STATE.depth -= 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold the signals back for a short block that must not be cut (moving outputs in place);
    one that arrived meanwhile is delivered at the end of the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Inside the block the first signal is only recorded, and raised as :class:`Interrupted`
    when the block ends: for a block that must complete (Ray shutting down), whatever its
    threads, unlike :func:`deferred`."""
    outer = _STATE.holding
    _STATE.holding = True
    try:
        yield
    finally:
        _STATE.holding = outer
        if not outer and _STATE.pending is not None:
            signum, _STATE.pending = _STATE.pending, None
            raise Interrupted(signum)


def reset() -> None:
    """Forget the signals taken so far (a new command starts)."""
    _STATE.received, _STATE.warned, _STATE.pending = None, False, None


def taken(exc: KeyboardInterrupt) -> Interrupted | None:
    """The interrupt behind ``exc``: itself, or the signal this module's handler took when a
    library re-raised it as a plain ``KeyboardInterrupt`` (``ray.get`` and ``ray.wait`` do);
    None for a Ctrl-C no handler of this module saw."""
    if isinstance(exc, Interrupted):
        return exc
    return Interrupted(_STATE.received) if _STATE.received is not None else None


def as_interrupt(exc: SystemExit) -> BaseException:
    """Ray's own SIGTERM handler (installed while it starts) exits; make that an interrupt."""
    if exc.code == signal.SIGTERM:
        _STATE.received = int(signal.SIGTERM)
        return Interrupted(signal.SIGTERM)
    return exc


WAIT_LIMIT_S = 300.0
"""Longest a ``WAIT`` hook holds a command (a test that never releases it fails, not hangs)."""


def _pause(release: Path) -> None:
    """Say the moment is reached (``<release>.reached``) and wait until ``release`` exists."""
    release.with_name(release.name + ".reached").write_text(str(os.getpid()))
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def checkpoint(moment: str) -> None:
    """Mark ``moment`` of a command; the :data:`ENV_FAULT` hook may send a signal here."""
    spec = os.environ.get(ENV_FAULT)
    if not spec:
        return
    where, _, rest = spec.partition(":")
    name, _, marker = rest.partition(":")
    known = (name == "WAIT" and marker) or isinstance(getattr(signal, name, None), signal.Signals)
    if where not in MOMENTS or not known:
        raise HarnessError(
            f"{ENV_FAULT} must be <moment>:<SIGNAL>[:<marker file>] or <moment>:WAIT:<file> "
            f"with a moment of {MOMENTS}, got {spec!r}"
        )
    if where != moment:
        return
    if name == "WAIT":
        _pause(Path(marker))
        return
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os.kill(os.getpid(), getattr(signal, name))
