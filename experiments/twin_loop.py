"""The twin loop of the README, end to end, with its figures: is a twin good enough to tune on?

1. ``records export SCENARIO`` makes a labelled records folder (or ``--records`` brings one);
2. ``records fit`` fits a twin to it (the records' own labels are not used for the people);
3. ``tune twin.yaml --graders truth`` tunes the thresholds on the twin's labelled days;
4. ``run RECORDS`` with the default parameters, the twin's ``best_params.yaml`` (the
   recommendation) and its ``candidate_params.yaml`` (the tuned parameters, recommended or
   not);
5. the paired difference tuned − default of every headline figure on the records' evaluated
   days, with its 95 % interval (two-way bootstrap over days and people, the same replicates
   for both), and the fit's verdicts. Written to ``OUT/loop.json`` and printed.

Each step is the command a user types (run as a subprocess of this interpreter).

Run: PYTHONPATH=. python3 experiments/twin_loop.py experiments/scenarios/eight-post.yaml \
         --out runs/loop
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class Config:
    scenario: str = ""
    """The scenario exported as the plant's records (empty: ``--records``)."""
    records: str = ""
    """An existing labelled records folder instead of an exported scenario."""
    out: str = "runs/loop"
    """Where the records, the twin, the study and the runs go."""
    trials: int = 300
    """Tuning trials on the twin."""
    workers: int = 2
    """Ray workers of every command."""


def harness(*args: str) -> float:
    """Run one ``hazard-harness`` command; its wall seconds."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "harness.cli", *args, "--no-progress"]
    print("$ hazard-harness", " ".join(args), flush=True)
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def main(config: Config) -> dict:
    from harness.evaluation.metrics import HEADLINE, paired_difference
    from harness.evaluation.results import RunResult

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    workers = ("--workers", str(config.workers))
    seconds = {}
    records = Path(config.records) if config.records else out / "records"
    if not config.records:
        seconds["export"] = harness("records", "export", config.scenario, "--out", str(records))
    twin = out / "twin.yaml"
    seconds["fit"] = harness("records", "fit", str(records), "--out", str(twin), *workers)
    seconds["tune"] = harness(
        "tune",
        str(twin),
        "--out",
        str(out / "tune"),
        "--graders",
        "truth",
        "--trials",
        str(config.trials),
        *workers,
    )
    tuned = out / "tune"
    seconds["run_default"] = harness("run", str(records), "--out", str(out / "default"), *workers)
    for name in ("best", "candidate"):
        params = str(tuned / f"{name}_params.yaml")
        seconds[f"run_{name}"] = harness(
            "run", str(records), "--out", str(out / name), "--params", params, *workers
        )

    def shifts(folder: str) -> tuple:
        data = json.loads((out / folder / "results.json").read_text())
        return RunResult.from_json(data).shifts

    fit = json.loads((out / "fit.json").read_text())
    tune = json.loads((tuned / "tune.json").read_text())
    default = shifts("default")
    paired = {
        name: paired_difference(shifts(name), default, figures=HEADLINE)
        for name in ("best", "candidate")
    }
    worse = {
        name: sorted(f for f, d in p.items() if d["ci95"] is not None and d["ci95"][1] < 0)
        for name, p in paired.items()
    }
    result = {
        "config": dataclasses.asdict(config),
        "fit": fit["summary"] | {"posts": fit["posts"]},
        "recommendation": tune.get("recommendation"),
        "best_vs_default_on_records": paired["best"],
        "candidate_vs_default_on_records": paired["candidate"],
        "worse_than_default": worse,
        "seconds": seconds,
    }
    (out / "loop.json").write_text(json.dumps(result, indent=2) + "\n")
    s = fit["summary"]
    print(
        f"fit: {s['posts_matching']} of {s['posts']} posts match "
        f"({s['quantities_matching']} of {s['quantities']} quantities)"
    )
    print(f"tune on the twin: recommendation {tune.get('recommendation')}")
    for name, label in (
        ("best", "best_params (the recommendation)"),
        ("candidate", "candidate_params (the tuned)"),
    ):
        print(f"{label} against the defaults on the records' labelled days:")
        for figure, d in paired[name].items():
            ci = "n/a" if d["ci95"] is None else f"[{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
            print(
                f"  {figure:32s} default {d['b']:.3f}  tuned {d['a']:.3f}  "
                f"difference {d['difference']:+.3f} {ci}"
            )
        print(
            "  never worse than the defaults (within the paired interval):",
            "yes" if not worse[name] else f"NO ({', '.join(worse[name])})",
        )
    print(f"seconds: {json.dumps({k: round(v, 1) for k, v in seconds.items()})}")
    return result


def parse(argv: list[str] | None = None) -> Config:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("scenario", nargs="?", default="")
    p.add_argument("--records", default="")
    p.add_argument("--out", default=Config.out)
    p.add_argument("--trials", type=int, default=Config.trials)
    p.add_argument("--workers", type=int, default=Config.workers)
    args = p.parse_args(argv)
    if bool(args.scenario) == bool(args.records):
        p.error("give a SCENARIO to export, or --records FOLDER (one of them)")
    return Config(**vars(args))


if __name__ == "__main__":
    main(parse())
