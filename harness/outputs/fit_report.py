"""What ``records fit`` leaves beside the twin: ``fit.json`` and ``fit.html``.

``fit.json`` (contract: ``quantities`` of ``{name, post, records, twin, distance, verdict}``)
holds every compared quantity, the per-post verdicts, every fitted estimate with its interval,
sample size and the records it came from, the people, and what the records cannot tell.
``fit.html`` is one self-contained page (figures embedded) that shows the same side by side:
per post the verdict, the quantities' distances and the records' and the twin's distributions.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

import core
from harness.outputs.run_report import ENV, png_bytes
from harness.records.fit import ALPHA, TOLERANCES, FitRun, PostVerdict
from harness.runtime import staging
from harness.runtime.storage import Location

FIT_JSON = "fit.json"
FIT_HTML = "fit.html"
SCHEMA_VERSION = 1


def fit_json(
    run: FitRun,
    *,
    records: str,
    labelled: bool,
    scenario: str,
    params: core.ModelParams,
    mlflow_run_id: str | None,
) -> dict[str, Any]:
    """The content of ``fit.json``."""
    f = run.fit
    m_shifts = len(run.records.measures)
    quantities = [q.to_json() for p in run.posts for q in p.quantities]
    matching = [p for p in run.posts if p.verdict == "matches"]
    return {
        "schema_version": SCHEMA_VERSION,
        "records": {
            "folder": records,
            "worker_shifts": m_shifts,
            "days": {"history": run.twin.days.history, "evaluate": run.twin.days.evaluate},
            "posts": run.twin.n_posts,
            "labelled": labelled,
        },
        "twin": {
            "scenario": scenario,
            "name": run.twin.name,
            "seed": run.twin.seed,
            "worker_shifts": len(run.simulated.measures),
        },
        "params": params.to_dict(),
        "verdict_rule": {
            "alpha": ALPHA,
            "tolerances": {k: s.tolerance for k, s in TOLERANCES.items()},
            "rule": "A quantity matches when its two-sample test (KS; chi-square for "
            "destination) does not tell records and twin apart at alpha, or its distance "
            "is within the tolerance; a post matches when every quantity does",
        },
        "summary": {
            "posts": len(run.posts),
            "posts_matching": len(matching),
            "quantities": len(quantities),
            "quantities_matching": sum(q["verdict"] == "matches" for q in quantities),
        },
        "posts": [
            {"post": p.post, "verdict": p.verdict, "differs": p.differs, "sentence": p.sentence()}
            for p in run.posts
        ],
        "quantities": quantities,
        "estimates": [e.to_json() for e in f.estimates],
        "people": [p.to_json() for p in f.people],
        "calibration": {
            "worker_shifts": f.calibration.worker_shifts,
            "offpost_rate": _curve(f.calibration.offpost),
            "skill": _curve(f.calibration.level),
            "fatigue_slope": list(f.calibration.slope_at),
        },
        "limits": list(f.limits),
        "mlflow_run_id": mlflow_run_id,
    }


def _curve(c: Any) -> dict[str, list[float]]:
    return {"trait": c.trait.tolist(), "measured": c.measured.tolist(), "spread": c.spread.tolist()}


def post_figure(p: PostVerdict) -> bytes:
    """One post's distributions, records against twin: empirical CDFs of the continuous
    quantities, shares of the categorical ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(p.quantities), figsize=(2.6 * len(p.quantities), 2.6))
    for ax, q in zip(np.atleast_1d(axes), p.quantities, strict=True):
        for sample, colour, label in (
            (q.records, "tab:blue", "records"),
            (q.twin, "tab:orange", "twin"),
        ):
            v = np.sort(sample.values)
            if not len(v):
                continue
            if q.spec.categorical or q.name == "level":
                cats, counts = np.unique(v, return_counts=True)
                offset = -0.2 if label == "records" else 0.2
                ax.bar(cats + offset, counts / counts.sum(), width=0.4, color=colour, label=label)
            else:
                ax.step(
                    v, np.arange(1, len(v) + 1) / len(v), where="post", color=colour, label=label
                )
        ax.set_title(
            f"{q.name}: {q.verdict}",
            fontsize=9,
            color="tab:green" if q.verdict == "matches" else "tab:red",
        )
        ax.tick_params(labelsize=7)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return png_bytes(fig)


def write_fit_report(folder: Path | Location, content: dict[str, Any], run: FitRun) -> None:
    """Write ``fit.json`` and ``fit.html`` into ``folder``."""
    staging.write_json(folder / FIT_JSON, content)
    figures = {p.post: base64.b64encode(post_figure(p)).decode() for p in run.posts}
    quantities: dict[int, list[dict[str, Any]]] = {}
    for q in content["quantities"]:
        quantities.setdefault(q["post"], []).append(q)
    page = ENV.get_template("fit.html.j2").render(
        c=content,
        figures=figures,
        quantities=quantities,
        estimates=[e for e in content["estimates"] if e["name"] != "level_rate"],
        levels=[e for e in content["estimates"] if e["name"] == "level_rate"],
    )
    (folder / FIT_HTML).write_text(page, encoding="utf-8")
