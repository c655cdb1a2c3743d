"""The results of a run, typed: one home for what ``results.json`` holds.

A run's results are built once, from the model's :class:`core.RootCauseTable` of each
evaluated shift and the truth (:func:`shift_result`); ``results.json``
(:meth:`RunResult.to_json`, with :data:`SCHEMA_VERSION` and :data:`UNITS`), the Parquet
tables, the metrics, the report and every tuning trial are views of them. A ``results.json``
read back (``report``) is checked against the same classes (:meth:`RunResult.from_json`).

Field names are ``results.json``'s keys (a contract). The truth a simulator knows and a plant
does not is: a post's ``true_level``, ``true_D``, ``faults``, ``culprits``,
``fault_culprits`` and ``equipment_cause``; a worker's ``profile``, ``needs_management``,
``needs_training`` and its effective traits (:class:`WorkerTraits`). The Parquet tables name all
of it with the prefix ``true_``; records without labels carry none of it
(:meth:`ShiftResult.without_truth`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pydantic
from typing_extensions import TypedDict

import core
import sim
from harness.evaluation.scoring import WorkerRow
from harness.runtime.inputs import ID_PATTERN
from sim.scenario import MAX_POSTS

SCHEMA_VERSION = 1
"""Version of ``results.json``'s layout (a reader refuses a newer one)."""
MAX_DAY = 100_000
"""Largest day number a run file may name (a scenario has at most 2 × 3,650 days)."""

Id = Annotated[str, pydantic.Strict(), pydantic.StringConstraints(pattern=ID_PATTERN)]
Day = Annotated[int, pydantic.Strict(), pydantic.Field(ge=1, le=MAX_DAY)]
PostNo = Annotated[int, pydantic.Strict(), pydantic.Field(ge=1, le=MAX_POSTS)]
Level = Annotated[int, pydantic.Strict(), pydantic.Field(ge=0, le=len(core.LEVEL_NAMES) - 1)]
Number = Annotated[float, pydantic.Strict(), pydantic.Field(allow_inf_nan=True)]
Bool = Annotated[bool, pydantic.Strict()]
Text = Annotated[str, pydantic.Strict()]

_FRACTION = "fraction, 0..1"
UNITS: dict[str, str] = {
    "day": "day number, 1-based: the history days first, then the evaluated days",
    "level": "hazard level, integer 0 (none) .. 4; also true_level",
    "D": "hazard degree, dimensionless: 0.2·(d_i + Σ_j g_ij·d_j) of levels 0..4; also true_D "
    "and params.tau_D",
    "Z": "on-post state, fraction 0..1 of the ρ-weighted seconds off the standard post; also "
    "params.tau_Z",
    "Y": "proficiency, dimensionless: keypoint-speed ratio to the post's standard motion "
    "(1 = standard) over 1 + its variance; null when no second counts; also params.tau_Y",
    "params.lam, params.tau_P, params.rho_min, params.alpha": _FRACTION,
    "params.eps": "speed, pixels per second (px/s)",
    "params.history_window_days": "days",
    "metrics: precision, recall, f1, auc, accuracy, value, level_accuracy": _FRACTION,
    "metrics: tp, fp, fn, tn, explained, total, n, worker_shifts, post_shifts": "counts",
    "metrics: *ci95": "[low, high] of the same unit: a 95 % two-way bootstrap interval over "
    "the evaluated days and the people",
    "timings: *_s": "seconds (wall clock)",
}
"""The units of ``results.json``'s numbers (it carries this mapping as ``units``)."""


@dataclass(frozen=True)
class PostResult:
    """One post on one evaluated shift: the model's level, D and hazard set, and the truth."""

    post: PostNo
    level: Level
    """The level the model saw (its grader)."""
    D: Number
    hazard: Bool
    """``D > τ_D``."""
    set: tuple[PostNo, ...]
    """The hazard post set S (empty when no hazard)."""
    true_level: Level | None = None
    true_D: Number | None = None
    faults: tuple[Text, ...] = ()
    """Truth: kinds of the faults at this shift change."""
    culprits: tuple[Id, ...] = ()
    """Truth: workers who caused a fault here."""
    fault_culprits: tuple[tuple[Id, ...], ...] | None = None
    """Truth: the culprits of each worker-caused fault (older files: absent)."""
    equipment_cause: Bool | None = None
    """Truth: some fault here had no human cause (equipment, environment)."""

    def worker_faults(self) -> list[list[str]]:
        """The culprits of each worker-caused fault; without ``fault_culprits`` each distinct
        culprit stands for one fault (exact for today's simulator)."""
        if self.fault_culprits is not None:
            return [list(f) for f in self.fault_culprits if f]
        return [[w] for w in self.culprits]


