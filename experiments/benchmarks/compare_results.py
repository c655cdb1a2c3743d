"""Results unchanged? Compare the ``results.json`` of runs before and after a change.

For every run folder of ``BEFORE`` (``BEFORE/<name>/results.json``) the same-named folder of
``AFTER``: the decisions (hazard posts, sets, flags, checked, root causes, equipment causes)
must be identical and D, Z, Y within the stated tolerance
(``tests/harness/evaluation/decisions.py``); the metrics are compared too. Prints one line
per run and exits 1 when anything differs.

Make the folders with, at each commit::

    for f in experiments/scenarios/*.yaml; do
      hazard-harness run $f --out runs/X/$(basename $f .yaml) --graders truth --no-progress
    done

Run: python experiments/benchmarks/compare_results.py runs/before runs/after
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.harness.evaluation.decisions import (
    FIGURE_TOLERANCE,
    decisions,
    figure_differences,
    figures,
)


def _numbers(tree: Any, prefix: str = "") -> dict[str, Any]:
    """The leaves of a JSON tree, keyed by their path."""
    if isinstance(tree, list):
        tree = dict(enumerate(tree))
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, sub in tree.items():
            out.update(_numbers(sub, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


def compare(before: dict[str, Any], after: dict[str, Any]) -> tuple[bool, str]:
    """Whether two ``results.json`` agree, and a one-line account."""
    same = decisions(before["shifts"]) == decisions(after["shifts"])
    largest, bad = figure_differences(figures(before["shifts"]), figures(after["shifts"]))
    metrics_a, metrics_b = _numbers(before["metrics"]), _numbers(after["metrics"])
    metric_gap = max(
        (abs(metrics_a[k] - metrics_b.get(k, float("inf")))
         for k in metrics_a if isinstance(metrics_a[k], float)),
        default=0.0,
    )  # fmt: skip
    changed = [k for k in metrics_a if not isinstance(metrics_a[k], float)
               and metrics_a[k] != metrics_b.get(k)]  # fmt: skip
    ok = same and not bad and not changed and metric_gap <= FIGURE_TOLERANCE
    line = (f"decisions {'identical' if same else 'DIFFER'}; D/Z/Y largest gap {largest:.2g} "
            f"({len(bad)} beyond {FIGURE_TOLERANCE:g}); metrics largest gap {metric_gap:.2g}, "
            f"{len(changed)} counts changed")  # fmt: skip
    if bad:
        line += f"; e.g. {bad[0]}"
    if changed:
        line += f"; e.g. {changed[0]}: {metrics_a[changed[0]]} vs {metrics_b.get(changed[0])}"
    return ok, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    runs = sorted(p.parent.name for p in args.before.glob("*/results.json"))
    if not runs:
        sys.exit(f"{args.before}: no */results.json")
    failed = 0
    for name in runs:
        other = args.after / name / "results.json"
        if not other.is_file():
            print(f"{name}: MISSING in {args.after}")
            failed += 1
            continue
        ok, line = compare(json.loads((args.before / name / "results.json").read_text()),
                           json.loads(other.read_text()))  # fmt: skip
        print(f"{name}: {'ok' if ok else 'CHANGED'}: {line}")
        failed += not ok
    print(f"{len(runs) - failed} of {len(runs)} runs unchanged")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
