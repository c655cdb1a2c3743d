"""Scenario files: a strictly validated YAML description of a line and what happens on it.

Every error is a `ScenarioError` whose message names the full key path (``workers.cast[0].
profile``), what was expected and what came; unknown keys, profiles and fault kinds get
"did you mean …".
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sim._errors import ScenarioError
from sim.registry import FAULT_KINDS, PROFILES, suggest, unknown_key
from sim.strict_yaml import read_yaml

SHIFT_NAMES: tuple[str, ...] = ("day", "night")
"""Shift names in order within a day; a line with one shift a day has only ``"day"``."""
QUANTITIES: tuple[str, ...] = ("temperature_c", "humidity_pct", "pressure_kpa")
"""Environment quantities, in the order of every environment vector."""

MAX_SEED = 2**63 - 1
"""Largest seed (an int64, as MLflow and the stores keep it)."""
MAX_NAME = 100
"""Longest scenario name (it names MLflow experiments, runs and studies)."""
NAME_PATTERN = r"[A-Za-z0-9_]([A-Za-z0-9 _.@+-]*[A-Za-z0-9_.@+-])?"
"""A scenario's name: letters, digits, spaces and ``_ . @ + -``, not starting with a dot or a
space (no path separators, no control characters)."""
MAX_POSTS = 10_000
"""Most posts on one line (a plant's line; a larger study is several scenarios)."""
DAY_S = 86_400.0
"""Seconds in a day: the shifts of a day fit in it."""
MAX_RATE_HZ = 30.0
"""Highest sampling rate (a camera's frame rate)."""
MAX_DAYS = 3_650
"""Most days of history or evaluation (ten years)."""
MAX_FAULT_RATE = 100.0
"""Highest mean number of random faults per post-shift."""
MAX_PER_POST = 100
"""Most workers per post and shift."""
MAX_FLOATERS = 1_000
"""Most floaters."""
ROTATION_MODES: tuple[str, ...] = ("swap_shifts", "next_post")
"""How crews rotate (``workers.rotation.mode``)."""

_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
PostId = Annotated[int, Field(ge=1)]
DayId = Annotated[int, Field(ge=1)]
ShiftName = Literal["day", "night"]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0)]


class _Model(BaseModel):
    model_config = _CONFIG


class Line(_Model):
    """The line: ``posts`` posts in process order and their fixed correlation."""

    posts: Annotated[int, Field(ge=1, le=MAX_POSTS)]
    correlation: Literal["chain"] | list[list[Unit]] = "chain"

    @field_validator("correlation", mode="before")
    @classmethod
    def _known_correlation(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "chain":
            raise ValueError(
                f'expected "chain" or an n×n matrix, got {value!r}{suggest(value, ["chain"])}'
            )
        return value


class Shifts(_Model):
    """Shift pattern: shifts a day, length, sampling rate and scheduled breaks."""

    per_day: Annotated[int, Field(ge=1, le=2)] = 2
    length_s: Annotated[float, Field(gt=0, le=DAY_S)] = 28800.0
    rate_hz: Annotated[float, Field(gt=0, le=MAX_RATE_HZ)] = 1.0
    breaks: list[Annotated[list[Seconds], Field(min_length=2, max_length=2)]] = []
    """``[start, end]`` seconds since clock-in; everyone is in area 0 meanwhile."""


class Days(_Model):
    """Days simulated for the history before the evaluated days."""

    history: Annotated[int, Field(ge=0, le=MAX_DAYS)] = 30
    evaluate: Annotated[int, Field(ge=0, le=MAX_DAYS)] = 3


PersonName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.@-]+$")]
"""A person's id: letters, digits and ``_ . @ -`` (it names files and report pages)."""


class CastEntry(_Model):
    """A worker that differs from normal: a profile, explicit traits, or both (traits win).

    With ``from_day`` > 1 it is a new person who takes the slot from that day (the slot's
    earlier person leaves); ``name`` is the person's id (default ``p<post>-<shift>-<slot>``,
    with ``@d<from_day>`` for a newcomer).
    """

    post: PostId
    shift: ShiftName = "day"
    slot: Annotated[int, Field(ge=1)] = 1
    name: PersonName | None = None
    profile: str | None = None
    offpost_rate: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    skill: Annotated[float, Field(gt=0.0, le=3.0)] | None = None
    excursion_s: Annotated[float, Field(gt=0.0, le=DAY_S)] | None = None
    """Mean seconds of one excursion off the post, walks included (default 240 s)."""
    destinations: dict[Annotated[int, Field(ge=0)], Annotated[float, Field(ge=0.0)]] | None = None
    """Where the excursions go: area → weight (0 the aisle, another post by its number);
    default: the aisle half the time, else another post, nearer posts likelier."""
    from_day: DayId = 1

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is not None:
            PROFILES.get(value)
        return value

    @model_validator(mode="after")
    def _says_something(self) -> CastEntry:
        given = (self.profile, self.offpost_rate, self.skill, self.excursion_s, self.destinations)
        if all(v is None for v in given):
            raise ValueError(
                "expected a profile or an explicit trait (offpost_rate, skill, excursion_s, "
                "destinations)"
            )
        if self.destinations is not None and not sum(self.destinations.values()) > 0:
            raise ValueError(f"destinations: expected weights summing to > 0, got "
                             f"{self.destinations!r}")  # fmt: skip
        return self


