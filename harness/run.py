"""``hazard-harness run``: a scenario through the simulator and the model, scored and logged."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import core
import sim
from harness import outputs
from harness._errors import HarnessError
from harness.execution import ray_session
from harness.metrics import run_metrics
from harness.params_file import load_params
from harness.pipeline import (
    decide_shifts,
    ensure_history,
    group_by_shift,
    score_posts,
    true_levels,
)
from harness.sources import make_source
from harness.tracking import log_metrics, sigterm_as_interrupt, tracked_run

FIDELITIES = ("signal", "pixel")
DEFAULT_KEYPOINT_WEIGHTS = Path("models/keypoints/keypoint_net.safetensors")
"""Where the pixel fidelity finds keypoint weights, under the cache folder."""


@dataclass(frozen=True)
class RunConfig:
    """Everything ``run`` needs, checked before any work starts."""

    scenario_path: Path
    """The scenario YAML file."""
    scenario: sim.Scenario
    """The validated scenario (fidelity already overridden)."""
    params: core.ModelParams
    """Model parameters (MODEL.md defaults unless a params file was given)."""
    out_dir: Path
    """Where results.json, tables, plots and the report go."""
    address: str | None = None
    """Ray cluster address (else ``RAY_ADDRESS``, else a local Ray)."""
    workers: int | None = None
    """Ray workers: local CPUs given to Ray, or tasks in flight on a cluster."""
    cache_dir: Path = Path(".hazard-cache")
    """History stores, keyed by scenario content and code version."""
    keypoint_weights: Path = Path(".hazard-cache") / "models/keypoints/keypoint_net.safetensors"
    """Keypoint-network weights of the pixel fidelity."""
    progress: bool = True
    """Show progress bars."""
    graders: dict[int, str] | None = None
    """Registered grader version per post for the levels (None: true levels)."""


def make_config(
    scenario_path: str | Path,
    out_dir: str | Path,
    *,
    fidelity: str | None = None,
    params_path: str | Path | None = None,
    address: str | None = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    keypoint_weights: str | Path | None = None,
    progress: bool = True,
    graders: str | None = None,
) -> RunConfig:
    """Validate every input of a run; raises :class:`HarnessError` with the reason.

    ``graders`` (``latest`` or ``post=version,...``) makes the levels come from the registered
    grading DNNs; every named version must exist in the registry.
    """
    scenario = load_scenario_file(scenario_path)
    if fidelity is not None:
        if fidelity not in FIDELITIES:
            raise HarnessError(f"--fidelity must be one of {FIDELITIES}, got {fidelity!r}")
        scenario = scenario.model_copy(update={"fidelity": fidelity})
    check_workers(workers)
    cache = Path(cache_dir or os.environ.get("HAZARD_HARNESS_CACHE", ".hazard-cache"))
    weights = Path(keypoint_weights) if keypoint_weights else cache / DEFAULT_KEYPOINT_WEIGHTS
    if scenario.fidelity == "pixel" and not weights.is_file():
        raise HarnessError(
            f"fidelity 'pixel' needs keypoint weights, {str(weights)!r} is missing: train them "
            f"with `hazard-harness perception train --out {weights.parent}` or pass "
            "--keypoint-weights PATH"
        )
    versions = None
    if graders is not None:
        from harness.registry import parse_graders, resolve_graders

        versions = resolve_graders(parse_graders(graders, scenario.n_posts))
    return RunConfig(
        scenario_path=Path(scenario_path),
        scenario=scenario,
        params=load_params(params_path),
        out_dir=Path(out_dir),
        address=address,
        workers=workers,
        cache_dir=cache,
        keypoint_weights=weights,
        progress=progress,
        graders=versions,
    )


def load_scenario_file(path: str | Path) -> sim.Scenario:
    """The scenario in ``path``; a bad one raises :class:`HarnessError` naming the file."""
    try:
        return sim.load_scenario(path)
    except sim.ScenarioError as exc:
        raise HarnessError(f"scenario {str(path)!r}: {exc}") from exc


def check_workers(workers: int | None) -> None:
    """Raise unless ``--workers`` is unset or >= 1."""
    if workers is not None and workers < 1:
        raise HarnessError(f"--workers must be >= 1, got {workers}")


def max_in_flight(workers: int | None) -> int:
    """Tasks kept pending: enough to keep every worker busy, few enough to bound memory."""
    return 4 * (workers or os.cpu_count() or 1)


def evaluate(config: RunConfig) -> list[dict[str, Any]]:
    """Score the scenario on Ray (already started); returns its shift records."""
    scenario = config.scenario
    in_flight = max_in_flight(config.workers)
    store_root = ensure_history(
        scenario, config.cache_dir, max_in_flight=in_flight, progress=config.progress
    )
    source = make_source(
        scenario.fidelity, weights=str(config.keypoint_weights), alpha=config.params.alpha
    )
    by_shift = group_by_shift(
        score_posts(
            scenario,
            store_root,
            config.params,
            max_in_flight=in_flight,
            progress=config.progress,
            source=source,
        )
    )
    levels_of = true_levels
    if config.graders is not None:
        from harness.grading_data import GraderLevels
        from harness.registry import load_graders

        levels_of = GraderLevels(load_graders(config.graders))
    records = decide_shifts(scenario, by_shift, config.params, levels_of=levels_of)
    return records


def run(config: RunConfig) -> dict[str, Any]:
    """Run, write the outputs into ``config.out_dir`` and log everything to MLflow."""
    scenario = config.scenario
    started = time.perf_counter()
    with sigterm_as_interrupt(), outputs.staged(config.out_dir) as staging, tracked_run(
        experiment=f"hazard-harness/{scenario.name}",
        run_name=f"run-{scenario.name}-seed{scenario.seed}",
        params={"scenario": scenario.name, "seed": scenario.seed,
                "fidelity": scenario.fidelity, "code_version": code_version(),
                "model": config.params.to_dict(),
                "graders": config.graders or "true_levels"},
        tags={"command": "run"},
    ) as run_id:  # fmt: skip
        with ray_session(address=config.address, workers=config.workers):
            records = evaluate(config)
        results = {
            "scenario": scenario.name,
            "seed": scenario.seed,
            "fidelity": scenario.fidelity,
            "params": config.params.to_dict(),
            "mlflow_run_id": run_id,
            "shifts": records,
            "metrics": run_metrics(records, tau_D=config.params.tau_D),
        }
        results["timings"] = {"wall_s": time.perf_counter() - started}
        write_all(results, staging, config.scenario_path)
        log_metrics(results["metrics"])
        import mlflow

        mlflow.log_artifacts(str(staging))
    return results


def write_all(results: dict[str, Any], folder: Path, scenario_path: Path | None) -> None:
    """results.json, Parquet tables, plots, the report and a copy of the scenario."""
    outputs.write_tables(results, folder)
    outputs.write_plots(results, folder)
    outputs.write_report(results, folder)
    if scenario_path is not None:
        shutil.copyfile(scenario_path, folder / "scenario.yaml")
    outputs.write_json(folder / outputs.RESULTS, results)


def code_version() -> str:
    """The installed distribution's version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hazard-harness")
    except PackageNotFoundError:
        return "source"
