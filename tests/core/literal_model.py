"""A literal, per-second transcription of MODEL.md: the reference the vectorised core is
checked against (tests) and timed against (benchmarks). Deliberately plain Python loops."""

from __future__ import annotations

import math

import numpy as np


def hazard_degree(levels, G):
    n = len(levels)
    out = []
    for i in range(n):
        total = levels[i]
        for j in range(n):
            if j != i:
                total += G[i][j] * levels[j]
        out.append(0.2 * total)
    return out


def actual_correlation(dwell, T, G, lam, direction):
    n = len(dwell)
    P = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if direction == "out":
                r = dwell[i][j + 1] / T
            else:
                r = min(1.0, (dwell[i][j + 1] + dwell[j][i + 1]) / T)
            P[i][j] = lam * G[i][j] + (1 - lam) * r
    return P


def hazard_post_sets(D, P, tau_D, tau_P):
    sets = {}
    for i in range(len(D)):
        if D[i] > tau_D:
            members = [i + 1]
            for j in range(len(D)):
                if j != i and P[i][j] > tau_P:
                    members.append(j + 1)
            sets[i + 1] = sorted(members)
    return sets


def _second_stats(history, t, post, n_posts):
    m = len(history)
    counts = [0] * (n_posts + 1)
    for record in history:
        counts[int(record[t])] += 1
    entropy = 0.0
    for c in counts:
        if c > 0:
            p = c / m
            entropy -= p * math.log(p)
    rho = 1 - entropy / math.log(n_posts + 1)
    best = max(counts)
    standard = post if counts[post] == best else counts.index(best)
    return rho, standard


def onpost_state(history, positions, post, n_posts):
    num = 0.0
    den = 0.0
    for t in range(len(positions)):
        rho, standard = _second_stats(history, t, post, n_posts)
        deviation = 1 if int(positions[t]) != standard else 0
        num += rho * deviation
        den += rho
    return 0.0 if den == 0 else num / den


def proficiency(history, history_speeds, speeds, post, n_posts, rho_min, eps, positions=None):
    """Y; with ``positions``, MODEL.md's ``proficiency_seconds: on_post`` variant (K_on)."""
    m = len(history)
    terms = []
    for t in range(len(speeds)):
        rho, standard = _second_stats(history, t, post, n_posts)
        if rho < rho_min or standard == 0:
            continue
        if positions is not None and int(positions[t]) != standard:
            continue
        q = []
        for k in range(14):
            mean = sum(float(history_speeds[r][t][k]) for r in range(m)) / m
            q.append((float(speeds[t][k]) + eps) / (mean + eps))
        q_mean = sum(q) / 14
        var = sum((x - q_mean) ** 2 for x in q) / 14
        terms.append(q_mean / (1 + var))
    return float("nan") if not terms else sum(terms) / len(terms)


def random_inputs(rng: np.random.Generator, *, n: int, m: int, T: int):
    """Random but structured inputs: workers mostly at their post, breaks, ties."""
    post = int(rng.integers(1, n + 1))
    p = rng.dirichlet(np.ones(n + 1))
    p[post] += 2.0
    p /= p.sum()
    history = rng.choice(n + 1, size=(m, T), p=p)
    history[:, : T // 5] = 0  # a break: standard post 0
    positions = rng.choice(n + 1, size=T, p=p)
    history_speeds = rng.gamma(2.0, 5.0, size=(m, T, 14))
    speeds = rng.gamma(2.0, 5.0, size=(T, 14))
    return post, history, positions, history_speeds, speeds