class Rotation(_Model):
    """Crews change places every ``every_days`` days (day 1 is the first of a period)."""

    every_days: Annotated[int, Field(ge=1, le=MAX_DAYS)]
    mode: str
    """``swap_shifts``: the day and night crews swap; ``next_post``: everyone moves one post
    down the line (the last to the first)."""

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in ROTATION_MODES:
            raise ValueError(
                f"expected one of {list(ROTATION_MODES)}, got {value!r}"
                f"{suggest(value, ROTATION_MODES)}"
            )
        return value


class Fatigue(_Model):
    """Fraction of work speed lost by the end of each shift type (linear over the shift)."""

    day: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    night: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class Workers(_Model):
    """The workforce: crews per post and shift, floaters, absences, rotation, learning,
    fatigue, day-to-day variation, and the cast of those that differ from normal
    (``sim.workforce``)."""

    per_post: Annotated[int, Field(ge=1, le=MAX_PER_POST)] = 1
    floaters: Annotated[int, Field(ge=0, le=MAX_FLOATERS)] = 0
    """Spare workers who cover absences at any post."""
    absence_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """Probability that a crew member is absent on a day."""
    rotation: Rotation | None = None
    learning_days: Annotated[float, Field(ge=0.0, le=MAX_DAYS)] = 0.0
    """Time constant (days worked at a post) of learning it; 0: no learning."""
    fatigue: Fatigue = Fatigue()
    variation: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Standard deviation of each person's day-to-day relative trait variation."""
    cast: list[CastEntry] = []


class ScheduledFault(_Model):
    """An equipment fault that happens at a given post-shift."""

    post: PostId
    day: DayId
    shift: ShiftName = "day"
    kind: str
    severity: Annotated[int, Field(ge=1, le=4)] | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        FAULT_KINDS.get(value)
        return value

    @model_validator(mode="after")
    def _severity_fits_kind(self) -> ScheduledFault:
        fixed = FAULT_KINDS.get(self.kind)
        if fixed.facility is not None and self.severity not in (None, fixed.severity):
            raise ValueError(
                f"severity {self.severity} does not fit kind {self.kind!r}: a missing "
                f"{fixed.facility} is severity {fixed.severity} (only 'displaced' takes any)"
            )
        return self


class Equipment(_Model):
    """Random fault rate and scheduled faults."""

    fault_rate: Annotated[float, Field(ge=0, le=MAX_FAULT_RATE)] = 0.0
    faults: list[ScheduledFault] = []


class Band(_Model):
    """Normal band of an environment quantity: Gaussian readings."""

    mean: float
    sd: Annotated[float, Field(ge=0)]


class Excursion(_Model):
    """Environment readings forced at a given post-shift."""

    post: PostId
    day: DayId
    shift: ShiftName = "day"
    temperature_c: float | None = None
    humidity_pct: float | None = None
    pressure_kpa: float | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Excursion:
        if all(getattr(self, q) is None for q in QUANTITIES):
            raise ValueError(f"expected at least one of {list(QUANTITIES)}")
        return self


class Environment(_Model):
    """Environment sensors: normal band per quantity and scheduled excursions."""

    temperature_c: Band = Band(mean=24.0, sd=2.0)
    humidity_pct: Band = Band(mean=50.0, sd=8.0)
    pressure_kpa: Band = Band(mean=101.3, sd=0.4)
    excursions: list[Excursion] = []


def check_name(value: Any) -> str:
    """``value`` if it is a scenario name (:data:`NAME_PATTERN`, at most :data:`MAX_NAME`
    characters), else a ValueError saying what is expected (the key is the caller's)."""
    if not isinstance(value, str) or len(value) > MAX_NAME or not re.fullmatch(NAME_PATTERN, value):
        got = (
            f"{len(value)} characters"
            if isinstance(value, str) and len(value) > 80
            else (f"{value!r}" if isinstance(value, str) else type(value).__name__)
        )
        raise ValueError(
            f"expected a name of 1 to {MAX_NAME} letters, digits, spaces and _ . @ + - (it "
            f"names MLflow experiments and studies), got {got}"
        )
    return value


