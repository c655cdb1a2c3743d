"""``hazard-harness report``: rebuild a run's HTML report from its folder or MLflow run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import pydantic

import core
from harness.commands import preflight
from harness.outputs import staging
from harness.outputs.report import EVIDENCE, HEADLINE, decision_anchor, write_report
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import ID_PATTERN, check_id, read_regular
from harness.runtime.settings import connect_timeout
from sim.scenario import MAX_POSTS

MAX_RUN_FILE_BYTES = 1 << 30
"""Largest ``results.json`` or ``evidence.json`` read (a year of a large line is ~100 MB)."""


MAX_DAY = 100_000
"""Largest day number a run file may name (a scenario has at most 2 × 3,650 days)."""
_Id = Annotated[str, pydantic.StringConstraints(pattern=ID_PATTERN)]
_Day = Annotated[int, pydantic.Field(ge=1, le=MAX_DAY)]
_PostNo = Annotated[int, pydantic.Field(ge=1, le=MAX_POSTS)]
_Level = Annotated[int, pydantic.Field(ge=0, le=len(core.LEVEL_NAMES) - 1)]
_Number = Annotated[float, pydantic.Field(allow_inf_nan=True)]


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)


class _Post(_Strict):
    post: _PostNo
    level: _Level
    true_level: _Level
    D: _Number
    true_D: _Number
    hazard: bool
    set: list[_PostNo]
    faults: list[str]
    culprits: list[_Id]


class _Worker(_Strict):
    worker: _Id
    post: _PostNo
    Z: _Number
    Y: _Number | None
    management: bool
    training: bool
    checked: bool


class _Cause(_Strict):
    hazard_post: _PostNo
    post: _PostNo
    worker: _Id
    reasons: list[str]


class _Shift(_Strict):
    day: _Day
    shift: _Id
    posts: list[_Post]
    workers: list[_Worker]
    root_causes: list[_Cause]
    equipment_causes: list[_PostNo]

    @pydantic.model_validator(mode="after")
    def _causes_name_this_shift(self) -> _Shift:
        """Every root cause names a hazard post of this shift, a post of its set, a worker of
        the shift (so the report links only what exists)."""
        posts = {p.post: p for p in self.posts}
        workers = {w.worker for w in self.workers}
        for k, c in enumerate(self.root_causes):
            hazard = posts.get(c.hazard_post)
            if hazard is None or not hazard.hazard:
                raise ValueError(f"root_causes[{k}].hazard_post {c.hazard_post} is not a hazard "
                                 f"post of day {self.day} {self.shift}")  # fmt: skip
            if c.post not in hazard.set:
                raise ValueError(f"root_causes[{k}].post {c.post} is not in the hazard set "
                                 f"{hazard.set} of post {c.hazard_post}")  # fmt: skip
            if c.worker not in workers:
                raise ValueError(f"root_causes[{k}].worker {c.worker!r} did not work this shift")
        return self


_Pair = Annotated[list[_Number | None], pydantic.Field(min_length=2, max_length=2)]
_Run = Annotated[list[_Number], pydantic.Field(min_length=3, max_length=3)]


class _Ci(_Strict):
    value: _Pair | None


def _check_headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The report's headline figures are numbers (or null) and their intervals pairs."""
    for name, path, ci in HEADLINE:
        value = metrics
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"{'.'.join(path)} ({name}) must be a number, got {value!r:.40}")
        group = metrics.get(path[0]) if len(path) > 1 else metrics
        if ci and isinstance(group, dict):
            _Ci(value=group.get(ci))
    confusion = metrics.get("level_confusion")
    size = len(core.LEVEL_NAMES)
    if not (isinstance(confusion, list) and len(confusion) == size and all(
            isinstance(r, list) and len(r) == size and all(type(v) is int for v in r)
            for r in confusion)):  # fmt: skip
        raise ValueError(f"level_confusion must be {size} × {size} counts")
    return metrics


class _Results(_Strict):
    """The parts of ``results.json`` the report reads, typed (extra keys are allowed)."""

    scenario: str
    seed: int
    fidelity: str
    params: dict[str, Any]
    shifts: list[_Shift]
    metrics: Annotated[dict[str, Any], pydantic.AfterValidator(_check_headline)]

    @pydantic.field_validator("params")
    @classmethod
    def _model_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        try:
            core.ModelParams.from_dict(params)
        except (core.ModelInputError, TypeError, OverflowError) as exc:
            raise ValueError(str(exc)) from None
        return params


class _History(_Strict):
    Z: list[_Number | None]
    Y: list[_Number | None]
    Z_median: _Number | None
    Z_p90: _Number | None
    Y_median: _Number | None
    Y_p10: _Number | None


