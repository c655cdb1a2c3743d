"""The run report: one self-contained ``report.html``, from Jinja2 templates.

One page, so that it reads the same from the run folder, offline, and inside MLflow's
artifact viewer (which shows an HTML artifact alone in a sandboxed frame: links to other
files and scripts loaded by path go nowhere there). It holds a summary a safety manager reads
first (headline figures with their 95 % intervals; per worker, how often flagged and for
what, beside the truth), the figures (embedded PNG), and per shift the hazard posts, their
sets, the model's root causes (each linked to its evidence section), why a hazard post with
nobody flagged was attributed to equipment, and the missed hazards. Each evidence section
(anchor :func:`decision_anchor`) shows the evidence behind a worker-shift
(:mod:`harness.evaluation.evidence`) as interactive Plotly figures: plotly.js's cartesian
bundle is inlined once, gzipped (:func:`plotly_bundle`), and each figure is JSON drawn when its
section scrolls into view. Templates autoescape everything a ``results.json`` carries.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from harness.evaluation.metrics import CATALOGUE, interval
from harness.evaluation.results import Evidence, RunResult, ShiftResult, WorkerResult
from harness.outputs import tables
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_id

LOG = logging.getLogger("harness.report")
REPORT = "report.html"
EVIDENCE = "evidence.json"
PLOTS = ("z_by_label.png", "y_by_label.png", "hazard_degree.png", "level_confusion.png")


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _interval(value: Any) -> str:
    if not value or any(v is None for v in value):
        return "n/a"
    return f"[{value[0]:.3f}, {value[1]:.3f}]"


ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.outputs", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _json_script(text: str, kind: str) -> Markup:
    """JSON text as an inert ``<script>`` element (``<``, ``>``, ``&`` escaped)."""
    safe = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(f'<script type="application/json" class="{kind}">{safe}</script>')


ENV.filters["num"] = _num
ENV.filters["interval"] = _interval
ENV.filters["figure"] = lambda text: _json_script(text, "plotly-figure")


_ANCHOR_CODES = {"_": "__", "@": "_a", ".": "_d"}
"""How an id's characters other than ASCII letters, digits and ``-`` appear in an anchor."""


def _anchor_part(text: str, *, dash: bool) -> str:
    """``text`` in an anchor: ASCII letters and digits as they are (``-`` too unless ``dash``
    is escaped, as in the shift, which a ``-`` ends), every other character by a code that
    starts with ``_`` — so that two different ids never give the same anchor."""
    out = []
    for ch in text:
        if (ch.isascii() and ch.isalnum()) or (ch == "-" and not dash):
            out.append(ch)
        elif ch == "-":
            out.append("_h")
        else:
            out.append(_ANCHOR_CODES.get(ch, f"_x{ord(ch):x}_"))
    return "".join(out)


def decision_anchor(day: int, shift: str, worker: str) -> str:
    """The id of a worker-shift's evidence section in ``report.html``: ``e-d<day>-<shift>-
    <worker>``, unique per (day, shift, worker) (``a@b`` and ``a_b`` differ); a day that is
    not a whole number or a shift that is not an id is refused."""
    if isinstance(day, bool) or not isinstance(day, (int, np.integer)):
        raise HarnessError(f"day must be a whole number, got {day!r:.40}")
    check_id(shift, what="shift")
    return f"e-d{day}-{_anchor_part(shift, dash=True)}-{_anchor_part(worker, dash=False)}"