_STRICT: dict[str, Any] = {
    "float": Number,
    "int": Annotated[int, pydantic.Strict()],
    "bool": Bool,
    "str | None": Text | None,
}
"""The type ``results.json`` checks for each type of :class:`sim.Traits`' fields."""

WorkerTraits = dataclasses.make_dataclass(
    "WorkerTraits", [(f.name, _STRICT[f.type]) for f in dataclasses.fields(sim.Traits)], frozen=True
)
WorkerTraits.__module__ = __name__
WorkerTraits.__doc__ = """What the roster says of a worker-shift, and its effective traits
(truth): the fields of :class:`sim.Traits`, checked strictly."""


@dataclass(frozen=True)
class WorkerResult:
    """One worker-shift: Z, Y, the flags, and the truth."""

    worker: Id
    post: PostNo
    Z: Number
    Y: Number | None
    """None when no second counts (K empty)."""
    management: Bool
    """``Z > τ_Z``."""
    training: Bool
    """``Y < τ_Y``."""
    checked: Bool
    """The worker's post is in some hazard set."""
    profile: Text | None = None
    needs_management: Bool | None = None
    needs_training: Bool | None = None
    roster: WorkerTraits | None = None
    """Absent where the source knows no roster."""


@dataclass(frozen=True)
class CauseResult:
    """One root-cause decision, :class:`core.RootCause` as ``results.json`` keeps it: its fields
    but the flagged worker's Z and Y, which the worker's :class:`WorkerResult` holds (a test
    keeps the two in step). Built by :meth:`of`."""

    hazard_post: PostNo
    post: PostNo
    worker: Id
    reasons: tuple[Text, ...]
    """``off_post`` (strengthen management) and/or ``low_proficiency`` (off-post training)."""

    @classmethod
    def of(cls, cause: core.RootCause) -> CauseResult:
        """The record of the model's decision: its fields of the same names."""
        return cls(**{name: getattr(cause, name) for name in _CAUSE_FIELDS})


_CAUSE_FIELDS = tuple(f.name for f in dataclasses.fields(CauseResult))
"""The fields a :class:`CauseResult` takes from :class:`core.RootCause` (read once)."""


@dataclass(frozen=True)
class ShiftResult:
    """One evaluated shift of the line: its posts, workers and root-cause decisions."""

    day: Day
    shift: Id
    posts: tuple[PostResult, ...]
    workers: tuple[WorkerResult, ...]
    root_causes: tuple[CauseResult, ...]
    equipment_causes: tuple[PostNo, ...] = ()

    @functools.cached_property
    def named_at(self) -> dict[int, set[str]]:
        """The workers the model names, per hazard post."""
        out: dict[int, set[str]] = {}
        for c in self.root_causes:
            out.setdefault(c.hazard_post, set()).add(c.worker)
        return out

    @functools.cached_property
    def named(self) -> set[str]:
        """The workers the model names a root cause of some hazard post."""
        return {c.worker for c in self.root_causes}

    @functools.cached_property
    def culprits(self) -> set[str]:
        """Truth: the workers who caused a fault in the shift."""
        return {w for p in self.posts for w in p.culprits}

    def without_truth(self) -> ShiftResult:
        """The record as a plant without labels has it: no truth (null, lists empty)."""
        bare = {"true_level": None, "true_D": None, "faults": (), "culprits": (),
                "fault_culprits": (), "equipment_cause": None}  # fmt: skip
        return dataclasses.replace(
            self,
            posts=tuple(dataclasses.replace(p, **bare) for p in self.posts),
            workers=tuple(
                dataclasses.replace(w, profile=None, needs_management=None, needs_training=None)
                for w in self.workers
            ),
        )

    def check(self) -> None:
        """Every root cause names a hazard post of this shift, a post of its set and a worker
        of the shift (so a report links only what exists).

        Raises:
            ValueError: naming the first that does not.
        """
        posts = {p.post: p for p in self.posts}
        workers = {w.worker for w in self.workers}
        for k, c in enumerate(self.root_causes):
            hazard = posts.get(c.hazard_post)
            if hazard is None or not hazard.hazard:
                raise ValueError(f"root_causes[{k}].hazard_post {c.hazard_post} is not a hazard "
                                 f"post of day {self.day} {self.shift}")  # fmt: skip
            if c.post not in hazard.set:
                raise ValueError(f"root_causes[{k}].post {c.post} is not in the hazard set "
                                 f"{list(hazard.set)} of post {c.hazard_post}")  # fmt: skip
            if c.worker not in workers:
                raise ValueError(f"root_causes[{k}].worker {c.worker!r} did not work this shift")

    def to_json(self) -> dict[str, Any]:
        """The shift's entry of ``results.json``'s ``shifts``."""
        return {
            "day": self.day,
            "shift": self.shift,
            "posts": [_post_json(p) for p in self.posts],
            "workers": [_worker_json(w) for w in self.workers],
            "root_causes": [
                {**dataclasses.asdict(c), "reasons": list(c.reasons)} for c in self.root_causes
            ],
            "equipment_causes": list(self.equipment_causes),
        }