class _Bins(_Strict):
    t_min: list[_Number]
    rho: list[_Number | None]
    off_post: list[_Number | None]
    k_share: list[_Number | None]
    qbar: list[_Number | None]
    var: list[_Number | None]


class _Database(_Strict):
    records: int
    days: list[int]
    pool: str


class _Evidence(_Strict):
    """The keys of an ``evidence.json`` entry the decision pages read (extra keys allowed)."""

    worker: _Id
    post: _PostNo
    day: _Day
    shift: _Id
    Z: _Number
    Y: _Number | None
    tau_Z: _Number
    tau_Y: _Number
    rho_min: _Number
    T: int
    positions: list[_Run]
    standard: list[_Run]
    offpost_minutes: _Number
    bins: _Bins
    dwell_s: list[_Number]
    history: _History
    database: _Database


def _validated(model: Any, data: Any, path: Path, what: str) -> None:
    try:
        model.validate_python(data)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        got = f"; got {first['input']!r:.60}" if first["type"] != "value_error" else ""
        raise HarnessError(
            f"{str(path)!r} is not {what} of hazard-harness: {where}: "
            f"{first['msg'].removeprefix('Value error, ')}{got}"
            f" ({exc.error_count()} problem(s))"
        ) from None


_RESULTS = pydantic.TypeAdapter(_Results)
_EVIDENCE = pydantic.TypeAdapter(list[_Evidence])


def _read_json(path: Path, *, what: str) -> Any:
    try:
        return json.loads(read_regular(path, what=what, max_bytes=MAX_RUN_FILE_BYTES))
    except UnicodeDecodeError as exc:
        raise HarnessError(f"{what} {str(path)!r} is not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{what} {str(path)!r} is not valid JSON: {exc}") from None
    except RecursionError:
        raise HarnessError(f"{what} {str(path)!r} is nested too deeply") from None


def read_results(path: Path) -> dict[str, Any]:
    """A run's ``results.json``; a missing, unreadable or malformed one is a HarnessError."""
    results = _read_json(path, what="results file")
    _validated(_RESULTS, results, path, "a results.json")
    return results


