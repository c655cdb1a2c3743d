"""Where the time of a run goes: a stress run and a records run under a sampling profiler.

py-spy samples the whole process tree (the driver, Ray's workers and Ray's own Python
processes, ``--subprocesses``) at ``--rate`` Hz; every sample's stack is put in one phase
(interpreter start and imports, MLflow, Ray start, history build: simulation / Parquet write /
checks, records ingest, scoring: database reads / statistics / simulation / Z and Y /
evidence, transfers, decisions, metrics, outputs, Ray's own processes) by the first rule of
:data:`PHASES` that matches it. A phase's figure is the seconds some process spent in it
(samples / rate, summed over processes: CPU-like time, so it adds up past the wall time when
workers run in parallel). Beside it: the wall time of each phase of the stress command
(``stress.json``'s ``timings``), and the start of a bare command (``--help``).

Writes ``profile.json`` and ``profile.md`` (the top ten costs of each run, per phase and per
function) into ``--out``; the raw stacks stay there (``*.raw.txt``; a flame graph:
``flamegraph.pl stress.raw.txt``).

Run: python experiments/benchmarks/profile_run.py --out runs/profile [--posts 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


@dataclass
class Config:
    out: str = "runs/profile"
    """Where the profiles and the raw stacks go."""
    posts: int = 1000
    """Posts of the stress run (8-hour shifts, one shift a day)."""
    days: int = 1
    """Evaluated days of the stress run."""
    history_days: int = 5
    """History days of the stress run (built cold: a fresh cache)."""
    workers: int = 2
    """Ray workers of both runs."""
    records_posts: int = 8
    """Posts of the records run (two 8-hour shifts a day, one worker per post-shift)."""
    records_days: int = 12
    """Days of the records folder (the last two evaluated)."""
    length_s: int = 28_800
    """Shift length of both runs (seconds at 1 Hz)."""
    rate: int = 50
    """Samples per second of each process."""
    only: str = ""
    """``stress`` or ``records``: profile that run alone."""


PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("interpreter start and imports", ("_find_and_load (",)),
    ("MLflow", ("(mlflow/",)),
    ("MLflow", ("(alembic/",)),
    ("MLflow", ("(sqlalchemy/",)),
    ("Ray start and shutdown", ("ray_session (",)),
    ("Ray start and shutdown", ("warm_workers (",)),
    ("Ray start and shutdown", ("_ready (",)),
    ("history build: simulation", ("build_post_history (", "simulate_workers (")),
    ("history build: Parquet write", ("build_post_history (", "HistoryStore.write (")),
    ("history build: checks of the stored files", ("build_post_history (",)),
    ("records ingest: Parquet write", ("ingest_post (", "HistoryStore.write (")),
    ("records ingest: read and checks", ("ingest_post (",)),
    ("scoring: post databases read", ("score_posts_task (", "Database._read (")),
    ("scoring: evaluated records read", ("score_posts_task (", "RecordsSource.__call__ (")),
    ("scoring: simulation of the evaluated workers", ("score_posts_task (", "simulate_workers (")),
    ("scoring: history statistics", ("score_posts_task (", "Database.stats (")),
    ("scoring: Z and Y", ("score_posts_task (", "_batch (core/_scores.py)")),
    ("scoring: evidence", ("score_posts_task (", "evidence (")),
    ("scoring: other", ("score_posts_task (",)),
    ("transfers (serialization)", ("(ray/_private/serialization.py)",)),
    ("transfers (serialization)", ("(ray/cloudpickle/",)),
    ("decisions", ("decide_shifts (",)),
    ("metrics", ("(harness/evaluation/metrics.py)",)),
    ("outputs (tables, report, plots, files)", ("(harness/outputs/",)),
    ("outputs (tables, report, plots, files)", ("(harness/runtime/staging.py)",)),
    ("outputs (tables, report, plots, files)", ("_plot (",)),
    ("driver: scheduling and waiting on Ray", ("map_unordered (",)),
    ("Ray workers: in Ray's task loop (waiting)", ("Worker.main_loop (",)),
)
"""``(phase, frames)``: a stack belongs to the first phase all of whose frames it holds (a
frame as py-spy names it, ``function (package/module.py)``)."""
RAY_OWN = "Ray's own processes (dashboard, agents, monitors)"


def phase_of(stack: str, process: str) -> str:
    """The phase of one sampled stack of a process (``driver``, ``worker`` or ``ray``)."""
    if not stack:
        return f"native threads, no Python frame ({process})"
    for phase, frames in PHASES:
        if all(f in stack for f in frames):
            return phase
    return RAY_OWN if process == "ray" else f"other ({process})"


def read_raw(path: Path, rate: int) -> dict[str, object]:
    """Seconds per phase, per process kind and per leaf function of a py-spy raw file."""
    phases: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        procs = [f for f in frames if f.startswith("process ")]
        code = [f for f in frames if not f.startswith("process ")]
        kind = "driver" if len(procs) <= 1 else "worker" if "default_worker" in procs[-1] else "ray"
        n = int(count)
        phases[phase_of(";".join(code), kind)] += n
        kinds[kind] += n
        if code:
            leaves[f"{code[-1]} [{kind}]"] += n
    total = sum(phases.values())
    return {
        "sampled_s": total / rate,
        "by_process_s": {k: v / rate for k, v in kinds.most_common()},
        "phases_s": {k: v / rate for k, v in phases.most_common()},
        "functions_s": {k: v / rate for k, v in leaves.most_common(25)},
    }


def profiled(cmd: list[str], raw: Path, rate: int, cwd: Path, env: dict[str, str]) -> float:
    """Run ``cmd`` under py-spy (whole process tree); its wall time."""
    spy = shutil.which("py-spy")
    if spy is None:
        sys.exit("py-spy is not installed: pip install py-spy")
    start = time.perf_counter()
    subprocess.run(
        [spy, "record", "--subprocesses", "--nonblocking", "--format", "raw", "--nolineno",
         "-r", str(rate),
         "-o", str(raw), "--", *cmd],
        check=True, cwd=cwd, env=env, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - start


def bare_start(env: dict[str, str], repeats: int = 3) -> dict[str, list[float]]:
    """Wall seconds of a bare interpreter and of ``--help`` (every repeat)."""
    out: dict[str, list[float]] = {}
    commands = {
        "python -c pass": ["-c", "pass"],
        "hazard-harness --help": ["-m", "harness.cli", "--help"],
        "hazard-harness stress --help": ["-m", "harness.cli", "stress", "--help"],
        "hazard-harness run --help": ["-m", "harness.cli", "run", "--help"],
    }
    for name, args in commands.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, *args], check=True, env=env, capture_output=True)
            times.append(round(time.perf_counter() - start, 3))
        out[name] = times
    return out


def export_records(config: Config, folder: Path) -> None:
    """A records folder of a synthetic line (bench_records.py's, not profiled)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_records

    size = bench_records.Config(posts=config.records_posts, history_days=config.records_days - 2,
                                evaluate_days=2, length_s=config.length_s)  # fmt: skip
    bench_records.export(size, folder)


def markdown(report: dict[str, object]) -> str:
    """The top ten costs of each run, per phase and per function."""
    lines = ["# Where the time goes", ""]
    start = report["start"]
    lines.append("Bare start (wall s, repeats): " + "; ".join(
        f"`{k}` {', '.join(f'{t:.2f}' for t in v)}" for k, v in start.items()  # type: ignore[union-attr]
    ))  # fmt: skip
    for run in ("stress", "records"):
        if run not in report:
            continue
        r = report[run]
        processes = ", ".join(f"{k} {v:.1f} s" for k, v in r["by_process_s"].items())
        head = f"wall {r['wall_s']:.1f} s; sampled {r['sampled_s']:.1f} s ({processes})"
        lines += ["", f"## {run}: `{r['command']}`", "", head]
        if r.get("timings"):
            lines += ["", "timings (wall s): " + ", ".join(
                f"{k} {v:.2f}" for k, v in r["timings"].items()
            )]  # fmt: skip
        lines += ["", "| phase | s | share |", "| --- | --- | --- |"]
        total = r["sampled_s"]
        for phase, s in list(r["phases_s"].items())[:10]:
            lines.append(f"| {phase} | {s:.1f} | {s / total:.0%} |")
        lines += ["", "| function (leaf) | s |", "| --- | --- |"]
        for fn, s in list(r["functions_s"].items())[:10]:
            lines.append(f"| `{fn}` | {s:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Config):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default),
                            default=f.default)  # fmt: skip
    config = Config(**vars(parser.parse_args()))
    if config.only not in ("", "stress", "records"):
        sys.exit(f"--only must be stress or records, got {config.only!r}")
    out = Path(config.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="profile-run-"))
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    tracking = f"sqlite:///{work / 'mlflow.db'}"
    env = {**os.environ, "PYTHONPATH": path, "MLFLOW_TRACKING_URI": tracking}
    cli = [sys.executable, "-m", "harness.cli"]
    workers = ["--workers", str(config.workers), "--no-progress"]
    # the tracking store exists, as in a user's working folder (its creation is paid once)
    subprocess.run([*cli, "stress", "--posts", "2", "--days", "1", "--length-s", "60",
                    "--history-days", "1", "--no-baseline", "--out", str(work / "first"),
                    "--cache", str(work / "first-cache"), *workers],
                   check=True, cwd=work, env=env, capture_output=True)  # fmt: skip
    report: dict[str, object] = {"config": dataclasses.asdict(config), "start": bare_start(env)}

    runs = ("stress", "records") if not config.only else (config.only,)
    stress = [*cli, "stress", "--posts", str(config.posts), "--days", str(config.days),
              "--history-days", str(config.history_days), "--length-s", str(config.length_s),
              "--no-baseline",
              "--out", str(work / "stress"), "--cache", str(work / "cache"), *workers]  # fmt: skip
    if "stress" in runs:
        wall = profiled(stress, out / "stress.raw.txt", config.rate, work, env)
        data = json.loads((work / "stress" / "stress.json").read_text())
        report["stress"] = {"command": " ".join(["hazard-harness", *stress[3:]]), "wall_s": wall,
                            "timings": data.get("timings"),
                            **read_raw(out / "stress.raw.txt", config.rate)}  # fmt: skip
    if "records" not in runs:
        return finish(report, out, work)
    export_records(config, work / "records")
    records = [*cli, "run", str(work / "records"), "--out", str(work / "records-run"),
               "--cache", str(work / "cache"), *workers]  # fmt: skip
    wall = profiled(records, out / "records.raw.txt", config.rate, work, env)
    data = json.loads((work / "records-run" / "results.json").read_text())
    report["records"] = {"command": " ".join(["hazard-harness", *records[3:]]), "wall_s": wall,
                         "timings": data.get("timings"),
                         **read_raw(out / "records.raw.txt", config.rate)}  # fmt: skip
    finish(report, out, work)


def finish(report: dict[str, object], out: Path, work: Path) -> None:
    """Write profile.json and profile.md, print the latter, remove the work folder."""
    shutil.rmtree(work, ignore_errors=True)
    (out / "profile.json").write_text(json.dumps(report, indent=1))
    text = markdown(report)
    (out / "profile.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
