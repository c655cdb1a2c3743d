"""Ray adapter: local by default, an existing cluster via ``--address`` or ``RAY_ADDRESS``.

Work goes out as module-level functions; results stream back with ``ray.wait`` so the driver
holds only what has not been folded in yet, and tasks are retried when a worker dies.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

from tqdm import tqdm

TASK_RETRIES = 3


@contextlib.contextmanager
def ray_session(*, address: str | None = None, workers: int | None = None) -> Iterator[None]:
    """Use the Ray already connected, else connect to a cluster or start Ray locally.

    The cluster is ``address`` or ``RAY_ADDRESS``; its packages travel in the runtime
    environment. Locally, ``workers`` CPUs are given to Ray (default: all cores), so at most
    ``workers`` one-CPU tasks run at once. Only a session started here is shut down here.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")
    handler = signal.getsignal(signal.SIGTERM)
    if address:
        import core
        import harness
        import sim

        ray.init(
            address=address,
            runtime_env={"py_modules": [core, sim, harness]},
            log_to_driver=False,
        )
    else:
        ray.init(
            num_cpus=workers or os.cpu_count() or 1,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    if threading.current_thread() is threading.main_thread():
        # ray.init installs a SIGTERM handler that exits; keep the caller's (see tracking).
        signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        ray.shutdown()


def _ready(module: str, hold_s: float) -> int:
    """Task: import ``module`` and hold the worker a moment, so each task lands on its own."""
    importlib.import_module(module)
    time.sleep(hold_s)
    return os.getpid()


def warm_workers(count: int, *, module: str, hold_s: float = 0.5) -> int:
    """Start ``count`` one-CPU workers with ``module`` imported, before anything is timed.

    Ray starts worker processes lazily; without this the first timed tasks pay for process
    start and imports. Returns the number of distinct worker processes reached.
    """
    import ray

    remote = ray.remote(num_cpus=1)(_ready)
    return len(set(ray.get([remote.remote(module, hold_s) for _ in range(count)])))


def map_unordered(
    fn: Callable[..., Any],
    jobs: Iterable[tuple[Hashable, tuple[Any, ...]]],
    *,
    total: int,
    max_in_flight: int,
    desc: str,
    progress: bool = True,
) -> Iterator[tuple[Hashable, Any]]:
    """Run ``fn(*args)`` for every ``(key, args)`` as Ray tasks; yield ``(key, result)``.

    At most ``max_in_flight`` tasks are pending at once, so memory stays bounded for any
    number of jobs. Results come in completion order: callers key them, never rely on order.
    """
    import ray

    remote = ray.remote(num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False)(fn)
    pending: dict[Any, Hashable] = {}
    it = iter(jobs)
    with tqdm(total=total, desc=desc, disable=not progress, leave=False) as bar:
        for key, args in it:
            pending[remote.remote(*args)] = key
            if len(pending) >= max_in_flight:
                break
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                key = pending.pop(ref)
                yield key, ray.get(ref)
                bar.update()
            for key, args in it:
                pending[remote.remote(*args)] = key
                if len(pending) >= max_in_flight:
                    break