def read_evidence(path: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's ``evidence.json`` (none: ``[]``), each entry a worker-shift of ``results``."""
    if not path.exists():
        return []
    evidence = _read_json(path, what="evidence file")
    _validated(_EVIDENCE, evidence, path, "an evidence.json")
    worked = {(rec["day"], rec["shift"], w["worker"]) for rec in results["shifts"]
              for w in rec["workers"]}  # fmt: skip
    for k, e in enumerate(evidence):
        if (e["day"], e["shift"], e["worker"]) not in worked:
            raise HarnessError(
                f"{str(path)!r}: entry {k} (day {e['day']}, shift {e['shift']!r}, worker "
                f"{e['worker']!r}) is no worker-shift of the run's results.json"
            )
    return evidence


def rebuild_report(
    source: str,
    *,
    out: Path | None = None,
    timeout: float | None = None,
    worker: str | None = None,
    cache_dir: Path | None = None,
) -> tuple[Path, list[str]]:
    """Rebuild plots and ``report.html`` (with its evidence) from a run folder or MLflow run.

    With ``worker``, also the evidence of every shift that worker worked, recomputed from the
    run's scenario, parameters and the cached records (rebuilt if missing).

    Returns:
        The report's path, and the anchors of ``worker``'s evidence sections (else none).
    """
    folder = Path(source)
    if folder.is_dir():
        results_path = folder / staging.RESULTS
        if not results_path.is_file():
            raise HarnessError(f"{source!r} holds no {staging.RESULTS}: is it a run folder?")
        target = Path(out) if out else folder
        fetch = None
    else:
        if folder.exists():
            raise HarnessError(f"{source!r} is a file; give a run folder or an MLflow run id")
        if "/" in source or source.startswith("."):
            raise HarnessError(f"{source!r} is no run folder, and not an MLflow run id either")
        from harness.adapters.mlflow_tracking import download_artifact

        preflight.check_tracking(connect_timeout(timeout))
        results_path = download_artifact(source, staging.RESULTS, Path(tempfile.mkdtemp()))
        target = Path(out) if out else Path(f"report-{source}")

        def fetch(name: str) -> None:
            download_artifact(source, name, results_path.parent, missing_ok=True)

    preflight.check_writable(target, option="--out")
    results = read_results(results_path)
    if worker is not None:
        check_id(worker, what="--worker")
    if fetch is not None:
        fetch(EVIDENCE)
    evidence = read_evidence(results_path.with_name(EVIDENCE), results)
    anchors: list[str] = []
    if worker is not None:
        if fetch is not None:
            fetch("scenario.yaml")
        scenario_path = results_path.with_name("scenario.yaml")
        evidence = _merge(evidence, evidence_for(results, scenario_path, worker, cache_dir))
        mine = sorted((e["day"], e["shift"]) for e in evidence if e["worker"] == worker)
        anchors = [decision_anchor(day, shift, worker) for day, shift in mine]
    target.mkdir(parents=True, exist_ok=True)
    return write_report(results, target, evidence), anchors


def evidence_for(
    results: dict[str, Any], scenario_path: Path, worker: str, cache_dir: Path | None
) -> list[dict[str, Any]]:
    """The evidence of ``worker`` on every shift of the run it worked (see the pipeline)."""
    import core
    import sim
    from harness.evaluation.fidelities import Fidelities
    from harness.evaluation.history import records_root, stored_days
    from harness.evaluation.pixels import weights_sha256
    from harness.evaluation.scoring import worker_evidence_of
    from harness.runtime.inputs import load_scenario_file
    from harness.runtime.settings import cache_dir as resolve_cache

    shifts = [(rec["day"], rec["shift"], w["post"]) for rec in results["shifts"]
              for w in rec["workers"] if w["worker"] == worker]  # fmt: skip
    if not shifts:
        known = sorted({w["worker"] for rec in results["shifts"] for w in rec["workers"]})
        raise HarnessError(f"--worker {worker!r} worked no shift of this run; workers: {known}")
    if not scenario_path.is_file():
        raise HarnessError(f"{str(scenario_path)!r} is missing: --worker needs the run's scenario")
    scenario = load_scenario_file(scenario_path).model_copy(
        update={"fidelity": results["fidelity"]}
    )
    params = core.ModelParams.from_dict(results["params"])
    fidelities = Fidelities.of_results(results)
    if fidelities.uses_pixels:
        recorded = str((results.get("perception") or {}).get("keypoint_weights_sha256") or "")
        weights = Path(fidelities.weights or "")
        if not recorded or not weights.is_file() or weights_sha256(weights) != recorded:
            raise HarnessError(
                f"--worker needs the run's keypoint weights {fidelities.weights!r} "
                f"(sha256 {recorded[:12] or 'not recorded'}): missing or changed since the run"
            )
    history = fidelities.history_source()
    root = records_root(scenario, resolve_cache(cache_dir), history)
    store = sim.HistoryStore(root)
    sim.build_history(scenario, store, posts=sorted({p for *_, p in shifts}),
                      days=stored_days(scenario), workers=history)  # fmt: skip
    source = fidelities.evaluation_source()
    return worker_evidence_of(scenario, str(root), params, worker, shifts, source)


def _merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = {(e["day"], e["shift"], e["worker"]) for e in new}
    return [e for e in old if (e["day"], e["shift"], e["worker"]) not in keys] + new


def _day_ranges(days: list[int]) -> str:
    """``[31, 32, 33, 35]`` → ``"31–33, 35"``."""
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def sources_lines(results: dict[str, Any]) -> list[str]:
    """Where a run's hazard levels and worker speeds and areas came from, in words."""
    g = results.get("graders") or {}
    source = g.get("source")
    if source == "on_demand":
        f1 = [s["test"] for s in (g.get("posts") or {}).values() if s.get("test") is not None]
        held = f" (held-out macro-F1 {min(f1):.2f}–{max(f1):.2f})" if f1 else ""
        levels = f"grading DNNs trained on demand by the fixed recipe, cached{held}"
    elif source == "registry":
        versions = ", ".join(f"{p}: v{v['version']}" for p, v in (g.get("posts") or {}).items())
        levels = f"registered grading DNNs (post: version {versions})"
    elif source == "records":
        levels = "the records folder's levels (levels.parquet)"
    else:
        levels = "the true hazard levels (--graders truth: a perfect grader)"
    p = results.get("perception") or {}
    if p.get("source") == "records":
        labels = "with labels" if p.get("labelled") else "without labels: metrics unavailable"
        return [f"levels:  {levels}", f"speeds and areas: records folder {p['folder']} ({labels})"]
    evaluated = p.get("evaluated_days") or {}
    net = ""
    if p.get("keypoint_weights_sha256"):
        name, sha = Path(p["keypoint_weights"]).name, p["keypoint_weights_sha256"][:12]
        net = f" (keypoint network {name} {sha})"
    parts = []
    if evaluated.get("pixel"):
        parts.append(f"pixel path{net} on day(s) {_day_ranges(evaluated['pixel'])}")
    if evaluated.get("signal"):
        parts.append(f"signal model on day(s) {_day_ranges(evaluated['signal'])}")
    history = "pixel path" if p.get("history") == "pixel" else "signal model"
    return [
        f"levels:  {levels}",
        f"speeds and areas: {'; '.join(parts) or 'n/a'}; post databases: {history}",
    ]