class Scenario(_Model):
    """A validated scenario (see ``experiments/scenarios/demo.yaml``)."""

    name: str
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    line: Line
    shifts: Shifts = Shifts()
    days: Days = Days()
    workers: Workers = Workers()
    equipment: Equipment = Equipment()
    environment: Environment = Environment()
    fidelity: Literal["signal", "pixel"] = "signal"

    @field_validator("name", mode="before")
    @classmethod
    def _good_name(cls, value: Any) -> str:
        return check_name(value)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        n = self.line.posts
        if isinstance(self.line.correlation, list):
            rows = self.line.correlation
            if len(rows) != n or any(len(r) != n for r in rows):
                shape = f"{len(rows)}×{[len(r) for r in rows]}"
                _fail("line.correlation", f"a {n}×{n} matrix (line.posts = {n})", shape)
        if self.shifts.length_s * self.shifts.per_day > DAY_S:
            _fail(
                "shifts.length_s",
                f"shifts that fit in a day (length_s × per_day ≤ {DAY_S:.0f} s)",
                self.shifts.length_s,
            )
        samples = self.shifts.length_s * self.shifts.rate_hz
        if abs(samples - round(samples)) > 1e-6 or round(samples) < 1:
            _fail("shifts.length_s", "length_s × rate_hz to be a whole number ≥ 1", samples)
        last_end = 0.0
        for k, (start, end) in enumerate(self.shifts.breaks):
            if not start < end <= self.shifts.length_s:
                _fail(f"shifts.breaks[{k}]", f"start < end ≤ {self.shifts.length_s}", [start, end])
            if start < last_end:
                _fail(f"shifts.breaks[{k}]", "sorted, non-overlapping breaks", [start, end])
            last_end = end
        total_days = self.days.history + self.days.evaluate
        if total_days < 1:
            _fail("days", "history + evaluate ≥ 1", total_days)
        shifts = self.shift_names
        for group, entries in (
            ("workers.cast", self.workers.cast),
            ("equipment.faults", self.equipment.faults),
            ("environment.excursions", self.environment.excursions),
        ):
            for k, entry in enumerate(entries):
                path = f"{group}[{k}]"
                if entry.post > n:
                    _fail(f"{path}.post", f"a post in 1..{n}", entry.post)
                if entry.shift not in shifts:
                    _fail(f"{path}.shift", f"one of {list(shifts)} (shifts.per_day)", entry.shift)
                day = getattr(entry, "day", getattr(entry, "from_day", 1))
                if day > total_days:
                    key = "day" if hasattr(entry, "day") else "from_day"
                    _fail(f"{path}.{key}", f"a day in 1..{total_days}", day)
        names: dict[str, int] = {}
        for k, entry in enumerate(self.workers.cast):
            for area in entry.destinations or {}:
                if area > n or area == entry.post:
                    _fail(f"workers.cast[{k}].destinations", f"areas in 0..{n} other than "
                          f"the worker's own post {entry.post}", area)  # fmt: skip
            if entry.slot > self.workers.per_post:
                _fail(
                    f"workers.cast[{k}].slot",
                    f"a slot in 1..{self.workers.per_post} (workers.per_post)",
                    entry.slot,
                )
            if entry.name is not None:
                if entry.name in names:
                    _fail(f"workers.cast[{k}].name", f"a name not used by workers.cast"
                          f"[{names[entry.name]}] (one person, one entry)", entry.name)  # fmt: skip
                if re.fullmatch(r"f\d+", entry.name):
                    _fail(f"workers.cast[{k}].name", "a name other than f<number> "
                          "(floaters' ids)", entry.name)  # fmt: skip
                names[entry.name] = k
        rotation = self.workers.rotation
        if rotation is not None and rotation.mode == "swap_shifts" and self.shifts.per_day < 2:
            expected = "next_post on a line with one shift a day (no night crew to swap with)"
            _fail("workers.rotation.mode", expected, rotation.mode)
        if self.workers.fatigue.night and self.shifts.per_day < 2:
            _fail("workers.fatigue.night", "0 on a line with one shift a day (shifts.per_day = 1)",
                  self.workers.fatigue.night)  # fmt: skip
        return self

    @property
    def n_posts(self) -> int:
        """Number of posts n."""
        return self.line.posts

    @property
    def G(self) -> np.ndarray:
        """The fixed correlation ``(n, n)``: chain → adjacent posts and the diagonal 1."""
        n = self.n_posts
        if self.line.correlation == "chain":
            idx = np.arange(n)
            return (np.abs(idx[:, None] - idx[None, :]) <= 1).astype(np.float64)
        return np.array(self.line.correlation, dtype=np.float64)

    @property
    def samples_per_shift(self) -> int:
        """T: samples in one shift."""
        return round(self.shifts.length_s * self.shifts.rate_hz)

    @property
    def shift_names(self) -> tuple[str, ...]:
        """``("day",)`` or ``("day", "night")``."""
        return SHIFT_NAMES[: self.shifts.per_day]

    @property
    def history_days(self) -> range:
        """Days simulated for the history store, 1-based."""
        return range(1, self.days.history + 1)

    @property
    def evaluate_days(self) -> range:
        """Evaluated days, right after the history days."""
        return range(self.days.history + 1, self.days.history + self.days.evaluate + 1)

    def check_post_shift(self, *, post: int, day: int, shift: str) -> int:
        """Validate simulator arguments; return the shift's index."""
        if isinstance(post, bool) or not isinstance(post, (int, np.integer)):
            raise ScenarioError(f"`post` must be an int in 1..{self.n_posts}, got {post!r}")
        if not 1 <= post <= self.n_posts:
            raise ScenarioError(f"`post` must be in 1..{self.n_posts}, got {post!r}")
        if isinstance(day, bool) or not isinstance(day, (int, np.integer)) or day < 1:
            raise ScenarioError(f"`day` must be an int ≥ 1, got {day!r}")
        return self.check_shift(shift)

    def check_shift(self, shift: str) -> int:
        """Validate a shift name; return its index."""
        if shift not in self.shift_names:
            raise ScenarioError(
                f"`shift` must be one of {list(self.shift_names)}, got {shift!r}"
                f"{suggest(str(shift), self.shift_names)}"
            )
        return self.shift_names.index(shift)


