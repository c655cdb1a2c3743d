"""``hazard-harness report``: rebuild a run's HTML report from its folder or MLflow run."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from harness.commands import preflight
from harness.evaluation.results import Evidence, RunResult
from harness.evaluation.run_files import read_evidence, read_results
from harness.outputs.run_report import EVIDENCE, decision_anchor, write_report
from harness.runtime import staging
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_id
from harness.runtime.settings import connect_timeout


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
    result = read_results(results_path)
    if worker is not None:
        check_id(worker, what="--worker")
    if fetch is not None:
        fetch(EVIDENCE)
    evidence = read_evidence(results_path.with_name(EVIDENCE), result)
    anchors: list[str] = []
    if worker is not None:
        if fetch is not None:
            fetch("scenario.yaml")
        scenario_path = results_path.with_name("scenario.yaml")
        evidence = _merge(evidence, evidence_for(result, scenario_path, worker, cache_dir))
        mine = sorted((e["day"], e["shift"]) for e in evidence if e["worker"] == worker)
        anchors = [decision_anchor(day, shift, worker) for day, shift in mine]
    target.mkdir(parents=True, exist_ok=True)
    return write_report(result, target, evidence), anchors


def evidence_for(
    result: RunResult, scenario_path: Path, worker: str, cache_dir: Path | None
) -> list[Evidence]:
    """The evidence of ``worker`` on every shift of the run it worked (see the pipeline)."""
    import core
    import sim
    from harness.evaluation.fidelities import Fidelities
    from harness.evaluation.history import history_root, open_store, stored_days
    from harness.evaluation.pixels import weights_sha256
    from harness.evaluation.scoring import worker_evidence_of
    from harness.runtime.inputs import load_scenario_file
    from harness.runtime.settings import cache_dir as resolve_cache

    shifts = [(rec.day, rec.shift, w.post) for rec in result.shifts
              for w in rec.workers if w.worker == worker]  # fmt: skip
    if not shifts:
        known = sorted({w.worker for rec in result.shifts for w in rec.workers})
        raise HarnessError(f"--worker {worker!r} worked no shift of this run; workers: {known}")
    if not scenario_path.is_file():
        raise HarnessError(f"{str(scenario_path)!r} is missing: --worker needs the run's scenario")
    scenario = load_scenario_file(scenario_path).model_copy(update={"fidelity": result.fidelity})
    params = core.ModelParams.from_dict(result.params)
    fidelities = Fidelities.of_results(result.fidelity, result.perception)
    if fidelities.uses_pixels:
        recorded = str(result.perception.get("keypoint_weights_sha256") or "")
        weights = Path(fidelities.weights or "")
        if not recorded or not weights.is_file() or weights_sha256(weights) != recorded:
            raise HarnessError(
                f"--worker needs the run's keypoint weights {fidelities.weights!r} "
                f"(sha256 {recorded[:12] or 'not recorded'}): missing or changed since the run"
            )
    history = fidelities.history_source()
    root = history_root(scenario, resolve_cache(cache_dir), history)
    store = open_store(root)
    sim.build_history(scenario, store, posts=sorted({p for *_, p in shifts}),
                      days=stored_days(scenario), workers=history)  # fmt: skip
    source = fidelities.evaluation_source()
    return worker_evidence_of(scenario, str(root), params, worker, shifts, source)


def _merge(old: list[Evidence], new: list[Evidence]) -> list[Evidence]:
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
