"""Ray adapter: the only module that talks to Ray.

Local by default (``ray.init(address="local")`` with the workers' CPUs: never a cluster Ray
would find on its own), an existing cluster via ``--address`` or ``RAY_ADDRESS``. A cluster
address is probed before ``ray.init`` so that an unreachable or unauthenticated cluster is
reported in seconds with the fix, not after Ray's own minutes of retries: one gRPC call to the
cluster's GCS with a timeout tells "unreachable", "not a Ray cluster" and "token authentication
required" apart. Ray (since 2.52) supports token authentication and ``ray start`` enables it by
default (since 2.59); the driver then needs ``RAY_AUTH_MODE=token`` and the cluster's token
(``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``). When a token is
available and ``RAY_AUTH_MODE`` is unset, the adapter turns token mode on for this driver (a
token is accepted by clusters without authentication).

Work goes out as module-level functions with one CPU each; results stream back with
``ray.wait`` so the driver holds only what has not been folded in yet; tasks are retried when
a worker dies.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.runtime import interrupts
from harness.runtime.errors import HarnessError
from harness.runtime.progress import progress_bar
from harness.runtime.settings import connect_timeout, ray_address, resolve_workers

LOG = logging.getLogger(__name__)

TASK_RETRIES = 3
"""Times a task is retried when its worker dies."""
AUTH_TOKEN_FILE = Path("~/.ray/auth_token")
"""Where ``ray start`` / ``ray get-auth-token --generate`` keep the cluster token."""
_REMOTE: dict[Callable[..., Any], Any] = {}


class TaskFailed(HarnessError):
    """A Ray task failed for good (its worker kept dying, or it raised)."""


@dataclass(frozen=True)
class RaySession:
    """A connected Ray: how many one-CPU workers the commands may keep busy."""

    workers: int
    """Workers: ``--workers``, else every CPU of the local machine or of the cluster."""
    address: str | None
    """The cluster joined, or None for a local Ray."""

    @property
    def max_in_flight(self) -> int:
        """Tasks kept pending at once (see :func:`harness.runtime.settings.max_in_flight`)."""
        from harness.runtime.settings import max_in_flight

        return max_in_flight(self.workers)


def auth_token() -> str | None:
    """The Ray token this driver would send: ``RAY_AUTH_TOKEN``, its path, or the default file."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    if token:
        return token.strip()
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    candidate = Path(path) if path else AUTH_TOKEN_FILE.expanduser()
    try:
        return candidate.read_text().strip() or None
    except OSError:
        if path:
            raise HarnessError(
                f"RAY_AUTH_TOKEN_PATH names {path!r}, which cannot be read: point it at the "
                "cluster's token file (`ray get-auth-token` on the head node prints the token)"
            ) from None
        return None


def _split(address: str) -> tuple[str, int]:
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    good_port = re.fullmatch(r"[0-9]{1,5}", port) is not None and 1 <= int(port) <= 65535
    if not sep or not good_port or not re.fullmatch(r"[A-Za-z0-9._\-\[\]:]+", host):
        raise HarnessError(
            f"--address must be HOST:PORT (the cluster's GCS, e.g. head-node:6379) or "
            f"ray://HOST:PORT (Ray client), got {address!r:.100}"
        )
    return host.strip("[]"), int(port)


def recorded_address() -> tuple[str, Path]:
    """The address ``auto`` means: the one the last ``ray start`` on this host recorded in
    Ray's address file (``$RAY_TMPDIR/ray/ray_current_cluster``), and that file.

    Raises:
        HarnessError: no ``ray start`` cluster is recorded here.
    """
    from ray._common.utils import get_ray_address_file

    path = Path(get_ray_address_file(None))
    try:
        text = path.read_text().strip() if path.is_file() else ""
    except OSError:
        text = ""
    if not text:
        raise HarnessError(
            f"--address auto: no Ray cluster was started on this host ({path} names none): "
            "give the cluster as HOST:PORT, or start one with `ray start --head`"
        )
    return text, path


def cluster_address(address: str | None) -> str | None:
    """The cluster ``--address`` / ``RAY_ADDRESS`` names, as HOST:PORT or ray://HOST:PORT;
    None for a local Ray (unset, or ``local``). ``auto`` is the address file's (never Ray's
    own search, which would join any Ray process it finds on this host)."""
    if not address or address == "local":
        return None
    if address == "auto":
        return recorded_address()[0]
    return address