def _post_json(p: PostResult) -> dict[str, Any]:
    out = {
        "post": p.post, "level": p.level, "true_level": p.true_level, "D": p.D,
        "true_D": p.true_D, "hazard": p.hazard, "set": list(p.set), "faults": list(p.faults),
        "culprits": list(p.culprits),
    }  # fmt: skip
    if p.fault_culprits is not None:
        out["fault_culprits"] = [list(f) for f in p.fault_culprits]
    out["equipment_cause"] = p.equipment_cause
    return out


def _worker_json(w: WorkerResult) -> dict[str, Any]:
    out = {
        "worker": w.worker, "post": w.post, "Z": w.Z, "Y": w.Y, "management": w.management,
        "training": w.training, "checked": w.checked, "profile": w.profile,
        "needs_management": w.needs_management, "needs_training": w.needs_training,
    }  # fmt: skip
    if w.roster is not None:
        out.update(dataclasses.asdict(w.roster))
    return out


ROSTER_KEYS = tuple(f.name for f in dataclasses.fields(WorkerTraits))
"""The worker keys of ``results.json`` that :class:`WorkerTraits` holds."""


@dataclass(frozen=True)
class RunResult:
    """A whole run: what it ran, with what, its shift results and their metrics."""

    scenario: Text
    seed: Annotated[int, pydantic.Strict()]
    fidelity: Text
    params: dict[str, Any]
    shifts: tuple[ShiftResult, ...]
    metrics: dict[str, Any]
    graders: dict[str, Any] = dataclasses.field(default_factory=dict)
    perception: dict[str, Any] = dataclasses.field(default_factory=dict)
    mlflow_run_id: str | None = None
    code: dict[str, Any] = dataclasses.field(default_factory=dict)
    timings: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def days(self) -> list[int]:
        """The evaluated days, sorted."""
        return sorted({s.day for s in self.shifts})

    def to_json(self) -> dict[str, Any]:
        """``results.json``: the results, the schema version and the units."""
        return {
            "schema_version": SCHEMA_VERSION,
            "scenario": self.scenario,
            "seed": self.seed,
            "fidelity": self.fidelity,
            "params": self.params,
            "graders": self.graders,
            "perception": self.perception,
            "mlflow_run_id": self.mlflow_run_id,
            "code": self.code,
            "shifts": [s.to_json() for s in self.shifts],
            "metrics": self.metrics,
            "units": UNITS,
            "timings": self.timings,
        }

    @classmethod
    def from_json(cls, data: Any) -> RunResult:
        """A ``results.json`` read back, checked.

        Raises:
            pydantic.ValidationError: a key missing or of the wrong type.
            ValueError: a newer schema, or a root cause that names what the shift lacks.
        """
        if isinstance(data, dict):
            version = data.get("schema_version", SCHEMA_VERSION)
            if type(version) is not int or not 0 < version <= SCHEMA_VERSION:
                raise ValueError(
                    f"schema_version must be an integer 1..{SCHEMA_VERSION} (this version of "
                    f"hazard-harness), got {version!r:.20}"
                )
            data = {**data, "shifts": [_nested(s) for s in data.get("shifts", ())]}
        run = _RUN.validate_python(data)
        try:
            core.ModelParams.from_dict(run.params)
        except (core.ModelInputError, TypeError, OverflowError) as exc:
            raise ValueError(f"params: {exc}") from None
        for k, s in enumerate(run.shifts):
            try:
                s.check()
            except ValueError as exc:
                raise ValueError(f"shifts.{k}: {exc}") from None
        return run


def _nested(shift: Any) -> Any:
    """A shift of ``results.json`` with each worker's roster keys gathered under ``roster``."""
    if not isinstance(shift, dict) or not isinstance(shift.get("workers"), list):
        return shift
    workers = []
    for w in shift["workers"]:
        if isinstance(w, dict) and any(k in w for k in ROSTER_KEYS):
            w = {**w, "roster": {k: w.get(k) for k in ROSTER_KEYS}}
        workers.append(w)
    return {**shift, "workers": workers}


