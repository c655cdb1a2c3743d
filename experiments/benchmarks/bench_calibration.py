"""Fidelity calibration: Z and Y of the same worker-shifts at signal and at pixel fidelity.

Run from the repository root (the shipped keypoint weights are the default):

    PYTHONPATH=. python3 experiments/benchmarks/bench_calibration.py [--write-doc]

Three runs score the evaluated shifts of ``experiments/scenarios/calibration.yaml`` (every
worker profile), each worker-shift against its own post database:

- ``signal``: history and evaluated days at signal fidelity (``run``);
- ``pixel``:  both through the pixel path (``run --fidelity pixel --history-fidelity pixel``);
- ``mixed``:  history at signal, evaluated days through the pixel path (``run --fidelity pixel``).

It prints, per worker profile and over all worker-shifts, the mean Z and Y of each run and
the mean absolute differences |ΔZ|, |ΔY| of ``pixel`` and ``mixed`` against ``signal``, with
95% day-bootstrap intervals (goals: |ΔY| ≤ 0.02, |ΔZ| ≤ 0.01). ``--write-doc`` puts the table
into docs/calibration.md between its markers. The stored records are cached under
``--cache`` like a run's, so a second call only scores.

``--fit`` instead fits the signal fidelity's speed error to the pixel path and writes
``sim/speed_error.json``: on the same scenario with another seed (``seed +
FIT_SEED_OFFSET``), so the figures above are never measured on the days it was fitted on.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

import core
from harness.adapters.ray_cluster import ray_session
from harness.evaluation.bootstrap import day_weights
from harness.evaluation.fidelities import Fidelities
from harness.evaluation.history import ensure_history
from harness.evaluation.pixels import weights_sha256
from harness.evaluation.scoring import score_posts
from harness.runtime import logs, settings
from harness.runtime.inputs import load_scenario_file
from harness.weights import DEFAULT_KEYPOINT_WEIGHTS

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "experiments" / "scenarios" / "calibration.yaml"
DOC = ROOT / "docs" / "calibration.md"
BEGIN, END = "<!-- bench_calibration: begin -->", "<!-- bench_calibration: end -->"
RUNS = {"signal": ("signal", "signal"), "pixel": ("pixel", "pixel"), "mixed": ("pixel", "signal")}
"""Run name → (evaluated days' fidelity, history's fidelity)."""
GOALS = {"Y": 0.02, "Z": 0.01}
FIT_SEED_OFFSET = 1
FIT_LEVELS = np.array([0.001, 0.005, 0.01, 0.025, *np.arange(0.05, 0.951, 0.05), 0.975, 0.99,
                       0.995, 0.999]).round(3)  # fmt: skip
"""Quantile levels of the fitted speed error (the tails shape Y's variance term)."""
REPLICATES = 2000


def score(scenario, fidelities: Fidelities, *, cache: Path, workers: int) -> dict:
    """``(day, shift, worker) → (profile, Z, Y)`` of one run."""
    params = core.ModelParams()
    with ray_session(address=None, workers=workers, timeout=30.0) as session:
        root = ensure_history(scenario, cache, max_in_flight=session.max_in_flight,
                              progress=True, source=fidelities.history_source())  # fmt: skip
        out = {}
        for ps in score_posts(scenario, root, params, max_in_flight=session.max_in_flight,
                              progress=True, source=fidelities.evaluation_source()):  # fmt: skip
            for w in ps.workers:
                out[(ps.day, ps.shift, w.worker)] = (w.profile, w.Z, w.Y)
    return out


def mean_abs_diff(diffs: np.ndarray, days: np.ndarray, seed: int) -> tuple[float, list[float]]:
    """Mean |Δ| and its 95% day-bootstrap interval (days drawn with replacement)."""
    unique, index = np.unique(days, return_inverse=True)
    per_day = np.bincount(index, weights=np.abs(diffs), minlength=len(unique))
    counts = np.bincount(index, minlength=len(unique)).astype(float)
    w = day_weights(len(unique), replicates=REPLICATES, seed=seed)
    reps = (w @ per_day) / (w @ counts)
    return float(np.abs(diffs).mean()), [float(v) for v in np.percentile(reps, [2.5, 97.5])]


def table(results: dict[str, dict], seed: int) -> list[str]:
    """Markdown rows: per profile and overall, means and |Δ| against the signal run."""
    keys = sorted(results["signal"])
    profiles = sorted({results["signal"][k][0] for k in keys})
    lines = [
        "| worker-shifts | n | Z signal / pixel / mixed | Y signal / pixel / mixed "
        "| mean abs ΔZ pixel, mixed | mean abs ΔY pixel, mixed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for group in [*profiles, "all"]:
        chosen = [k for k in keys if group in ("all", results["signal"][k][0])]
        days = np.array([k[0] for k in chosen])
        cells = []
        for i in (1, 2):
            means = [np.nanmean([results[r][k][i] for k in chosen]) for r in RUNS]
            cells.append(" / ".join(f"{m:.3f}" for m in means))
        for i, name in ((1, "Z"), (2, "Y")):
            parts = []
            for run in ("pixel", "mixed"):
                d = np.array([results[run][k][i] - results["signal"][k][i] for k in chosen])
                ok = np.isfinite(d)
                m, (lo, hi) = mean_abs_diff(d[ok], days[ok], seed)
                mark = " ✓" if group == "all" and hi <= GOALS[name] else ""
                parts.append(f"{m:.3f} [{lo:.3f}, {hi:.3f}]{mark}")
            cells.append(", ".join(parts))
        lines.append(f"| {group} | {len(chosen)} | " + " | ".join(cells) + " |")
    return lines


def fit(scenario, weights: Path, out: Path) -> None:
    """Fit the signal fidelity's speed error to the pixel path and write ``out``.

    Per keypoint, over every moving second (true speed > ``sim.measurement.MOVING_PX_S``) of
    every evaluated worker-shift: quantiles of ``log((pixel speed + 1) / (true speed + 1))``.
    """
    import json

    import sim
    from harness.evaluation.pixels import PixelSource, true_speeds
    from sim.measurement import MOVING_PX_S

    pixel = PixelSource(weights=str(weights), alpha=core.ModelParams().alpha)
    ratios: list[list[np.ndarray]] = [[] for _ in range(core.N_KEYPOINTS)]
    for day in scenario.evaluate_days:
        for shift in scenario.shift_names:
            for post in range(1, scenario.n_posts + 1):
                measured = pixel(scenario, post=post, day=day, shift=shift)
                truth = sim.simulate_workers(scenario, post=post, day=day, shift=shift,
                                             keypoints=True)  # fmt: skip
                for px, sg in zip(measured, truth, strict=True):
                    v = true_speeds(sg)
                    for k in range(core.N_KEYPOINTS):
                        moving = v[:, k] > MOVING_PX_S
                        ratios[k].append(np.log((px.record.speeds[moving, k] + 1.0)
                                                / (v[moving, k] + 1.0)))  # fmt: skip
    quantiles = [np.quantile(np.concatenate(r), FIT_LEVELS) for r in ratios]
    table = {
        "what": "per-keypoint quantiles of log((pixel speed + 1) / (true speed + 1)), "
        "moving keypoints (sim.measurement)",
        "command": "PYTHONPATH=. python3 experiments/benchmarks/bench_calibration.py --fit",
        "scenario": scenario.name,
        "seed": scenario.seed,
        "keypoint_weights_sha256": weights_sha256(weights),
        "samples": [int(sum(len(x) for x in r)) for r in ratios],
        "levels": FIT_LEVELS.tolist(),
        "quantiles": [[round(float(v), 4) for v in q] for q in quantiles],
    }
    rows = ",\n  ".join(json.dumps(q) for q in table.pop("quantiles"))
    head = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in table.items())
    out.write_text(f'{{\n{head},\n "quantiles": [\n  {rows}\n ]\n}}\n', encoding="utf-8")
    print(f"written {out}: {table['samples'][0]} moving seconds of keypoint 0, ...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--weights", type=Path, default=DEFAULT_KEYPOINT_WEIGHTS)
    parser.add_argument("--workers", type=int, default=settings.local_cpus())
    parser.add_argument("--cache", type=Path, default=settings.cache_dir(None))
    parser.add_argument("--write-doc", action="store_true", help=f"update {DOC.name}")
    parser.add_argument("--fit", action="store_true", help="fit the signal speed model")
    args = parser.parse_args()
    logs.configure(verbose=False)  # the commands' console policy (harness.runtime.logs)
    scenario = load_scenario_file(args.scenario)
    if args.fit:
        from sim.measurement import SPEED_ERROR_FILE

        seed = scenario.seed + FIT_SEED_OFFSET
        fit(scenario.model_copy(update={"seed": seed}), args.weights, SPEED_ERROR_FILE)
        return
    results, seconds = {}, {}
    for name, (evaluate, history) in RUNS.items():
        started = time.perf_counter()
        fid = Fidelities(evaluate=evaluate, history=history, weights=str(args.weights))
        results[name] = score(scenario, fid, cache=args.cache, workers=args.workers)
        seconds[name] = time.perf_counter() - started
    sha = weights_sha256(args.weights)[:12]
    shown = args.scenario.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    header = [
        f"Scenario `{shown}` "
        f"(seed {scenario.seed}, {scenario.n_posts} posts, {scenario.days.history} history + "
        f"{scenario.days.evaluate} evaluated days of {scenario.shifts.length_s} s), keypoint "
        f"weights `{args.weights.name}` sha256 {sha}…, default model parameters; intervals: "
        f"95% bootstrap over the evaluated days. Wall time: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
        + f" ({args.workers} workers).",
        "",
    ]
    lines = header + table(results, scenario.seed)
    print("\n".join(lines))
    if args.write_doc:
        text = DOC.read_text()
        block = "\n".join([BEGIN, *lines, END])
        if BEGIN in text:
            text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), block, text, flags=re.S)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        DOC.write_text(text)
        print(f"written into {DOC}")


if __name__ == "__main__":
    main()
