"""Run outputs: tables, plots and a static HTML report, published without half-written files.

Everything is written into a staging folder beside the output folder and moved in only when
complete (``results.json`` last); an interrupted run leaves the output folder as it was.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness import interrupts, tables

RESULTS = "results.json"
_PREFIX = ".{name}.partial-"
_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
    "img{max-width:32em;margin:.5em}"
)
PLOTS = ("z_by_label.png", "y_by_label.png", "hazard_degree.png", "level_confusion.png")


@contextlib.contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """A staging folder whose files are moved into ``out_dir`` when the block succeeds.

    Staging folders that a killed process left beside ``out_dir`` are removed first.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(out_dir)
    staging = out_dir.parent / f"{_PREFIX.format(name=out_dir.name)}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        with interrupts.deferred():  # a few renames: never half-moved
            out_dir.mkdir(exist_ok=True)
            names = sorted(p.name for p in staging.iterdir())
            for name in [n for n in names if n != RESULTS] + [n for n in names if n == RESULTS]:
                target = out_dir / name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(staging / name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_orphans(out_dir: Path) -> list[Path]:
    """Remove the staging folders of ``out_dir`` whose process is gone; returns them."""
    import psutil

    removed = []
    for folder in out_dir.parent.glob(f"{_PREFIX.format(name=out_dir.name)}*"):
        pid = folder.name.rpartition("-")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def write_json(path: Path, data: Any) -> None:
    """JSON with NaN written as null."""
    interrupts.checkpoint("writing")
    path.write_text(json.dumps(json_safe(data), indent=2) + "\n")


def json_safe(value: Any) -> Any:
    """``value`` with NaN floats as None and tuples as lists (strict JSON)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_plots(results: dict[str, Any], folder: Path) -> None:
    """The report's figures as PNG files (names in :data:`PLOTS`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = tables.frames(results)
    workers, posts = frames["workers"], frames["posts"]
    params = results["params"]
    for name, column, label, threshold in (
        ("z_by_label.png", "Z", "true_needs_management", params["tau_Z"]),
        ("y_by_label.png", "Y", "true_needs_training", params["tau_Y"]),
    ):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for truth, colour in ((False, "tab:blue"), (True, "tab:red")):
            values = workers.loc[workers[label] == truth, column].dropna()
            if len(values):
                ax.hist(values, bins=30, alpha=0.6, color=colour, label=f"{label}={truth}")
        ax.axvline(threshold, color="k", linestyle="--", label="threshold")
        ax.set_xlabel(column)
        ax.set_ylabel("worker-shifts")
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder / name, dpi=90)
        plt.close(fig)
    grid = posts.pivot_table(index=["day", "shift"], columns="post", values="D", sort=False)
    fig, ax = plt.subplots(
        figsize=(max(5, 0.4 * grid.shape[1] + 2), max(3, 0.3 * grid.shape[0] + 1.5))
    )
    image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="magma_r")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{d} {s}" for d, s in grid.index])
    ax.set_xlabel("post")
    ax.set_title(f"hazard degree D (hazard when > {params['tau_D']})")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(folder / "hazard_degree.png", dpi=90)
    plt.close(fig)
    confusion = np.array(results["metrics"]["level_confusion"])
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.imshow(confusion, cmap="Blues")
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center")
    ax.set_xlabel("level given to the model")
    ax.set_ylabel("true level")
    fig.tight_layout()
    fig.savefig(folder / "level_confusion.png", dpi=90)
    plt.close(fig)


def write_report(results: dict[str, Any], folder: Path) -> Path:
    """``report.html``: metrics, the root-cause tables and the figures (relative links)."""
    m = results["metrics"]
    rows = [
        ("root-cause precision", m["root_cause"]["precision"]),
        ("root-cause recall", m["root_cause"]["recall"]),
        ("root-cause F1", m["root_cause"]["f1"]),
        ("equipment attribution accuracy", m["equipment_attribution_accuracy"]),
        ("management flag F1", m["management"]["f1"]),
        ("management ROC AUC (Z)", m["management"]["auc"]),
        ("training flag F1", m["training"]["f1"]),
        ("training ROC AUC (−Y)", m["training"]["auc"]),
        ("level accuracy", m["level_accuracy"]),
    ]
    metric_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in rows)
    shift_blocks = []
    for rec in results["shifts"]:
        hazards = [p for p in rec["posts"] if p["hazard"]]
        lines = []
        for p in hazards:
            causes = [c for c in rec["root_causes"] if c["hazard_post"] == p["post"]]
            found = (
                ", ".join(
                    f"{html.escape(c['worker'])} (post {c['post']}: {', '.join(c['reasons'])})"
                    for c in causes
                )
                or "equipment/environment"
            )
            truth = ", ".join(map(html.escape, p["culprits"])) or (
                "equipment/environment" if p["faults"] else "no fault"
            )
            lines.append(
                f"<tr><td>{p['post']}</td><td>{p['D']:.2f}</td><td>{p['set']}</td>"
                f"<td>{found}</td><td>{truth}</td></tr>"
            )
        body = "".join(lines) or "<tr><td colspan=5>no hazard post</td></tr>"
        shift_blocks.append(
            f"<h3>day {rec['day']}, {rec['shift']} shift</h3><table><tr><th>hazard post</th>"
            f"<th>D</th><th>set S</th><th>model: root cause</th><th>truth</th></tr>{body}</table>"
        )
    figures = "".join(
        f'<img src="{name}" alt="{name}">' for name in PLOTS if (folder / name).exists()
    )
    params = ", ".join(f"{k}={v}" for k, v in results["params"].items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(results["scenario"])} — hazard-harness</title>
<style>{_STYLE}</style>
</head><body>
<h1>Scenario {html.escape(results["scenario"])}</h1>
<p>seed {results["seed"]}, fidelity {results["fidelity"]}, MLflow run
<code>{html.escape(results["mlflow_run_id"])}</code></p>
<p>parameters: {html.escape(params)}</p>
<h2>Metrics</h2><table>{metric_rows}</table>
<h2>Figures</h2>{figures}
<h2>Root causes by shift</h2>{"".join(shift_blocks)}
</body></html>
"""
    path = folder / "report.html"
    path.write_text(page)
    return path


def _fmt(value: Any) -> str:
    return (
        "n/a" if value is None or (isinstance(value, float) and value != value) else f"{value:.3f}"
    )