def probe_cluster(address: str, *, timeout: float) -> None:
    """Check that ``address`` answers as a Ray cluster this driver may join, within ``timeout``.

    Raises:
        HarnessError: unreachable, not a Ray cluster, or token authentication missing or wrong;
            the message names the address and the fix.
    """
    host, port = _split(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise HarnessError(
            f"cannot reach the Ray cluster at {address!r} within {timeout:g} s ({exc}): is it "
            "up (`ray status` on its head node)? Check --address / RAY_ADDRESS, or raise "
            "--timeout / HAZARD_HARNESS_TIMEOUT"
        ) from None
    import grpc

    client = address.startswith("ray://")
    token = auth_token()
    metadata = [("authorization", f"Bearer {token}")] if token else []
    channel = grpc.insecure_channel(f"{host}:{port}")
    if client:  # the Ray client server: a ping, as Ray's client sends when it connects
        from ray.core.generated import ray_client_pb2

        ping = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
        method, request = "/ray.rpc.RayletDriver/ClusterInfo", ping.SerializeToString()
    else:
        method, request = "/ray.rpc.NodeInfoGcsService/GetClusterId", b""
    call = channel.unary_unary(
        method, request_serializer=lambda b: b, response_deserializer=lambda b: b
    )
    try:
        call(request, timeout=timeout, metadata=metadata)
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            have = "its token was refused" if token else "this driver has no token"
            raise HarnessError(
                f"the Ray cluster at {address!r} requires token authentication and {have}: "
                "export RAY_AUTH_TOKEN=<token> (on the head node `ray get-auth-token` prints it) "
                "or RAY_AUTH_TOKEN_PATH=<file>; see the README's cluster recipe"
            ) from None
        what = "a Ray client server" if client else "a Ray cluster's GCS"
        raise HarnessError(
            f"{address!r} does not answer as {what} within {timeout:g} s ({code.name}: "
            f"{' '.join(str(exc.details()).split())[:120]}); give the head node's GCS port "
            "(HOST:6379 by default), or ray://HOST:10001 for its Ray client server"
        ) from None
    finally:
        channel.close()
    if token and not os.environ.get("RAY_AUTH_MODE"):
        os.environ["RAY_AUTH_MODE"] = "token"


@contextlib.contextmanager
def ray_session(
    *, address: str | None, workers: int | None, timeout: float
) -> Iterator[RaySession]:
    """Use the Ray already connected, else join ``address`` or start Ray locally.

    Locally, ``workers`` CPUs are given to Ray, so at most ``workers`` one-CPU tasks run at
    once. On a cluster the project's packages travel in the runtime environment and
    ``workers`` (default: the cluster's CPUs) bounds the tasks in flight. Only a session
    started here is shut down here; the signal handlers are re-installed after Ray starts and
    stops (see :mod:`harness.runtime.interrupts`).
    """
    import ray

    from harness.runtime.logs import adopt

    adopt("ray")
    if ray.is_initialized():
        yield RaySession(workers or cluster_cpus(), address)
        return
    interrupts.checkpoint("ray_start")
    address = cluster_address(address)
    if address:
        probe_cluster(address, timeout=timeout)
    _keep_signal_handlers()
    _reread_auth_settings()
    try:
        start(address, workers)
    except SystemExit as exc:  # Ray's SIGTERM handler while it starts
        raise interrupts.as_interrupt(exc) from None
    except ConnectionError as exc:
        raise HarnessError(f"cannot join the Ray cluster at {address!r}: {exc}") from None
    finally:
        interrupts.reinstall()
    try:
        session = RaySession(_check_cluster_workers(workers, address), address)
        yield session
    finally:
        with interrupts.held():  # the shutdown completes, then the interrupt is raised
            ray.shutdown()
            interrupts.checkpoint("ray_shutdown")  # where Ray used to leave SIGTERM deadly
            interrupts.reinstall()


LOCAL_START_ATTEMPTS = 2
"""Tries at starting a local Ray. Its raylet has been seen to die at start without a log line
(once in some 300 local starts of three make test-all runs; Ray then says "The current node
timed out during startup" after 30 s), and a fresh node started at once."""


def start(address: str | None, workers: int | None) -> None:
    """``ray.init`` with :func:`init_arguments`.

    A start that fails is shut down again (a refused Ray client leaves this process in client
    mode, where every later ``ray.init`` fails) and the processes it spawned are stopped (a
    local node that timed out leaves its GCS, dashboard and monitor running until this
    process exits). A local start that fails is tried once more, a cluster's is not (its
    errors are the user's to read). Call it with no other thread of this process starting
    child processes: the failed start's processes are told by being new children.

    Raises:
        HarnessError: the local Ray did not start in :data:`LOCAL_START_ATTEMPTS` tries.
    """
    import ray
    from ray._common.utils import get_default_ray_temp_dir

    attempts = 1 if address else LOCAL_START_ATTEMPTS
    for attempt in range(1, attempts + 1):
        before = _child_pids()
        try:
            ray.init(**init_arguments(address, workers))
            return
        except BaseException as exc:
            ray.shutdown()
            _stop_children(other_than=before)
            if address or not isinstance(exc, Exception):
                raise
            if attempt == attempts:
                logs = Path(get_default_ray_temp_dir(), "session_latest", "logs")
                raise HarnessError(
                    f"the local Ray did not start in {attempts} tries: {exc} (Ray's logs: {logs})"
                ) from exc
            LOG.warning("the local Ray did not start (%s); starting a fresh one", exc)


def _child_pids() -> set[int]:
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _stop_children(*, other_than: set[int]) -> None:
    """Stop this process's children not in ``other_than``: SIGTERM, SIGKILL after 5 s."""
    import psutil

    new = [p for p in psutil.Process().children(recursive=True) if p.pid not in other_than]
    for p in new:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(new, timeout=5)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)