def _get(metrics: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def headline(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline figures (:data:`harness.evaluation.metrics.CATALOGUE`) with their
    intervals, then the graders' level accuracy, as the report shows them; ``None`` where a
    run has no such figure (a records folder without labels)."""
    rows = []
    for f in CATALOGUE:
        group = metrics.get(f.path.split(".")[0])
        known = isinstance(group, dict)
        rows.append({"name": f.label, "value": _get(metrics, tuple(f.path.split("."))),
                     "ci": interval(metrics, f.path) if known else None})  # fmt: skip
    rows.append({"name": "level accuracy (graders)", "value": metrics.get("level_accuracy"),
                 "ci": None})  # fmt: skip
    return rows


def worker_summary(result: RunResult) -> list[dict[str, Any]]:
    """Per worker over the evaluated days: shifts, flags, decisions and truth counts."""
    rows: dict[str, dict[str, Any]] = {}
    for rec in result.shifts:
        for w in rec.workers:
            row = rows.setdefault(
                w.worker,
                {"worker": w.worker, "posts": set(), "shifts": 0, "named": 0,
                 "management": 0, "training": 0, "culprit": 0, "needs_management": 0,
                 "needs_training": 0},
            )  # fmt: skip
            row["posts"].add(w.post)
            row["shifts"] += 1
            row["named"] += w.worker in rec.named
            row["management"] += bool(w.management)
            row["training"] += bool(w.training)
            row["culprit"] += w.worker in rec.culprits
            row["needs_management"] += bool(w.needs_management)
            row["needs_training"] += bool(w.needs_training)
    out = [{**r, "posts": sorted(r["posts"])} for r in rows.values()]
    return sorted(out, key=lambda r: (-r["named"], -r["culprit"], r["worker"]))


def shift_sections(result: RunResult) -> list[dict[str, Any]]:
    """Per shift: hazard posts with causes (linked), why-nobody members, missed hazards."""
    sections = []
    for rec in result.shifts:
        by_post = defaultdict(list)
        for w in rec.workers:
            by_post[w.post].append(w)
        hazards = []
        for p in (p for p in rec.posts if p.hazard):
            causes = [
                {"worker": c.worker, "post": c.post, "reasons": c.reasons,
                 "link": "#" + decision_anchor(rec.day, rec.shift, c.worker)}
                for c in rec.root_causes
                if c.hazard_post == p.post
            ]  # fmt: skip
            truth = ", ".join(p.culprits) or ("equipment/environment" if p.faults
                                              else "no fault")  # fmt: skip
            if p.true_level is None:  # a records folder without labels
                truth = "no labels"
            members = [w for j in p.set for w in by_post.get(j, ())]
            hazards.append({"post": p.post, "D": p.D, "set": p.set, "causes": causes,
                            "truth": truth, "members": members})  # fmt: skip
        missed = [p for p in rec.posts if p.faults and not p.hazard]
        sections.append({"day": rec.day, "shift": rec.shift, "hazards": hazards,
                         "missed": missed})  # fmt: skip
    return sections


def shift_label(day: int, shift: str) -> str:
    """A shift as the figures name it: ``day 7, night shift``."""
    return f"day {day}, {shift} shift"


def png_bytes(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes (laid out tight, 90 dpi); the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def figures(result: RunResult) -> dict[str, bytes]:
    """The report's figures as PNG bytes: Z and Y by true label, D per post and shift, and the
    level confusion (rows: true level, columns: the model's level)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    frames = tables.frames(result)
    workers, posts = frames["workers"], frames["posts"]
    params = result.params
    out = {}

    def save(name: str, fig: Any) -> None:
        out[name] = png_bytes(fig)

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
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count: whole ticks
        ax.legend()
        save(name, fig)
    grid = posts.pivot_table(index=["day", "shift"], columns="post", values="D", sort=False)
    fig, ax = plt.subplots(
        figsize=(max(5, 0.4 * grid.shape[1] + 2), max(3, 0.3 * grid.shape[0] + 1.5))
    )
    image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="magma_r")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [shift_label(d, s) for d, s in grid.index])
    ax.set_xlabel("post")
    ax.set_title(f"hazard degree D (hazard when > {params['tau_D']})")
    fig.colorbar(image, ax=ax)
    save("hazard_degree.png", fig)
    if "level_confusion" not in result.metrics:  # no labels: no truth to compare with
        return out
    confusion = np.array(result.metrics["level_confusion"])
    fig, ax = plt.subplots(figsize=(4, 3.5))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(confusion.shape[1]))
    ax.set_yticks(range(confusion.shape[0]))
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center")
    ax.set_xlabel("level the model saw (its grader)")
    ax.set_ylabel("true level")
    save("level_confusion.png", fig)
    return out


def _graders_line(result: RunResult) -> str:
    g = result.graders
    source = g.get("source", "truth")
    if source == "registry":
        versions = ", ".join(f"{p}: v{v['version']}" for p, v in g.get("posts", {}).items())
        return f"registered graders ({versions})"
    if source == "on_demand":
        return f"graders trained on demand (key {g.get('grading_key')})"
    if source == "records":
        return "the records folder's levels (levels.parquet: the plant's grading)"
    return "the true levels (a perfect grader)"


