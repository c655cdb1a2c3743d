"""Small registries of named things users pick from YAML, with "did you mean …" on a typo."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from sim._errors import ScenarioError

T = TypeVar("T")


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_key(path: str, key: str, known: list[str]) -> str:
    """``"path: unknown key, expected one of [...]; did you mean 'x'?"``: one wording for every
    file users write (scenarios, params files)."""
    return f"{path}: unknown key, expected one of {known}{suggest(key, known)}"


class Registry(Generic[T]):
    """Named items of one kind (worker profiles, fault kinds), looked up by name.

    Args:
        kind: what the items are, for error messages (``"worker profile"``).
    """

    def __init__(self, kind: str) -> None:
        if not kind:
            raise ValueError('"kind" must be a non-empty string')
        self._kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Add ``item`` under ``name``; a name can be registered once."""
        if name in self._items:
            raise ValueError(f"{self._kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """The item named ``name``; an unknown name raises `ScenarioError` with a suggestion."""
        try:
            return self._items[name]
        except KeyError:
            raise ScenarioError(
                f"expected a {self._kind} from {self.names}, got {name!r}"
                f"{suggest(str(name), self._items)}"
            ) from None

    @property
    def names(self) -> tuple[str, ...]:
        """Registered names, in registration order."""
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)


@dataclass(frozen=True)
class Profile:
    """A worker profile: default traits of a kind of worker.

    Attributes:
        offpost_rate: fraction of working time spent outside the own post.
        skill: speed factor of the work motion (1 = normal).
    """

    offpost_rate: float
    skill: float


@dataclass(frozen=True)
class FaultKind:
    """A kind of equipment fault.

    Attributes:
        facility: the safety facility it removes (``"guard"``, ``"rail"``, ``"cover"``,
            ``"sign"``), or None for a position deviation of the equipment.
        severity: the severity 1..4 of a missing facility (what the photo shows fixes it);
            for a displacement, the default when a scenario gives none (any severity fits:
            the photo shows it as the size of the shift).
    """

    facility: str | None
    severity: int


PROFILES: Registry[Profile] = Registry("worker profile")
PROFILES.register("normal", Profile(offpost_rate=0.02, skill=1.0))
PROFILES.register("wanderer", Profile(offpost_rate=0.30, skill=1.0))
PROFILES.register("novice", Profile(offpost_rate=0.02, skill=0.6))

FAULT_KINDS: Registry[FaultKind] = Registry("fault kind")
FAULT_KINDS.register("displaced", FaultKind(facility=None, severity=2))
FAULT_KINDS.register("guard_missing", FaultKind(facility="guard", severity=4))
FAULT_KINDS.register("rail_missing", FaultKind(facility="rail", severity=3))
FAULT_KINDS.register("cover_missing", FaultKind(facility="cover", severity=2))
FAULT_KINDS.register("sign_missing", FaultKind(facility="sign", severity=1))

FACILITIES: tuple[str, ...] = ("guard", "rail", "cover", "sign")
"""Safety facilities a post's equipment carries."""