_RUN = pydantic.TypeAdapter(RunResult)
SHIFTS = pydantic.TypeAdapter(list[ShiftResult])
"""Validates ``results.json`` shift entries (without the run around them)."""


def shifts_from_json(data: Sequence[Any]) -> list[ShiftResult]:
    """Shift entries of ``results.json`` as results (tests, hand-made results)."""
    return SHIFTS.validate_python([_nested(s) for s in data])


def _roster(spec: sim.WorkerSpec | None) -> WorkerTraits | None:
    """What a run says of who worked: the roster's facts and the effective traits."""
    return None if spec is None else WorkerTraits(**{k: getattr(spec, k) for k in ROSTER_KEYS})


def shift_result(
    day: int,
    shift: str,
    table: core.RootCauseTable,
    true_D: np.ndarray,
    states: tuple[sim.PostState, ...],
    rows: Sequence[WorkerRow],
) -> ShiftResult:
    """One shift's record from the model's table and the truth."""
    truth = {r.worker: r for r in rows}
    return ShiftResult(
        day=day,
        shift=shift,
        posts=tuple(
            PostResult(
                post=s.post,
                level=int(table.levels[s.post - 1]),
                true_level=int(s.true_level),
                D=float(table.D[s.post - 1]),
                true_D=float(true_D[s.post - 1]),
                hazard=s.post in table.sets,
                set=tuple(table.sets.get(s.post, ())),
                faults=tuple(f.kind for f in s.faults),
                culprits=tuple(s.culprits),
                fault_culprits=tuple(tuple(f.culprits) for f in s.faults if f.culprits),
                equipment_cause=bool(s.equipment_cause),
            )
            for s in states
        ),
        workers=tuple(
            WorkerResult(
                worker=d.worker,
                post=d.post,
                Z=d.Z,
                Y=None if math.isnan(d.Y) else d.Y,
                management=d.management,
                training=d.training,
                checked=d.checked,
                profile=truth[d.worker].profile,
                needs_management=truth[d.worker].needs_management,
                needs_training=truth[d.worker].needs_training,
                roster=_roster(truth[d.worker].spec),
            )
            for d in table.workers
        ),
        root_causes=tuple(CauseResult.of(c) for c in table.root_causes),
        equipment_causes=tuple(table.equipment_causes),
    )


Run3 = Annotated[list[Number], pydantic.Field(min_length=3, max_length=3)]
"""``[start_s, length_s, value]``: a run of equal values of a per-second record."""


@pydantic.with_config(pydantic.ConfigDict(strict=True))
class EvidenceHistory(TypedDict):
    """The post database's own Z and Y against itself: the distribution a worker is shown
    against (:func:`harness.evaluation.evidence.database_scores`)."""

    Z: list[Number | None]
    Y: list[Number | None]
    Z_median: Number | None
    Z_p90: Number | None
    Y_median: Number | None
    Y_p10: Number | None


@pydantic.with_config(pydantic.ConfigDict(strict=True))
class EvidenceBins(TypedDict):
    """Per-minute series of a worker-shift (an all-NaN minute is None)."""

    t_min: list[Number]
    rho: list[Number | None]
    off_post: list[Number | None]
    k_share: list[Number | None]
    qbar: list[Number | None]
    var: list[Number | None]


@pydantic.with_config(pydantic.ConfigDict(strict=True))
class EvidenceDatabase(TypedDict):
    """The post database a worker-shift was scored against."""

    records: int
    """Worker-shifts the database holds (evidence.json's key)."""
    days: list[int]
    pool: str


@pydantic.with_config(pydantic.ConfigDict(strict=True))
class Evidence(TypedDict):
    """The evidence behind one worker-shift's Z and Y: an entry of ``evidence.json``, what its
    decision page shows (built by :func:`harness.evaluation.evidence.worker_evidence`)."""

    worker: Id
    post: PostNo
    day: Day
    shift: Id
    Z: Number
    Y: Number | None
    tau_Z: Number
    tau_Y: Number
    rho_min: Number
    T: int
    rate_hz: Number
    positions: list[Run3]
    """The position record ``x_t`` as runs."""
    standard: list[Run3]
    """The standard post ``s_t`` as runs."""
    offpost_minutes: Number
    bins: EvidenceBins
    dwell_s: list[Number]
    history: EvidenceHistory
    database: EvidenceDatabase
