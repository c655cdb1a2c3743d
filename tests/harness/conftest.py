"""Shared fixtures of the harness tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="session")
def ray_workers_import_this_checkout():
    """Ray workers import ``core``/``sim``/``harness`` from this checkout, like the driver."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    yield
    mp.undo()
