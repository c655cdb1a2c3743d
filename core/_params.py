"""The tracking model's tunable parameters (MODEL.md, "The parameters the harness tunes")."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from core._errors import ModelInputError

Direction = Literal["out", "both"]
DIRECTIONS: tuple[str, ...] = ("out", "both")
HistoryPool = Literal["post", "post_shift"]
HISTORY_POOLS: tuple[str, ...] = ("post", "post_shift")
ProficiencySeconds = Literal["all", "on_post"]
PROFICIENCY_SECONDS: tuple[str, ...] = ("all", "on_post")
MAX_HISTORY_WINDOW_DAYS = 3650
"""The longest post-database window, in days (ten years of a line's history)."""


@dataclass(frozen=True)
class ModelParams:
    """Thresholds and options of MODEL.md, with its defaults; validated on construction."""

    tau_D: float = 0.5
    """Hazard threshold on the hazard degree D (Step 1)."""
    lam: float = 0.5
    """Weight of the fixed correlation G against the real-time one r (Step 2), in [0, 1]."""
    tau_P: float = 0.5
    """Threshold on the actual correlation P for membership of a hazard post set, in [0, 1]."""
    direction: Direction = "out"
    """``"out"``: r_ij from post i's worker at j; ``"both"``: also post j's worker at i."""
    rho_min: float = 0.3
    """Reliability floor rho' on the reference value for proficiency seconds, in [0, 1]."""
    eps: float = 1.0
    """Speed added to both sides of the proficiency ratio (px/s), > 0."""
    tau_Z: float = 0.2
    """On-post state above which management is strengthened, in [0, 1]."""
    tau_Y: float = 0.8
    """Proficiency below which off-post training is due, >= 0."""
    alpha: float = 0.05
    """Weight of the newest foot heatmap in position accumulation, in (0, 1]."""
    history_pool: HistoryPool = "post"
    """The post database's shifts: ``"post"`` every shift of the post (both types), or
    ``"post_shift"`` only shifts of the evaluated shift's type (see :func:`core.in_database`)."""
    history_window_days: int = 30
    """W: the database of a shift on day d holds the post's records of days d − W .. d − 1."""
    proficiency_seconds: ProficiencySeconds = "all"
    """The seconds Y is made of: ``"all"`` of K (the patent), or ``"on_post"``, those of K where
    the worker is on the standard post (MODEL.md's evaluation variant)."""

    def __post_init__(self) -> None:
        for name in ("tau_D", "lam", "tau_P", "rho_min", "eps", "tau_Z", "tau_Y", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ModelInputError(f"ModelParams.{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ModelInputError(f"ModelParams.{name} must be finite, got {value!r}")
        _in_range("tau_D", self.tau_D, 0.0, math.inf)
        _in_range("lam", self.lam, 0.0, 1.0)
        _in_range("tau_P", self.tau_P, 0.0, 1.0)
        _in_range("rho_min", self.rho_min, 0.0, 1.0)
        _in_range("tau_Z", self.tau_Z, 0.0, 1.0)
        _in_range("tau_Y", self.tau_Y, 0.0, math.inf)
        if self.eps <= 0:
            raise ModelInputError(f"ModelParams.eps must be > 0 (px/s), got {self.eps!r}")
        if not 0 < self.alpha <= 1:
            raise ModelInputError(f"ModelParams.alpha must be in (0, 1], got {self.alpha!r}")
        if self.direction not in DIRECTIONS:
            raise ModelInputError(
                f"ModelParams.direction must be one of {DIRECTIONS}, got {self.direction!r}"
            )
        if self.history_pool not in HISTORY_POOLS:
            raise ModelInputError(
                f"ModelParams.history_pool must be one of {HISTORY_POOLS}, "
                f"got {self.history_pool!r}"
            )
        if self.proficiency_seconds not in PROFICIENCY_SECONDS:
            raise ModelInputError(
                f"ModelParams.proficiency_seconds must be one of {PROFICIENCY_SECONDS}, "
                f"got {self.proficiency_seconds!r}"
            )
        window = self.history_window_days
        if (
            isinstance(window, bool)
            or not isinstance(window, int)
            or not 1 <= window <= MAX_HISTORY_WINDOW_DAYS
        ):
            raise ModelInputError(
                f"ModelParams.history_window_days must be an int in 1..{MAX_HISTORY_WINDOW_DAYS}"
                f" (days), got {window!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for YAML, JSON and MLflow params)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelParams:
        """Build from a mapping, rejecting unknown keys with the list of known ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelInputError(
                f"unknown model parameter(s) {unknown}; expected some of {sorted(known)}"
            )
        return cls(**values)


def _in_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ModelInputError(f"ModelParams.{name} must be in [{low}, {high}], got {value!r}")
