"""The ``hazard-harness`` command line: run, stress, report, tune (and the perception commands)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import perception, train, tuning
from harness._errors import HarnessError


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """The options every Ray-backed command shares: --address, --workers, --no-progress."""
    parser.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else local)")
    parser.add_argument(
        "--workers", type=positive_int, help="Ray workers (default: all local cores)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="hazard-harness",
        description="Simulate a production line and evaluate the safety-hazard tracking model.",
    )
    from harness.run import code_version

    parser.add_argument("--version", action="version", version=f"%(prog)s {code_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a scenario end to end and write results.json")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument("--fidelity", choices=("signal", "pixel"), help="override the scenario's")
    run.add_argument("--params", help="model parameters YAML (e.g. tune's best_params.yaml)")
    run.add_argument("--cache", help="history cache folder (default: .hazard-cache)")
    run.add_argument(
        "--graders",
        metavar="latest|POST=VERSION,...",
        help="levels from the registered grading DNNs (default: true levels)",
    )
    run.add_argument(
        "--keypoint-weights",
        help="keypoint-network weights for fidelity pixel "
        "(default: CACHE/models/keypoints/keypoint_net.safetensors)",
    )
    add_ray_options(run)
    run.set_defaults(func=_run)

    stress = sub.add_parser("stress", help="stress-test many posts in parallel")
    stress.add_argument("--posts", type=positive_int, required=True, help="posts on the line")
    stress.add_argument("--days", type=positive_int, required=True, help="evaluated days")
    stress.add_argument("--fidelity", choices=("signal",), default="signal",
                        help="only signal fidelity is stressed")  # fmt: skip
    stress.add_argument("--out", default="runs/stress", help="output folder")
    stress.add_argument("--length-s", type=positive_int, default=28_800, help="shift length (s)")
    stress.add_argument("--history-days", type=positive_int, default=5, help="history days")
    stress.add_argument("--no-baseline", action="store_true",
                        help="skip the one-worker timing (no scaling efficiency)")  # fmt: skip
    stress.add_argument("--cache", help="history cache folder (default: .hazard-cache)")
    add_ray_options(stress)
    stress.set_defaults(func=_stress)

    report = sub.add_parser("report", help="(re)build the HTML report of a run")
    report.add_argument("source", help="a run's output folder, or an MLflow run id")
    report.add_argument("--out", help="where to write the report (default: the run folder)")
    report.set_defaults(func=_report)

    perception.register(sub)
    tuning.register(sub)
    train.register(sub)
    return parser


def _run(args: argparse.Namespace) -> int:
    from harness.run import make_config, run

    config = make_config(
        args.scenario, args.out, fidelity=args.fidelity, params_path=args.params,
        address=args.address, workers=args.workers, cache_dir=args.cache,
        progress=not args.no_progress, graders=args.graders,
        keypoint_weights=args.keypoint_weights,
    )  # fmt: skip
    results = run(config)
    m = results["metrics"]
    print(
        f"root-cause F1 {m['root_cause']['f1']:.3f} (precision {m['root_cause']['precision']:.3f},"
        f" recall {m['root_cause']['recall']:.3f}); management AUC {m['management']['auc']:.3f};"
        f" training AUC {m['training']['auc']:.3f}"
    )
    print(f"results: {config.out_dir / 'results.json'}")
    print(f"report:  {config.out_dir / 'report.html'}")
    print(f"MLflow run {results['mlflow_run_id']}")
    return 0


def _stress(args: argparse.Namespace) -> int:
    from harness.stress import StressConfig, stress

    config = StressConfig(
        posts=args.posts, days=args.days, out_dir=Path(args.out), workers=args.workers,
        address=args.address, length_s=args.length_s, history_days=args.history_days,
        baseline=not args.no_baseline, cache_dir=Path(args.cache or ".hazard-cache"),
        progress=not args.no_progress,
    )  # fmt: skip
    report = stress(config)
    print(json.dumps(report, indent=2))
    print(f"stress report: {config.out_dir / 'stress.json'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from harness.reporting import rebuild_report

    path = rebuild_report(args.source, out=args.out)
    print(f"report: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the command's exit code, 2 with a one-line reason on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except HarnessError as exc:
        print(f"hazard-harness {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hazard-harness {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
