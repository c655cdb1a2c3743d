"""The first-use lock: exclusive between processes, re-entrant within a thread."""

from __future__ import annotations

import fcntl
import subprocess
import sys

from harness.runtime.locks import first_use
from tests.harness.conftest import REPO


def test_a_nested_first_use_of_the_same_file_goes_on(tmp_path):
    """A block nested in one that holds the lock (a command's MLflow store made inside another
    first use) used to wait on its own lock forever; run in a child so a regression fails by
    timeout instead of hanging the suite."""
    code = (
        "from pathlib import Path\n"
        "from harness.runtime.locks import first_use\n"
        f"p = Path({str(tmp_path / 'store.db')!r})\n"
        "with first_use(p):\n"
        "    with first_use(p.parent / '.' / p.name):\n"
        "        print('nested')\n"
        "    print('still held')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True).stdout  # fmt: skip
    assert out.split() == ["nested", "still", "held"]


def test_the_lock_excludes_another_holder_and_is_released(tmp_path):
    path = tmp_path / "store.db"
    with first_use(path), open(path, "ab") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            raise AssertionError("a second open file took the held lock")
        except BlockingIOError:
            pass
    with open(path, "ab") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
