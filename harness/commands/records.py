"""The ``records`` commands: ``records export`` and ``records check`` (no Ray, no MLflow), and
``records fit`` (a twin of the plant: Ray for the work, MLflow for the run)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import core
from harness.adapters.mlflow_tracking import log_metrics, tracked_run
from harness.commands import preflight
from harness.commands.context import command_context
from harness.outputs.fit_report import FIT_JSON, fit_json, write_fit_report
from harness.records import (
    FORMAT_VERSION,
    Records,
    check_labels,
    export_scenario,
    load,
    read_post,
)
from harness.records.fit import check_fittable, run_fit, twin_seed, validated
from harness.runtime import settings
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_writable, load_scenario_file
from harness.runtime.storage import Location
from sim.strict_yaml import parse_yaml


def export(scenario_path: str | Path, out: Path | Location) -> dict[str, Any]:
    """``records export SCENARIO --out DIR``: the scenario as a records folder (local, or on
    object storage)."""
    return export_scenario(load_scenario_file(scenario_path), out)


def check(folder: str | Path | Location) -> dict[str, Any]:
    """``records check DIR``: every check ``run`` makes, post by post in this process.

    Raises:
        RecordsError: the first problem, naming the file, the column and the rows.
    """
    recorded = load(folder)
    m = recorded.manifest
    keys = set()
    for post in range(1, m.posts + 1):
        for (day, shift), found in read_post(m, post, recorded.seconds.get(post, [])).items():
            keys.update((day, shift, post, r.worker) for r in found)
    if recorded.labels is not None:
        check_labels(m, recorded.labels, keys)
    return {
        "folder": m.folder.uri,
        "format_version": FORMAT_VERSION,
        "posts": m.posts,
        "days": m.days,
        "worker_shifts": len(keys),
        "labelled": recorded.labels is not None,
    }


@dataclass(frozen=True)
class FitConfig:
    """Everything ``records fit`` needs, checked before any work."""

    recorded: Records
    out: Path
    """The twin's scenario file."""
    report_dir: Path | Location
    """Where fit.json and fit.html go (the scenario's folder unless ``--report``)."""
    seed: int
    cache_dir: Location
    compute: preflight.Compute
    params: core.ModelParams


def make_fit_config(
    folder: str | Path | Location,
    out: str | Path,
    *,
    report: str | Path | None = None,
    seed: int | None = None,
    compute: preflight.ComputeOptions = preflight.ComputeOptions(),
    cache_dir: str | Path | None = None,
) -> FitConfig:
    """Check every input of ``records fit`` before any work (exit 2 naming what is wrong)."""
    out = Path(out)
    if out.suffix not in (".yaml", ".yml"):
        raise HarnessError(
            f"--out must name a scenario file ending .yaml or .yml, got {str(out)!r}"
        )
    check_writable(out, option="--out", folder=False)
    recorded = load(folder)
    check_fittable(recorded.manifest)
    report_dir = report if report is not None else out.parent
    cache = settings.cache_dir(cache_dir)
    report_dir, where = preflight.checked(
        report_dir, compute, cache=cache, scenario=recorded.scenario
    )
    return FitConfig(
        recorded=recorded,
        out=out,
        report_dir=report_dir,
        seed=twin_seed(recorded.manifest) if seed is None else seed,
        cache_dir=cache,
        compute=where,
        params=core.ModelParams(),
    )


def scenario_text(data: dict[str, Any], *, folder: str) -> str:
    """The twin as YAML, with a header saying where it came from; checked to read back to the
    same scenario through the schema."""
    text = (
        f"# A twin of the records folder {folder!r}, fitted by `hazard-harness records fit`\n"
        f"# ({FIT_JSON} beside it says from which records every figure came).\n"
        + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    )
    if validated(parse_yaml(text, source="the fitted twin")) != validated(data):
        raise HarnessError("the fitted twin does not read back as written (nothing written)")
    return text


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def fit(config: FitConfig) -> dict[str, Any]:
    """``records fit RECORDS --out FILE.yaml``: the twin, fit.json and fit.html (the twin
    published last: when it is there, its report is complete)."""
    m = config.recorded.manifest
    folder = m.folder.uri
    with command_context(config.report_dir, last=(config.out.name,)) as ctx:
        run_id = ctx.track(
            tracked_run(
                experiment=f"hazard-harness/{m.name}",
                run_name=f"{m.name}-fit",
                command="records fit",
                params={"records": folder, "seed": config.seed, "scenario": str(config.out)},
            )
        )
        with config.compute.ray() as session:
            done = run_fit(
                config.recorded,
                config.cache_dir,
                session,
                seed=config.seed,
                params=config.params,
                progress=config.compute.progress,
            )
        text = scenario_text(done.fit.scenario, folder=folder)
        content = fit_json(
            done,
            records=folder,
            labelled=config.recorded.labels is not None,
            scenario=str(config.out),
            params=config.params,
            mlflow_run_id=run_id,
        )
        write_fit_report(ctx.stage, content, done)
        (ctx.stage / config.out.name).write_text(text, encoding="utf-8")
        log_metrics(content["summary"])
    beside = isinstance(config.report_dir, Path) and (
        config.out.parent.resolve() == config.report_dir.resolve()
    )
    if not beside:  # --report elsewhere: the report holds a copy, the twin goes to --out
        write_atomic(config.out, text)
    return content
