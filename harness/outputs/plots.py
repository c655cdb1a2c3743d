"""Interactive Plotly figures of one worker-shift's evidence (see
:mod:`harness.evaluation.evidence`).

Figures leave here as Plotly JSON without their template: the report holds the template and
plotly.js once and draws each figure when its section is shown.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

CONFIG = {"displaylogo": False, "responsive": True}
"""Plotly's config for every evidence figure."""


SIGNIFICANT_DIGITS = 5
"""Digits a figure's numbers keep (a second in an 8-hour shift in minutes; the report's
figures were two thirds float digits nobody sees)."""


def _rounded(value: Any) -> Any:
    """``value`` with every float (and float array) rounded to :data:`SIGNIFICANT_DIGITS`."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        value = value.tolist()
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _json(fig: go.Figure) -> str:
    data = fig.to_plotly_json()
    data["layout"].pop("template", None)
    return pio.json.to_json_plotly(_rounded(data))


def count_ticks(values: list[float], *, bins: int) -> dict[str, Any]:
    """Axis settings for a histogram's count axis: whole-number ticks, about five of them."""
    top = int(np.histogram(values, bins=bins)[0].max()) if values else 1
    return {"tick0": 0, "dtick": max(1, -(-top // 5)), "rangemode": "tozero"}


def template_json() -> str:
    """The figures' shared Plotly template (the default one), as JSON."""
    return pio.json.to_json_plotly(pio.templates[pio.templates.default].to_plotly_json())


def _steps(runs: list[list[float]]) -> tuple[list[float], list[float]]:
    """Step-line coordinates (minutes, area) of ``[start_s, length_s, area]`` runs."""
    x, y = [], []
    for start, length, area in runs:
        x += [start / 60, (start + length) / 60, None]
        y += [area, area, None]
    return x, y


def position_figure(e: dict[str, Any]) -> go.Figure:
    """x_t against s_t over the shift, ρ_t as a heat strip, off-post weight per minute."""
    bins = e["bins"]
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, row_heights=[0.6, 0.12, 0.28], vertical_spacing=0.04,
        subplot_titles=("area: worker x_t and standard post s_t (0 = aisle, rest room)",
                        "reliability ρ_t", "ρ-weighted off-post seconds per minute"),
    )  # fmt: skip
    sx, sy = _steps(e["standard"])
    fig.add_trace(go.Scatter(x=sx, y=sy, name="standard post s_t", mode="lines",
                             line={"color": "#888", "width": 6}), row=1, col=1)  # fmt: skip
    wx, wy = _steps(e["positions"])
    fig.add_trace(go.Scatter(x=wx, y=wy, name="worker x_t", mode="lines",
                             line={"color": "#c0392b", "width": 2}), row=1, col=1)  # fmt: skip
    fig.add_trace(
        go.Heatmap(x=bins["t_min"], y=["ρ"], z=[bins["rho"]], colorscale="Greys", zmin=0, zmax=1,
                   showscale=False, hovertemplate="minute %{x}: ρ %{z:.2f}<extra></extra>"),
        row=2, col=1,
    )  # fmt: skip
    fig.add_trace(go.Bar(x=bins["t_min"], y=bins["off_post"], name="off-post weight",
                         marker_color="#c0392b"), row=3, col=1)  # fmt: skip
    fig.update_yaxes(title_text="area", dtick=1, row=1, col=1)
    fig.update_xaxes(title_text="minutes since clock-in", row=3, col=1)
    fig.update_layout(height=520, margin={"t": 40, "b": 40}, legend={"orientation": "h"})
    return fig


def motion_figure(e: dict[str, Any]) -> go.Figure:
    """Per-minute q̄_t and σ²_t over the seconds in K, with K's share of each minute."""
    bins = e["bins"]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        subplot_titles=("speed ratio q̄_t (1 = the standard motion)",
                                        "share of the minute in K"))  # fmt: skip
    fig.add_trace(go.Scatter(x=bins["t_min"], y=bins["qbar"], name="q̄_t", mode="lines",
                             line={"color": "#2c3e50"}), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=bins["t_min"], y=bins["var"], name="σ²_t", mode="lines",
                             line={"color": "#e67e22", "dash": "dot"}), row=1, col=1)  # fmt: skip
    fig.add_hline(y=1.0, line={"color": "#999", "dash": "dash"}, row=1, col=1)
    fig.add_trace(go.Bar(x=bins["t_min"], y=bins["k_share"], name="in K",
                         marker_color="#95a5a6"), row=2, col=1)  # fmt: skip
    fig.update_xaxes(title_text="minutes since clock-in", row=2, col=1)
    fig.update_yaxes(range=[0, 1], row=2, col=1)
    fig.update_layout(height=420, margin={"t": 40, "b": 40}, legend={"orientation": "h"})
    return fig


def floor_figure(e: dict[str, Any], n_posts: int | None) -> go.Figure:
    """Where the worker was: minutes per area laid out along the line (aisle first)."""
    dwell = np.asarray(e["dwell_s"], dtype=float) / 60
    labels = ["aisle/rest"] + [f"post {k}" for k in range(1, len(dwell))]
    colours = ["#c0392b" if k == e["post"] else "#2980b9" for k in range(len(dwell))]
    fig = go.Figure(go.Bar(x=labels, y=dwell, marker_color=colours,
                           hovertemplate="%{x}: %{y:.1f} min<extra></extra>"))  # fmt: skip
    fig.update_layout(title="floor plan: minutes in each area (own post in red)",
                      yaxis_title="minutes", height=300, margin={"t": 40, "b": 40})  # fmt: skip
    return fig


def history_figure(e: dict[str, Any]) -> go.Figure:
    """The worker's Z and Y against the database records' and the thresholds."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Z of the database records",
                                                        "Y of the database records"))  # fmt: skip
    for col, key, tau in ((1, "Z", e["tau_Z"]), (2, "Y", e["tau_Y"])):
        values = [v for v in e["history"][key] if v is not None]
        fig.add_trace(go.Histogram(x=values, name=f"database {key}", marker_color="#95a5a6",
                                   nbinsx=20), row=1, col=col)  # fmt: skip
        fig.update_yaxes(title_text="records", row=1, col=col, **count_ticks(values, bins=20))
        fig.add_vline(x=tau, line={"color": "#000", "dash": "dash"}, row=1, col=col)
        if e[key] is not None:
            fig.add_vline(x=e[key], line={"color": "#c0392b", "width": 3}, row=1, col=col)
    fig.update_layout(height=300, showlegend=False, margin={"t": 40, "b": 40},
                      title="dashed: threshold; red: this worker-shift")  # fmt: skip
    return fig


def figures(e: dict[str, Any], *, n_posts: int | None) -> dict[str, str]:
    """The evidence's figures as Plotly JSON without the template (:func:`template_json`)."""
    return {
        "position": _json(position_figure(e)),
        "floor": _json(floor_figure(e, n_posts)),
        "motion": _json(motion_figure(e)),
        "history": _json(history_figure(e)),
    }
