"""The line's equipment and environment as the levels table shows them.

- **Equipment**: with labels, the faults of cause ``equipment`` per post-shift (Poisson);
  without, what the levels leave unexplained: ``ln(p0_model / p0)``, where ``p0`` is the
  share of post-shifts at level 0 and ``p0_model`` that predicted by the simulator's fault
  model from the fitted people and the environment alone.
- **Environment**: per quantity the median and 1.4826 × MAD of every reading; readings beyond
  `EXCURSION_Z` bands are replayed as excursions.

Per post, the share of shift changes at each level is reported too (Wilson intervals).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

import numpy as np
from scipy import stats

import sim
from harness.records._format import LABELS_POSTS, LEVELS
from harness.records._tables import ShiftChangeKey, WorkerShiftKey
from harness.records.fit._calibration import NORMAL_SKILL
from harness.records.fit._clock import Clock
from harness.records.fit._estimate import SECONDS_FILES, Fitting
from harness.records.fit._roster import wilson
from sim.equipment import fault_rates
from sim.scenario import QUANTITIES

EXCURSION_Z = 4.0
"""Environment readings this many bands from the median are replayed as excursions."""


def fit_equipment(
    fitting: Fitting, skills: dict[WorkerShiftKey, float], clock: Clock
) -> dict[str, Any]:
    """The twin's ``equipment`` section: the random fault rate, from the labels or else from what
    the levels leave unexplained; adds each post's level shares too."""
    m, levels = fitting.m, fitting.levels
    counts: dict[int, Counter[int]] = defaultdict(Counter)
    for (_, _, post), level in levels.level.items():
        counts[post][level] += 1
    for post in range(1, m.posts + 1):
        total = sum(counts[post].values())
        for level in range(5):
            k = counts[post][level]
            fitting.add(
                "level_rate",
                k / total if total else None,
                wilson(k, total) if total else None,
                post=post,
                n=total,
                unit_of_n="post-shifts",
                unit=f"share at level {level}",
                records=f"{LEVELS}: level of post {post}",
                method=f"share of the post's shift changes at level {level} (Wilson)",
            )
    if fitting.labels is not None:
        n = len(fitting.labels.posts)
        k = sum(
            1
            for _, faults in fitting.labels.posts.values()
            for f in faults
            if f.cause == "equipment"
        )
        lo = stats.chi2.ppf(0.025, 2 * k) / 2 / n if k else 0.0
        hi = stats.chi2.ppf(0.975, 2 * k + 2) / 2 / n
        rate, interval = k / n, (float(lo), float(hi))
        records = f"{LABELS_POSTS}: faults of cause equipment"
        method = "faults of cause equipment per labelled post-shift (Poisson)"
        limit = (
            "Fault causes come from the labels; the simulator has one random equipment "
            "fault rate for the whole line (per-post base rates are in fit.json) and its "
            "own rules for the faults people cause."
        )
    else:
        rate, interval, n, method = _unexplained_rate(fitting, skills, clock)
        records = f"{LEVELS}: level; {SECONDS_FILES}: area, speed_*"
        limit = (
            "Without labels the records cannot tell which levels people, equipment or "
            "the environment caused: the twin's random fault rate is what the levels leave "
            "unexplained by the simulator's fault model applied to the fitted people and "
            "environment, and the twin's culprits follow the simulator's rules, not the "
            "plant's."
        )
    fitting.add(
        "fault_rate",
        rate,
        interval,
        n=n,
        unit_of_n="post-shifts",
        unit="faults per post-shift",
        records=records,
        method=method,
        key="equipment.fault_rate",
    )
    fitting.limits.append(limit)
    return {"fault_rate": round(rate, 5)}