def _keep_signal_handlers() -> None:
    """Keep Ray's driver from resetting SIGTERM to its default action (death) while it shuts
    down: its C++ failure signal handler, which only prints a stack on a crash, is turned off
    in this process (not in Ray's workers) before ``ray.init`` (see
    :mod:`harness.runtime.interrupts`)."""
    from ray._private import ray_constants

    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True


def _reread_auth_settings() -> None:
    """Make ``ray.init`` read ``RAY_AUTH_MODE`` and the token as they are now.

    Ray reads both once per process and caches them (its config and its token loader): a
    process that ran a local Ray before (which turns token mode on and may write a token), or
    whose probe has just set ``RAY_AUTH_MODE``, would otherwise join a cluster with stale
    credentials and fail with "Failed to connect to Ray cluster". The same refresh Ray's own
    tests use between clusters; Ray before token authentication (< 2.52) has nothing to refresh.
    """
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def init_arguments(address: str | None, workers: int | None) -> dict[str, Any]:
    """The arguments of ``ray.init``: join ``address``, else start a local Ray of our own.

    Without an address Ray would look for a cluster itself (``RAY_ADDRESS``, then the address
    file a ``ray start`` on this host leaves behind, even once that cluster is dead) and join
    it; ``address="local"`` always starts a fresh local Ray with ``workers`` CPUs.
    """
    if address:
        import core
        import harness
        import sim

        packages = [str(Path(m.__file__).parent) for m in (core, sim, harness)]
        return {  # folders, not modules: a Ray client copies its runtime_env
            "address": address,
            "runtime_env": {"py_modules": packages},
            "log_to_driver": False,
            "logging_level": "WARNING",
        }
    return {
        "address": "local",
        "num_cpus": workers,
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }


