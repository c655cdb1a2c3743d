"""A run's files read back: ``results.json`` as its typed results and ``evidence.json``
checked entry by entry, each problem one line naming the file, the key and what came."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pydantic

import core
from harness.evaluation.metrics import CATALOGUE, interval
from harness.evaluation.results import Evidence, Number, RunResult
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import read_json

MAX_RUN_FILE_BYTES = 1 << 30
"""Largest ``results.json`` or ``evidence.json`` read (a year of a large line is ~100 MB)."""


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)


_Pair = Annotated[list[Number | None], pydantic.Field(min_length=2, max_length=2)]


class _Ci(_Strict):
    value: _Pair | None


def _number_or_null(what: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{what} must be a number, got {value!r:.40}")


def _check_headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The report's headline figures are numbers (or null) and their intervals pairs."""
    for f in CATALOGUE:
        group, key = f.path.split(".")
        entry = metrics.get(group)
        value = entry.get(key) if isinstance(entry, dict) else None
        _number_or_null(f"{f.path} ({f.label})", value)
        if isinstance(entry, dict):
            _Ci(value=interval(metrics, f.path))
    _number_or_null("level_accuracy", metrics.get("level_accuracy"))
    confusion = metrics.get("level_confusion")
    size = len(core.LEVEL_NAMES)
    if not (isinstance(confusion, list) and len(confusion) == size and all(
            isinstance(r, list) and len(r) == size and all(type(v) is int for v in r)
            for r in confusion)):  # fmt: skip
        raise ValueError(f"level_confusion must be {size} × {size} counts")
    return metrics


def _problem(exc: pydantic.ValidationError, path: Path, what: str) -> HarnessError:
    """One line naming the file, the first bad key, what it must be and what came."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    got = f"; got {first['input']!r:.60}" if first["type"] != "value_error" else ""
    return HarnessError(
        f"{str(path)!r} is not {what} of hazard-harness: {where}: "
        f"{first['msg'].removeprefix('Value error, ')}{got}"
        f" ({exc.error_count()} problem(s))"
    )


def _validated(model: Any, data: Any, path: Path, what: str) -> None:
    try:
        model.validate_python(data)
    except pydantic.ValidationError as exc:
        raise _problem(exc, path, what) from None


_EVIDENCE = pydantic.TypeAdapter(list[Evidence])


def read_results(path: Path) -> RunResult:
    """A run's ``results.json`` as its results; a missing, unreadable or malformed one (or one
    whose headline figures the report cannot show) is a HarnessError."""
    data = read_json(path, what="results file", max_bytes=MAX_RUN_FILE_BYTES)
    try:
        result = RunResult.from_json(data)
        try:
            _check_headline(result.metrics)
        except ValueError as exc:
            raise ValueError(f"metrics: {exc}") from None
    except pydantic.ValidationError as exc:
        raise _problem(exc, path, "a results.json") from None
    except ValueError as exc:
        what = f"{str(path)!r} is not a results.json of hazard-harness"
        raise HarnessError(f"{what}: {exc}") from None
    return result


def read_evidence(path: Path, result: RunResult) -> list[Evidence]:
    """A run's ``evidence.json`` (none: ``[]``), each entry a worker-shift of the run."""
    if not path.exists():
        return []
    evidence = read_json(path, what="evidence file", max_bytes=MAX_RUN_FILE_BYTES)
    _validated(_EVIDENCE, evidence, path, "an evidence.json")
    worked = {(rec.day, rec.shift, w.worker) for rec in result.shifts for w in rec.workers}
    for k, e in enumerate(evidence):
        if (e["day"], e["shift"], e["worker"]) not in worked:
            raise HarnessError(
                f"{str(path)!r}: entry {k} (day {e['day']}, shift {e['shift']!r}, worker "
                f"{e['worker']!r}) is no worker-shift of the run's results.json"
            )
    return evidence
