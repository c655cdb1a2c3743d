"""The harness layer's exception type."""

from __future__ import annotations


class HarnessError(ValueError):
    """Bad input to the harness (scenario, params file, arguments): one line saying what and why."""
