"""The core layer's exception type."""

from __future__ import annotations


class ModelInputError(ValueError):
    """Bad input to the tracking model: names the argument, what was expected and what came."""
