"""The simulator layer's exception types."""

from __future__ import annotations


class SimError(ValueError):
    """Base of the simulator's errors: bad input named with what was expected and what came."""


class ScenarioError(SimError):
    """A bad scenario or simulator argument: names the full key path, the expected and the got."""


class StoreError(SimError):
    """A history-store failure: names the post and the file."""


class CameraError(SimError):
    """Bad input to the camera, photo, detector or pose stand-ins; names the argument, the
    expected and the got."""
