"""``hazard-harness report``: rebuild a run's HTML report from its folder or MLflow run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pydantic

from harness import outputs, preflight
from harness._errors import HarnessError
from harness.report import EVIDENCE, decision_anchor, write_report
from harness.settings import connect_timeout


class _Post(pydantic.BaseModel):
    post: int
    level: int
    true_level: int
    D: float
    true_D: float
    hazard: bool
    set: list[int]
    faults: list[str]
    culprits: list[str]


class _Worker(pydantic.BaseModel):
    worker: str
    post: int
    Z: float
    Y: float | None
    management: bool
    training: bool
    checked: bool


class _Cause(pydantic.BaseModel):
    hazard_post: int
    post: int
    worker: str
    reasons: list[str]


class _Shift(pydantic.BaseModel):
    day: int
    shift: str
    posts: list[_Post]
    workers: list[_Worker]
    root_causes: list[_Cause]
    equipment_causes: list[int]


class _Results(pydantic.BaseModel):
    """The parts of ``results.json`` the report reads, typed (extra keys are allowed)."""

    scenario: str
    seed: int
    fidelity: str
    params: dict[str, Any]
    shifts: list[_Shift]
    metrics: dict[str, Any]


def read_results(path: Path) -> dict[str, Any]:
    """A run's ``results.json``; a missing, unreadable or malformed one is a HarnessError."""
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"cannot read {str(path)!r}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{str(path)!r} is not valid JSON: {exc}") from None
    try:
        _Results.model_validate(results)
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise HarnessError(
            f"{str(path)!r} is not a results.json of hazard-harness: {where}: {first['msg']}"
            f" ({exc.error_count()} problem(s))"
        ) from None
    return results


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
        results_path = folder / outputs.RESULTS
        if not results_path.is_file():
            raise HarnessError(f"{source!r} holds no {outputs.RESULTS}: is it a run folder?")
        target = Path(out) if out else folder
        fetch = None
    else:
        if folder.exists():
            raise HarnessError(f"{source!r} is a file; give a run folder or an MLflow run id")
        from harness.tracking import download_artifact

        preflight.check_tracking(connect_timeout(timeout))
        results_path = download_artifact(source, outputs.RESULTS, Path(tempfile.mkdtemp()))
        target = Path(out) if out else Path(f"report-{source}")

        def fetch(name: str) -> None:
            download_artifact(source, name, results_path.parent, missing_ok=True)

    preflight.check_writable(target, option="--out")
    results = read_results(results_path)
    target.mkdir(parents=True, exist_ok=True)
    if fetch is not None:
        fetch(EVIDENCE)
    evidence_path = results_path.with_name(EVIDENCE)
    evidence = json.loads(evidence_path.read_text()) if evidence_path.is_file() else []
    anchors: list[str] = []
    if worker is not None:
        if fetch is not None:
            fetch("scenario.yaml")
        scenario_path = results_path.with_name("scenario.yaml")
        evidence = _merge(evidence, evidence_for(results, scenario_path, worker, cache_dir))
        mine = sorted((e["day"], e["shift"]) for e in evidence if e["worker"] == worker)
        anchors = [decision_anchor(day, shift, worker) for day, shift in mine]
    return write_report(results, target, evidence), anchors


def evidence_for(
    results: dict[str, Any], scenario_path: Path, worker: str, cache_dir: Path | None
) -> list[dict[str, Any]]:
    """The evidence of ``worker`` on every shift of the run it worked (see the pipeline)."""
    import core
    import sim
    from harness.inputs import load_scenario_file
    from harness.pipeline import records_root, stored_days, worker_evidence_of
    from harness.settings import cache_dir as resolve_cache
    from harness.sources import Fidelities, weights_sha256

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
