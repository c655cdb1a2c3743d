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
from harness.adapters.mlflow_tracking import log_metrics, source_version, tracked_run
from harness.adapters.ray_cluster import RaySession
from harness.commands import preflight
from harness.commands.context import command_context
from harness.evaluation.fidelities import Fidelities
from harness.evaluation.graders import AUTO, GraderPlan, parse_spec, plan
from harness.evaluation.metrics import run_metrics
from harness.evaluation.results import RunResult
from harness.evaluation.runs import RunSource, evaluate, recorded, simulated
from harness.outputs.run_folder import write_run
from harness.runtime import settings
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import load_params, load_scenario_file
from harness.runtime.storage import Location, is_uri


@dataclass(frozen=True)
class RunConfig:
    """Everything ``run`` needs, checked before any work starts."""

    scenario_path: Path | Location
    """What the run ran, copied into its outputs: the scenario YAML file, or the records
    folder's manifest (local or on object storage)."""
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
    compute: preflight.ComputeOptions = preflight.ComputeOptions(),
    cache_dir: str | Path | None = None,
    keypoint_weights: str | Path | None = None,
    graders: str = AUTO,
    history_fidelity: str = "signal",
    pixel_days: int = 0,
) -> RunConfig:
    """Check every input of a run before any work; raises :class:`HarnessError` with the reason.

    ``scenario_path`` is a scenario YAML or a records folder (it holds ``records.json``).
    ``graders`` is ``--graders`` (see :mod:`harness.evaluation.graders`); every registered version
    it names must exist. ``history_fidelity`` makes the stored history; ``pixel_days`` sends the
    first evaluated days of a signal run through the pixel path.
    """
    cache = settings.cache_dir(cache_dir)
    params = load_params(params_path)
    folder = None
    if is_uri(str(scenario_path)) or records.is_records(scenario_path):
        for_scenarios = {"--fidelity": fidelity is not None, "--pixel-days": bool(pixel_days),
                         "--history-fidelity": history_fidelity != "signal",
                         "--keypoint-weights": keypoint_weights is not None}  # fmt: skip
        for option, given in for_scenarios.items():
            if given:
                raise HarnessError(f"{option} applies to a scenario; {str(scenario_path)!r} is "
                                   "a records folder (its arrays are recorded)")  # fmt: skip
        folder = records.load(scenario_path)
        folder.check_graders(graders)
        scenario, fidelities = folder.scenario, Fidelities(evaluate="signal")
        path = folder.manifest.folder / records.MANIFEST
    else:
        scenario, path = load_scenario_file(scenario_path), Path(scenario_path)
        fidelities = Fidelities.of_options(scenario, fidelity=fidelity, history=history_fidelity,
                                           pixel_days=pixel_days, weights=keypoint_weights,
                                           alpha=params.alpha)  # fmt: skip
        scenario = scenario.model_copy(update={"fidelity": fidelities.evaluate})
        parse_spec(graders, scenario.n_posts)
    out, where = preflight.checked(out_dir, compute, cache=cache, scenario=scenario)
    return RunConfig(
        scenario_path=path,
        scenario=scenario,
        params=params,
        out_dir=out,
        compute=where,
        cache_dir=cache,
        fidelities=fidelities,
        graders=GraderPlan("truth", graders) if folder else plan(graders, scenario),
        params_path=Path(params_path) if params_path else None,
        records=folder,
    )


def source(config: RunConfig, session: RaySession) -> RunSource:
    """The run's source as the one path asks of it: the scenario, or the records folder."""
    n, progress, cache = session.max_in_flight, config.compute.progress, config.cache_dir
    if config.records is None:
        return simulated(config.scenario, config.fidelities, config.graders, cache,
                         max_in_flight=n, progress=progress)  # fmt: skip
    return recorded(config.records, cache, config.graders.requested, max_in_flight=n,
                    progress=progress)  # fmt: skip


def run_name(config: RunConfig) -> str:
    """An MLflow run name that says what differs: scenario, fidelity, graders, params file."""
    parts = [config.scenario.name]
    if config.records is not None:
        levels = "true-levels" if config.graders.requested == "truth" else "records-levels"
        parts += ["records", levels]
    else:
        parts.append(config.scenario.fidelity)
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
            tracked_run(
                experiment=f"hazard-harness/{scenario.name}",
                run_name=run_name(config),
                params=params,
                command="run",
            )
        )
        with config.compute.ray() as session:
            given = source(config, session)
            done = evaluate(scenario, config.params, given, max_in_flight=session.max_in_flight,
                            progress=config.compute.progress)  # fmt: skip
            if config.graders.source == "on_demand":
                log_metrics({"graders": done.graders["posts"]})
        folder = config.records
        result = RunResult(
            scenario=scenario.name,
            seed=scenario.seed,
            fidelity=fidelity,
            params=config.params.to_dict(),
            graders=done.graders,
            perception=(
                config.fidelities.describe(scenario) if folder is None else folder.describe()
            ),
            mlflow_run_id=run_id,
            code=source_version(),
            shifts=tuple(done.records),
            metrics=(
                run_metrics(done.records, tau_D=config.params.tau_D, seed=scenario.seed)
                if given.labelled
                else records.unavailable_metrics(done.records)
            ),
            timings={"wall_s": time.perf_counter() - started},
        )
        results = write_run(result, ctx.stage, config.scenario_path, done.evidence)
        log_metrics(result.metrics)
    return results
