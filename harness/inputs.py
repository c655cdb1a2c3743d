"""The files users give commands: scenarios and model-parameter files, read strictly.

One loader each, shared by every command, so that a bad file gets the same one-line
:class:`HarnessError` naming the file and the key wherever it is given.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

import core
import sim
from harness._errors import HarnessError
from sim._yaml import read_yaml
from sim.registry import unknown_key


def load_scenario_file(path: str | Path) -> sim.Scenario:
    """The scenario in ``path``; a bad one raises :class:`HarnessError` naming the file."""
    try:
        return sim.load_scenario(path)
    except sim.ScenarioError as exc:
        message = str(exc)
        where = "" if str(path) in message else f"scenario {str(path)!r}: "
        raise HarnessError(f"{where}{message}") from None


def load_params(path: str | Path | None) -> core.ModelParams:
    """MODEL.md's defaults overridden by a flat YAML mapping of ``ModelParams`` fields."""
    if path is None:
        return core.ModelParams()
    try:
        values = read_yaml(path, what="params file")
    except sim.ScenarioError as exc:
        raise HarnessError(str(exc)) from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        got = type(values).__name__
        raise HarnessError(
            f"params file {str(path)!r} must hold a mapping of parameters, got {got}"
        )
    known = [f.name for f in dataclasses.fields(core.ModelParams)]
    unknown = [unknown_key(str(key), str(key), known) for key in values if key not in known]
    if unknown:  # worded as a scenario's unknown key, with "did you mean"
        raise HarnessError(f"params file {str(path)!r}: {'; '.join(unknown)}")
    try:
        return core.ModelParams.from_dict(values)
    except (core.ModelInputError, TypeError) as exc:
        raise HarnessError(f"params file {str(path)!r}: {exc}") from None


def dump_params(params: core.ModelParams, path: str | Path) -> None:
    """Write ``params`` as YAML loadable by :func:`load_params`."""
    Path(path).write_text(yaml.safe_dump(params.to_dict(), sort_keys=False))