def _unexplained_rate(
    fitting: Fitting, skills: dict[WorkerShiftKey, float], clock: Clock
) -> tuple[float, tuple[float, float], int, str]:
    """The random fault rate the level-0 share leaves unexplained by the simulator's fault model
    applied to the fitted people (``skills``) and environment: its value, interval, the
    post-shifts it counts, and how."""
    m = fitting.m
    working_s = float(clock.working.sum()) / m.rate_hz
    per_shift: dict[tuple[int, str], list[sim.WorkerSummary]] = defaultdict(list)
    for x in fitting.measures:
        key = (x.day, x.shift, x.post, x.worker)
        positions = x.positions()
        areas, counts = np.unique(positions, return_counts=True)
        share = clock.offpost_share(x)
        per_shift[(x.day, x.shift)].append(
            sim.WorkerSummary(
                worker=x.worker,
                post=x.post,
                dwell={int(a): float(c) / m.rate_hz for a, c in zip(areas, counts, strict=True)},
                profile="",
                offpost_rate=share,
                skill=skills.get(key, NORMAL_SKILL),
                needs_management=False,
                needs_training=False,
                working_s=working_s,
                offpost_s=share * working_s if math.isfinite(share) else 0.0,
            )
        )
    p0_model, zeros, total = [], 0, 0
    env = _env_bands(fitting)
    for (day, shift, post), level in fitting.levels.level.items():
        rates = sum(fault_rates(w, m.posts).get(post, 0.0) for w in per_shift.get((day, shift), []))
        reading = fitting.levels.environment[(day, shift, post)]
        calm = all(
            sim.environment_level(float(reading[i]), mean=b[0], sd=b[1]) == 0
            for i, b in env.items()
        )
        p0_model.append(math.exp(-rates) * calm)
        zeros += level == 0
        total += 1
    expected = float(np.mean(p0_model)) if p0_model else 1.0
    lo, hi = wilson(zeros, total)

    def rate_at(p0: float) -> float:
        return max(0.0, math.log(expected / p0)) if p0 > 0 and expected > 0 else 0.0

    value = rate_at(zeros / total) if total else 0.0
    method = (
        f"ln(p0_model / p0): level-0 share {zeros}/{total} against "
        f"{expected:.3f} predicted from the fitted people and environment alone"
    )
    return value, (rate_at(hi), rate_at(lo)), total, method


def _env_bands(fitting: Fitting) -> dict[int, tuple[float, float]]:
    """Per environment column index of a simulator quantity: its median and band."""
    out = {}
    for i, name in enumerate(fitting.m.environment):
        if name in QUANTITIES:
            values = np.array([v[i] for v in fitting.levels.environment.values()])
            values = values[np.isfinite(values)]
            if len(values):
                median = float(np.median(values))
                out[i] = (median, float(1.4826 * np.median(np.abs(values - median))))
    return out


def fit_environment(fitting: Fitting) -> dict[str, Any]:
    """The twin's ``environment`` section: each simulator quantity's median and band, and the
    readings beyond `EXCURSION_Z` bands as excursions."""
    out: dict[str, Any] = {}
    bands = _env_bands(fitting)
    excursions: dict[ShiftChangeKey, dict[str, float]] = defaultdict(dict)
    for i, (median, sd) in bands.items():
        name = fitting.m.environment[i]
        values = np.array([v[i] for v in fitting.levels.environment.values()])
        n = int(np.isfinite(values).sum())
        half = 1.96 * sd / math.sqrt(max(n, 1))
        fitting.add(
            f"environment.{name}",
            median,
            (median - half, median + half),
            n=n,
            unit_of_n="readings",
            unit=name.rsplit("_", 1)[-1],
            records=f"{LEVELS}: env_{name}",
            method=f"median (band sd {sd:.4g} = 1.4826 × MAD)",
            key=f"environment.{name}",
        )
        out[name] = {"mean": round(median, 4), "sd": round(sd, 4)}
        for (day, shift, post), reading in fitting.levels.environment.items():
            x = float(reading[i])
            if math.isfinite(x) and sd > 0 and abs(x - median) > EXCURSION_Z * sd:
                excursions[(day, shift, post)][name] = round(x, 4)
    other = [q for q in fitting.m.environment if q not in QUANTITIES]
    if other:
        fitting.limits.append(
            f"Environment quantities the simulator does not model are left out: {other}."
        )
    missing = [q for q in QUANTITIES if q not in fitting.m.environment]
    if missing:
        fitting.limits.append(
            f"The records hold no {missing}: the twin keeps the simulator's default bands."
        )
    if excursions:
        fitting.limits.append(
            f"{len(excursions)} environment readings beyond {EXCURSION_Z:g} bands are "
            "replayed as the twin's excursions on the same post-shifts."
        )
    shifts = fitting.m.shifts
    out["excursions"] = [
        {"post": p, "day": d, "shift": s, **values}
        for (d, s, p), values in sorted(
            excursions.items(), key=lambda e: (e[0][0], shifts.index(e[0][1]), e[0][2])
        )
    ]
    return out