def write_report(result: RunResult, folder: Path, evidence: list[Evidence] | None = None) -> Path:
    """Write ``report.html`` (with a section per evidence record) and the figure files."""
    pngs = figures(result)
    for name, data in pngs.items():
        (folder / name).write_bytes(data)
    sections = evidence_sections(result, evidence or [])
    pages = {}
    for x in sections:
        pages.setdefault(x["e"]["worker"], "#" + x["anchor"])
    plotly = _plotly_assets() if sections else None
    page = ENV.get_template("report.html.j2").render(
        r=result,
        pages=pages,
        graders_line=_graders_line(result),
        evaluated_days=len(result.days),
        headline=headline(result.metrics),
        workers=worker_summary(result),
        figures={k: base64.b64encode(v).decode() for k, v in pngs.items()},
        shifts=shift_sections(result),
        evidence=sections,
        plotly=plotly,
    )
    path = folder / REPORT
    path.write_text(page, encoding="utf-8")
    return path


PLOTLY_BUNDLE = Path(__file__).parent / "vendor" / "plotly-cartesian.min.js.gz"
"""plotly.js's cartesian bundle (bar, scatter, heatmap, histogram, … ; npm package
``plotly.js-cartesian-dist-min``, MIT), gzipped: 0.5 MB where the full plotly.js (maps, 3D)
is 4.8 MB."""


def plotly_bundle() -> tuple[bytes, str]:
    """The gzipped plotly.js the report inlines, and what it is: the cartesian bundle when it is
    the plotly.js version of the installed plotly (the figures' JSON is that version's), else
    the installed full plotly.js."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    packed = PLOTLY_BUNDLE.read_bytes()
    head = gzip.decompress(packed)[:200].decode("utf-8", "replace")
    version = get_plotlyjs_version()
    if f" v{version}\n" in head:
        return packed, f"plotly.js {version} (cartesian)"
    LOG.warning(
        "the installed plotly draws with plotly.js %s, the report's cartesian bundle is another "
        "version: report.html inlines the full plotly.js (about 1.5 MB more)",
        version,
    )
    return gzip.compress(get_plotlyjs().encode(), mtime=0), f"plotly.js {version}"


def _plotly_assets() -> dict[str, Any]:
    """plotly.js (gzipped, base64: the page unpacks it with the browser's DecompressionStream),
    the figures' template and config: inlined once per report."""
    from harness.outputs import plots

    packed, what = plotly_bundle()
    return {
        "js_gz": base64.b64encode(packed).decode(),
        "what": what,
        "template": _json_script(plots.template_json(), "plotly-template"),
        "config": _json_script(json.dumps(plots.CONFIG), "plotly-config"),
    }


def evidence_sections(result: RunResult, evidence: list[Evidence]) -> list[dict[str, Any]]:
    """Per evidence record, what its section shows: decisions, figures and the truth."""
    from harness.outputs import plots

    records = {(r.day, r.shift): r for r in result.shifts}
    sections = []
    for e in sorted(evidence, key=lambda e: (e["day"], e["shift"], e["worker"])):
        rec = records.get((e["day"], e["shift"]))
        posts = {p.post: p for p in rec.posts} if rec else {}
        decisions = [
            {"hazard_post": c.hazard_post, "post": c.post, "reasons": c.reasons,
             "D": posts[c.hazard_post].D, "set": posts[c.hazard_post].set}
            for c in (rec.root_causes if rec else ())
            if c.worker == e["worker"]
        ]  # fmt: skip
        worker = next((w for w in rec.workers if w.worker == e["worker"]), None) if rec else None
        sections.append({
            "e": e,
            "anchor": decision_anchor(e["day"], e["shift"], e["worker"]),
            "decisions": decisions,
            "checked": worker.checked if worker else False,
            "figures": plots.figures(e, n_posts=len(rec.posts) if rec else None),
            "truth": evidence_truth(worker, rec),
        })  # fmt: skip
    return sections


def evidence_truth(worker: WorkerResult | None, rec: ShiftResult | None) -> dict[str, Any]:
    """The simulator's truth about a worker-shift, for its evidence page."""
    if worker is None or rec is None:
        return {"caused faults at": "none"}
    caused = [f"post {p.post} ({', '.join(p.faults)})" for p in rec.posts
              if worker.worker in p.culprits]  # fmt: skip
    truth: dict[str, Any] = {
        "profile": worker.profile,
        "needs_management": worker.needs_management,
        "needs_training": worker.needs_training,
    }
    truth["caused faults at"] = ", ".join(caused) or "none"
    return truth