def cluster_cpus() -> int:
    """CPUs of the connected Ray (the whole cluster)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _check_cluster_workers(workers: int | None, address: str | None) -> int:
    cpus = cluster_cpus()
    if workers is None:
        return cpus
    if address and workers > cpus:
        raise HarnessError(
            f"--workers must be <= {cpus} (the CPUs of the Ray cluster at {address!r}), "
            f"got {workers}"
        )
    return workers


def _remote(fn: Callable[..., Any]) -> Any:
    import ray

    if fn not in _REMOTE:
        _REMOTE[fn] = ray.remote(num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False)(fn)
    return _REMOTE[fn]


def put(value: Any) -> Any:
    """Put ``value`` in the object store once; tasks receive the reference by value."""
    import ray

    return ray.put(value)


def submit(fn: Callable[..., Any], *args: Any) -> Any:
    """Start ``fn(*args)`` as a one-CPU task (retried if its worker dies); its reference."""
    return _remote(fn).remote(*args)


def gather(refs: Sequence[Any]) -> list[Any]:
    """The results of ``refs`` in order.

    A task that raised a project error (bad input found where it is read: a records file, a
    scenario) raises that error here, as the driver would have: one line, never retried. Any
    other failure raises :class:`TaskFailed` in one line: what the task raised, or why its
    worker was lost (after :data:`TASK_RETRIES` retries).
    """
    import ray

    try:
        return ray.get(list(refs))
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, _project_errors()):
            raise cause from None
        first = (str(cause).strip().splitlines() or [""])[0][:200]
        raise TaskFailed(f"a Ray task failed: {type(cause).__name__}: {first}") from exc
    except ray.exceptions.RayError as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise TaskFailed(
            f"a Ray task failed after {TASK_RETRIES} retries ({type(exc).__name__}: {first})"
        ) from exc


def _project_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input (the harness's, the simulator's, the model's)."""
    import core
    import sim

    return (HarnessError, sim.SimError, core.ModelInputError)


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

    remote = _remote(fn)
    pending: dict[Any, Hashable] = {}
    it = iter(jobs)

    def fill() -> None:
        for key, args in it:
            pending[remote.remote(*args)] = key
            if len(pending) >= max_in_flight:
                break

    with progress_bar(total=total, desc=desc, enabled=progress) as bar:
        fill()
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                key = pending.pop(ref)
                (result,) = gather([ref])
                yield key, result
                bar.update()
            fill()


def _ready(module: str, hold_s: float) -> int:
    """Task: import ``module`` and hold the worker a moment, so each task lands on its own."""
    importlib.import_module(module)
    time.sleep(hold_s)
    return os.getpid()


def warm_workers(count: int, *, module: str, hold_s: float = 0.05) -> int:
    """Start ``count`` one-CPU workers with ``module`` imported, before anything is timed.

    Ray starts worker processes lazily; without this the first timed tasks pay for process
    start and imports. Each task holds its worker ``hold_s`` past its imports, so the tasks,
    submitted together, land on distinct workers (not on one that finished first). Returns
    the number of distinct worker processes reached.
    """
    return len(set(gather([submit(_ready, module, hold_s) for _ in range(count)])))


@dataclass(frozen=True)
class ComputeOptions:
    """Where a command's Ray work should run, as asked (``--address``, ``--workers``,
    ``--timeout``, ``--no-progress``); :func:`compute` checks it."""

    address: str | None = None
    """The cluster to join; None: ``RAY_ADDRESS``, else a local Ray."""
    workers: int | None = None
    """One-CPU workers; None: every local core, or the whole cluster."""
    timeout: float | None = None
    """Seconds to wait for the cluster or the MLflow server; None: the default."""
    progress: bool = True
    """Draw progress bars (on a terminal only)."""


@dataclass(frozen=True)
class Compute:
    """Where a command's Ray work runs, checked (see :func:`compute`)."""

    address: str | None
    """The cluster to join, or None for a local Ray."""
    workers: int | None
    """One-CPU workers; None on a cluster means all of its CPUs (known once connected)."""
    timeout: float
    """Seconds to wait for the cluster or the MLflow server."""
    progress: bool = True
    """Draw progress bars (on a terminal only)."""

    def ray(self) -> AbstractContextManager[RaySession]:
        """The command's Ray session here (see :func:`harness.adapters.ray_cluster.ray_session`)."""
        return ray_session(address=self.address, workers=self.workers, timeout=self.timeout)


def compute(options: ComputeOptions) -> Compute:
    """Resolve and check ``--address``, ``--workers`` and ``--timeout`` (probing a cluster)."""
    seconds = connect_timeout(options.timeout)
    requested = ray_address(options.address)
    resolved = cluster_address(requested)
    count = resolve_workers(options.workers, address=resolved)
    if resolved:
        try:
            probe_cluster(resolved, timeout=seconds)
        except HarnessError as exc:
            if requested != "auto":
                raise
            raise HarnessError(
                f"{exc} (--address auto: {resolved} is what {recorded_address()[1]} records, "
                "left by the last `ray start` on this host; that cluster may be stopped)"
            ) from None
    return Compute(resolved, count, seconds, options.progress)