def load_scenario(source: str | os.PathLike[str] | Mapping[str, Any]) -> Scenario:
    """Load and validate a scenario from a YAML file or a mapping.

    The file is read strictly (:mod:`sim.strict_yaml`: UTF-8, no duplicate keys, bounded nesting).

    Raises:
        ScenarioError: missing file, YAML syntax error, or any invalid value.
    """
    data = dict(source) if isinstance(source, Mapping) else read_yaml(source, what="scenario file")
    if not isinstance(data, Mapping):
        raise ScenarioError(f"scenario: expected a mapping of keys, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ScenarioError(_describe(exc)) from None


def _fail(path: str, expected: str, got: Any) -> typing.NoReturn:
    raise ValueError(f"{path}: expected {expected}, got {got!r}")


def _describe(exc: pydantic.ValidationError) -> str:
    """One line per error: ``path: expected …, got …``."""
    errors = exc.errors(include_url=False)
    paths = [_path(err["loc"]) for err in errors]
    lines = []
    for err, path in zip(errors, paths, strict=True):
        if err["type"] in _BRANCH_ERRORS and any(p != path and p.startswith(path) for p in paths):
            continue  # a union's other branch explains the problem better
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = _fields_at(err["loc"][:-1])
            key = str(err["loc"][-1])
            lines.append(unknown_key(path, key, known))
        elif err["type"] == "missing":
            lines.append(f"{path}: expected a value, got nothing (the key is required)")
        elif not path:
            lines.append(msg)
        else:
            msg = msg.replace("Input should be ", "expected ")
            msg = re.sub(r"^expected (greater|less)", r"expected a value \1", msg)
            if not msg.startswith("expected"):
                msg = f"expected {msg[0].lower()}{msg[1:]}"
            got = err.get("input")
            got_text = "" if ", got " in msg else f", got {got!r}"
            lines.append(f"{path}: {msg}{got_text}")
    return "; ".join(dict.fromkeys(lines))


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _BRANCH_TAGS or part.startswith(("literal[", "list[", "tuple[")):
            continue  # union branch tags pydantic puts in the location
        else:
            out += f".{part}" if out else part
    return out


_BRANCH_TAGS = frozenset({"int", "float", "str"})
_BRANCH_ERRORS = frozenset({"literal_error", "string_type", "list_type"})


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model at ``loc`` (for unknown-key suggestions)."""
    model: Any = Scenario
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _model_in(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside ``list[M]``, ``M | None`` and the like, else the annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
    return annotation
