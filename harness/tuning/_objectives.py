"""Objectives a study optimises: named numbers of the run metrics, in a small registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harness.evaluation.metrics import CATALOGUE
from harness.runtime.errors import HarnessError
from sim.registry import suggest

DEFAULT_OBJECTIVE = "root_cause_f1"


@dataclass(frozen=True)
class Objective:
    """A number computed from :func:`harness.evaluation.metrics.run_metrics`'s dict, and its
    direction."""

    name: str
    direction: Literal["maximize", "minimize"]
    value: Callable[[dict[str, Any]], float]
    """The objective's value from a metrics dict (NaN makes the trial fail)."""
    figure: str = ""
    """The figure of :func:`harness.evaluation.metrics.run_metrics` it reads, as ``group.key``."""


def _metric(*path: str) -> Callable[[dict[str, Any]], float]:
    def value(metrics: dict[str, Any]) -> float:
        for key in path:
            metrics = metrics[key]
        return float(metrics)  # type: ignore[arg-type]

    return value


OBJECTIVES: dict[str, Objective] = {
    f.name: Objective(f.name, "maximize", _metric(*f.path.split(".")), f.path)
    for f in CATALOGUE
    if f.objective
}
"""Registered objectives by name: the figures of :data:`harness.evaluation.metrics.CATALOGUE` a
study may optimise."""


def get_objective(name: str) -> Objective:
    """The registered objective ``name``; an unknown name gets "did you mean …"."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise HarnessError(
            f"unknown objective {name!r}; expected one of {list(OBJECTIVES)}"
            f"{suggest(name, OBJECTIVES)}"
        ) from None


def resolve_objectives(objectives: Sequence[str | Objective]) -> tuple[Objective, ...]:
    """Objectives from names or :class:`Objective` instances (custom ones); at least one."""
    resolved = tuple(o if isinstance(o, Objective) else get_objective(o) for o in objectives)
    if not resolved:
        raise HarnessError(f"name at least one objective, e.g. {DEFAULT_OBJECTIVE!r}")
    names = [o.name for o in resolved]
    if len(set(names)) != len(names):
        raise HarnessError(f"objectives must be distinct, got {names}")
    return resolved


def objective_values(objectives: Sequence[Objective], metrics: dict[str, Any]) -> tuple[float, ...]:
    """The values of ``objectives`` in ``metrics``."""
    return tuple(o.value(metrics) for o in objectives)
