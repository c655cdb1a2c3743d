"""``hazard-harness run``: a scenario (simulated) or a records folder (a plant's recorded
shifts, :mod:`harness.records`) through the model, scored and logged."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import core
import sim
from harness import records
from harness.adapters.mlflow_tracking import log_metrics, source_version
from harness.adapters.ray_cluster import RaySession
from harness.commands import preflight
from harness.commands.context import command_context
from harness.evaluation.fidelities import Fidelities
from harness.evaluation.graders import AUTO, GraderPlan, levels_source, parse_spec, plan
from harness.evaluation.history import ensure_records
from harness.evaluation.line import decide_shifts, simulated_states
from harness.evaluation.metrics import run_metrics
from harness.evaluation.results import RunRecord, ShiftRecord
from harness.evaluation.scoring import group_by_shift, score_posts
from harness.outputs import report, tables
from harness.runtime import settings, staging
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import load_params, load_scenario_file
from harness.runtime.storage import Location, is_uri
from harness.weights import DEFAULT_KEYPOINT_WEIGHTS


@dataclass(frozen=True)
class RunConfig:
    """Everything ``run`` needs, checked before any work starts."""

    scenario_path: Path | Location
    """The scenario YAML file, or the records folder (local or on object storage)."""
    scenario: sim.Scenario
    """The validated scenario (fidelity already overridden)."""
    params: core.ModelParams
    """Model parameters (MODEL.md defaults unless a params file was given)."""
    out_dir: Path | Location
    """Where results.json, tables, plots and the report go (a local folder or a prefix on
    object storage)."""
    compute: preflight.Compute
    """Where the Ray work runs."""
    cache_dir: Location
    """History stores, keyed by scenario content and code version (local or object storage)."""
    fidelities: Fidelities
    """Where the evaluated days' and the history's records come from."""
    graders: GraderPlan
    """Where the levels come from (``--graders``, resolved)."""
    params_path: Path | None = None
    """The params file given, if any (named in the MLflow run name)."""
    records: records.Records | None = None
    """The records folder when SOURCE is one (its manifest's line stands in for a scenario)."""


def make_config(
    scenario_path: str | Path,
    out_dir: str | Path,
    *,
    fidelity: str | None = None,
    params_path: str | Path | None = None,
    address: str | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    cache_dir: str | Path | None = None,
    keypoint_weights: str | Path | None = None,
    progress: bool = True,
    graders: str = AUTO,
    history_fidelity: str = "signal",
    pixel_days: int = 0,
) -> RunConfig:
    """Check every input of a run before any work; raises :class:`HarnessError` with the reason.

    ``scenario_path`` is a scenario YAML or a records folder (it holds ``records.json``).
    ``graders`` is ``--graders`` (see :mod:`harness.evaluation.graders`); every registered version
    it names must exist. ``history_fidelity`` makes the stored records; ``pixel_days`` sends the
    first evaluated days of a signal run through the pixel path.
    """
    if is_uri(str(scenario_path)) or records.is_records(scenario_path):
        simulated = {"--fidelity": fidelity is not None, "--pixel-days": bool(pixel_days),
                     "--history-fidelity": history_fidelity != "signal",
                     "--keypoint-weights": keypoint_weights is not None}  # fmt: skip
        for option, given in simulated.items():
            if given:
                raise HarnessError(f"{option} applies to a scenario; {str(scenario_path)!r} is "
                                   "a records folder (its arrays are recorded)")  # fmt: skip
        cache = settings.cache_dir(cache_dir)
        recorded = records.load(scenario_path)
        recorded.check_graders(graders)
        scenario = recorded.scenario
        out, where = preflight.checked(
            out_dir, cache=cache, scenario=scenario, address=address, workers=workers,
            timeout=timeout, progress=progress,
        )  # fmt: skip
        return RunConfig(
            scenario_path=recorded.manifest.folder, scenario=scenario,
            params=load_params(params_path), out_dir=out, compute=where, cache_dir=cache,
            fidelities=Fidelities(evaluate="signal"), graders=GraderPlan("truth", graders),
            params_path=Path(params_path) if params_path else None, records=recorded,
        )  # fmt: skip
    scenario = load_scenario_file(scenario_path)
    if fidelity is not None:
        if fidelity not in settings.FIDELITIES:
            raise HarnessError(f"--fidelity must be one of {settings.FIDELITIES}, got {fidelity!r}")
        scenario = scenario.model_copy(update={"fidelity": fidelity})
    if history_fidelity not in settings.FIDELITIES:
        raise HarnessError(
            f"--history-fidelity must be one of {settings.FIDELITIES}, got {history_fidelity!r}"
        )
    days = list(scenario.evaluate_days)
    if isinstance(pixel_days, bool) or not isinstance(pixel_days, int) or pixel_days < 0:
        raise HarnessError(f"--pixel-days must be an integer >= 0, got {pixel_days!r}")
    if pixel_days > len(days):
        raise HarnessError(
            f"--pixel-days must be at most the {len(days)} evaluated days, got {pixel_days}"
        )
    if pixel_days and scenario.fidelity == "pixel":
        raise HarnessError("--pixel-days applies to fidelity signal; this run is all pixel")
    params = load_params(params_path)
    cache = settings.cache_dir(cache_dir)
    fidelities = Fidelities(
        evaluate=scenario.fidelity,
        history=history_fidelity,
        pixel_days=frozenset(days[:pixel_days]),
        weights=str(Path(keypoint_weights) if keypoint_weights else DEFAULT_KEYPOINT_WEIGHTS),
        alpha=params.alpha,
    )
    if fidelities.uses_pixels:
        from harness.evaluation.pixels import check_keypoint_weights  # torch: only with pixels

        check_keypoint_weights(fidelities.weights)
    parse_spec(graders, scenario.n_posts)
    out, where = preflight.checked(out_dir, cache=cache, scenario=scenario, address=address,
                                   workers=workers, timeout=timeout, progress=progress)  # fmt: skip
    return RunConfig(
        scenario_path=Path(scenario_path),
        scenario=scenario,
        params=params,
        out_dir=out,
        compute=where,
        cache_dir=cache,
        fidelities=fidelities,
        graders=plan(graders, scenario),
        params_path=Path(params_path) if params_path else None,
    )


@dataclass(frozen=True)
class Evaluation:
    """What a run computed: the shift records, where the levels came from, the evidence."""

    records: list[ShiftRecord]
    """The shift records."""
    graders: dict[str, Any]
    """Provenance of the levels (:meth:`harness.evaluation.graders.GraderPlan.describe`)."""
    evidence: list[dict[str, Any]]
    """The evidence of every flagged worker-shift (:mod:`harness.evaluation.evidence`)."""


def evaluate(config: RunConfig, session: RaySession) -> Evaluation:
    """Score the scenario or the records folder on Ray (already started)."""
    scenario = config.scenario
    progress = config.compute.progress
    recorded = config.records
    if recorded is not None:
        store_root, source = recorded.prepare(
            config.cache_dir, max_in_flight=session.max_in_flight, progress=progress
        )
    else:
        store_root = ensure_records(
            scenario, config.cache_dir, max_in_flight=session.max_in_flight, progress=progress,
            source=config.fidelities.history_source(),
        )  # fmt: skip
        source = config.fidelities.evaluation_source()
    by_shift = group_by_shift(
        score_posts(
            scenario,
            store_root,
            config.params,
            max_in_flight=session.max_in_flight,
            progress=progress,
            source=source,
        )
    )
    if recorded is not None:
        levels_of, provenance = recorded.levels_source(config.graders.requested)
    else:
        levels_of, provenance = levels_source(
            config.graders, scenario, config.cache_dir, max_in_flight=session.max_in_flight,
            progress=progress,
        )  # fmt: skip
    if config.graders.source == "on_demand":
        log_metrics({"graders": provenance["posts"]})
    evidence = [
        e
        for key in sorted(by_shift, key=lambda k: (k[0], scenario.shift_names.index(k[1])))
        for post in sorted(by_shift[key])
        for e in by_shift[key][post].evidence
    ]
    states_of = simulated_states if recorded is None else recorded.states
    shifts = decide_shifts(scenario, by_shift, config.params, levels_of=levels_of,
                           states_of=states_of)  # fmt: skip
    if recorded is not None and recorded.labels is None:
        shifts = [s.without_truth() for s in shifts]
    return Evaluation(shifts, provenance, evidence)


def run_name(config: RunConfig) -> str:
    """An MLflow run name that says what differs: scenario, fidelity, graders, params file."""
    if config.records is not None:
        levels = "true-levels" if config.graders.requested == "truth" else "records-levels"
        stem = [config.params_path.stem] if config.params_path is not None else []
        return "-".join([config.scenario.name, "records", levels, *stem])
    parts = [config.scenario.name, config.scenario.fidelity]
    if config.fidelities.pixel_days:
        parts.append(f"pixel-{len(config.fidelities.pixel_days)}d")
    if config.fidelities.history == "pixel":
        parts.append("pixel-history")
    parts.append({"truth": "true-levels", "registry": "registered-graders",
                  "on_demand": "recipe-graders"}[config.graders.source])  # fmt: skip
    if config.params_path is not None:
        parts.append(config.params_path.stem)
    return "-".join(parts)


def run(config: RunConfig) -> dict[str, Any]:
    """Run, write the outputs into ``config.out_dir`` and log everything to MLflow."""
    scenario = config.scenario
    started = time.perf_counter()
    fidelity = "records" if config.records is not None else scenario.fidelity
    params = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "fidelity": fidelity,
        "history_fidelity": config.fidelities.history,
        "pixel_days": len(config.fidelities.pixel_days),
        "model": config.params.to_dict(),
        "graders": config.graders.requested,
        "params_file": str(config.params_path or ""),
    }
    with command_context(config.out_dir) as ctx:
        run_id = ctx.track(
            experiment=f"hazard-harness/{scenario.name}",
            run_name=run_name(config),
            params=params,
            command="run",
        )
        with config.compute.ray() as session:
            done = evaluate(config, session)
        recorded = config.records
        labelled = recorded is None or recorded.labels is not None
        result = RunRecord(
            scenario=scenario.name,
            seed=scenario.seed,
            fidelity=fidelity,
            params=config.params.to_dict(),
            graders=done.graders,
            perception=(
                config.fidelities.describe(scenario) if recorded is None else recorded.describe()
            ),
            mlflow_run_id=run_id,
            code=source_version(),
            shifts=tuple(done.records),
            metrics=(
                run_metrics(done.records, tau_D=config.params.tau_D, seed=scenario.seed)
                if labelled
                else records.unavailable_metrics(done.records)
            ),
            timings={"wall_s": time.perf_counter() - started},
        )
        copy = recorded.manifest.folder / records.MANIFEST if recorded else config.scenario_path
        results = write_all(result, ctx.stage, copy, done.evidence)
        log_metrics(result.metrics)
    return results


def write_all(
    result: RunRecord,
    folder: staging.Folder,
    scenario_path: Path | Location | None,
    evidence: list[dict[str, Any]],
) -> dict[str, Any]:
    """results.json, Parquet tables, the evidence, the report and a copy of the scenario (or
    of a records folder's manifest); returns results.json's content."""
    tables.write(result, folder)
    staging.write_json(folder / report.EVIDENCE, evidence)
    report.write_report(result, folder, evidence)
    if scenario_path is not None:
        name = records.MANIFEST if scenario_path.name == records.MANIFEST else "scenario.yaml"
        (folder / name).write_bytes(scenario_path.read_bytes())
    results = result.to_json()
    staging.write_json(folder / staging.RESULTS, results)
    return results
