"""The evidence behind a worker-shift's Z and Y: what its decision page shows.

Computed where the arrays are (the scoring task), from the post's database statistics and
the worker's measured arrays, with the model's own functions, and kept small enough for a
report: the position record ``x_t`` and the standard post ``s_t`` as runs, and per minute the
reliability ``ρ_t``, the ρ-weighted off-post seconds (what Z sums), the share of the minute in
K and the mean ``q̄_t`` and ``σ²_t`` over it (what Y averages). The Z and Y of the database's
own worker-shifts against the database give the post's distribution to compare with.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

import core

if TYPE_CHECKING:  # results imports scoring, which builds the evidence
    from harness.evaluation.results import Evidence, EvidenceHistory

BIN_S = 60.0
"""Seconds per bin of the per-minute series."""


def runs(values: np.ndarray, rate_hz: float) -> list[list[float]]:
    """``[start_s, length_s, value]`` of each run of equal values (a compact, exact record)."""
    v = np.asarray(values)
    if v.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    lengths = np.diff(np.r_[starts, v.size])
    return [[s / rate_hz, n / rate_hz, int(v[s])] for s, n in zip(starts, lengths, strict=True)]


def _binned(values: np.ndarray, width: int, how: str) -> list[float | None]:
    """Per-bin mean or sum of ``values`` (NaN ignored; an all-NaN bin is None)."""
    out = []
    for start in range(0, values.size, width):
        chunk = values[start : start + width]
        kept = chunk[~np.isnan(chunk)]
        if not kept.size:
            out.append(None)
        else:
            out.append(float(kept.sum() if how == "sum" else kept.mean()))
    return out


def _quantile(values: np.ndarray, q: float) -> float | None:
    kept = values[np.isfinite(values)]
    return float(np.quantile(kept, q)) if kept.size else None


def database_scores(
    stats: core.HistoryStats, database: tuple[np.ndarray, np.ndarray], params: core.ModelParams
) -> EvidenceHistory:
    """Z and Y of the database's own worker-shifts against the database, and their quantiles: the
    post's distribution a worker-shift is shown against (one per database, shared by its
    flagged workers)."""
    history_z = core.onpost_state_batch(stats, database[0])
    history_y = core.proficiency_batch(stats, database[1], params, positions=database[0])
    return {
        "Z": history_z.tolist(),
        "Y": [None if math.isnan(v) else float(v) for v in history_y],
        "Z_median": _quantile(history_z, 0.5),
        "Z_p90": _quantile(history_z, 0.9),
        "Y_median": _quantile(history_y, 0.5),
        "Y_p10": _quantile(history_y, 0.1),
    }


def worker_evidence(
    stats: core.HistoryStats,
    record: core.WorkerShift,
    history: EvidenceHistory,
    params: core.ModelParams,
    *,
    day: int,
    shift: str,
    rate_hz: float,
    database_days: tuple[int, int],
) -> Evidence:
    """The evidence of one worker-shift (JSON-ready; see the module docstring).

    Args:
        stats: the post's database statistics for this shift.
        record: the worker's measured positions and speeds.
        history: :func:`database_scores` of the same database.
        params: the run's model parameters.
        database_days: first and last day of the database.
    """
    positions = np.asarray(record.positions)
    z = float(core.onpost_state_batch(stats, positions[None])[0])
    speeds = np.asarray(record.speeds)[None]
    y = float(core.proficiency_batch(stats, speeds, params, positions=positions[None])[0])
    keep, qbar, variance = core.proficiency_seconds(
        stats, record.speeds, params, positions=positions
    )
    weight = stats.rho * (positions != stats.standard)
    width = max(1, round(BIN_S * rate_hz))
    return {
        "worker": record.worker,
        "post": record.post,
        "day": day,
        "shift": shift,
        "Z": z,
        "Y": None if math.isnan(y) else y,
        "tau_Z": params.tau_Z,
        "tau_Y": params.tau_Y,
        "rho_min": params.rho_min,
        "T": int(positions.size),
        "rate_hz": rate_hz,
        "positions": runs(positions, rate_hz),
        "standard": runs(stats.standard, rate_hz),
        "offpost_minutes": float(weight.sum() / rate_hz / 60),
        "bins": {
            "t_min": [start / rate_hz / 60 for start in range(0, positions.size, width)],
            "rho": _binned(stats.rho, width, "mean"),
            "off_post": _binned(weight / rate_hz, width, "sum"),
            "k_share": _binned(keep.astype(float), width, "mean"),
            "qbar": _binned(qbar, width, "mean"),
            "var": _binned(variance, width, "mean"),
        },
        "dwell_s": (np.bincount(positions, minlength=stats.n_posts + 1) / rate_hz).tolist(),
        "history": history,
        "database": {
            "records": int(stats.m),
            "days": list(database_days),
            "pool": params.history_pool,
        },
    }
