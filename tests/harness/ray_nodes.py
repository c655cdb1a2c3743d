"""``ray start`` nodes for tests: started with their files under a temp dir of their own, stopped
by their process ids (never ``ray stop``: other clusters may live on this machine)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

MARK = "HAZARD_HARNESS_TEST_RAY_NODE"
"""Set in a node's environment to its temp dir: every process the node spawns inherits it,
also those whose command line does not name the temp dir (the Ray client server, agents)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_executable() -> str:
    """The ``ray`` command of this Python."""
    return shutil.which("ray") or str(Path(sys.executable).parent / "ray")


def start_node(args: Sequence[str], env: dict[str, str], temp: Path) -> None:
    """``ray start ARGS`` with its files and mark under ``temp``."""
    subprocess.run(
        [ray_executable(), "start", *args, f"--temp-dir={temp}", "--disable-usage-stats"],
        env={**env, MARK: str(temp)}, check=True, capture_output=True, timeout=180,
    )  # fmt: skip


def stop_nodes(temps: Sequence[Path]) -> None:
    """Kill every process of the nodes started under ``temps``, by pid."""
    names = [str(t) for t in temps]
    marks = {f"{MARK}={n}".encode() for n in names}
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error, OSError):
            command = " ".join(proc.info["cmdline"] or [])
            if any(n in command for n in names) or marks & set(_environ(proc.pid)):
                proc.kill()


def _environ(pid: int) -> list[bytes]:
    """A process's environment as Linux keeps it (psutil's parse stops at the first empty entry,
    which Ray's process titles leave)."""
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def wait_listening(port: int, *, within_s: float = 120.0) -> None:
    """Wait until a process listens on ``port`` of this host: ``ray start`` returns once the
    GCS answers, before the Ray client server it spawned has opened its port."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # polling another process's start; no hook reaches into Ray's
