"""Model parameter files (YAML): what ``run --params`` reads and ``tune`` writes."""

from __future__ import annotations

from pathlib import Path

import yaml

import core
from harness._errors import HarnessError


def load_params(path: str | Path | None) -> core.ModelParams:
    """MODEL.md's defaults overridden by a flat YAML mapping of ``ModelParams`` fields."""
    if path is None:
        return core.ModelParams()
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise HarnessError(f"params file {str(path)!r} cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise HarnessError(f"params file {str(path)!r} is not valid YAML: {exc}") from exc
    if values is None:
        values = {}
    if not isinstance(values, dict):
        got = type(values).__name__
        raise HarnessError(
            f"params file {str(path)!r} must hold a mapping of parameters, got {got}"
        )
    try:
        return core.ModelParams.from_dict(values)
    except (core.ModelInputError, TypeError) as exc:
        raise HarnessError(f"params file {str(path)!r}: {exc}") from exc


def dump_params(params: core.ModelParams, path: str | Path) -> None:
    """Write ``params`` as YAML loadable by :func:`load_params`."""
    Path(path).write_text(yaml.safe_dump(params.to_dict(), sort_keys=False))
