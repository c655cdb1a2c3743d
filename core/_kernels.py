"""The model's per-second loops, compiled (numba): one pass where numpy needs many.

Each kernel does what a few lines of numpy would, in one pass over the arrays and without
temporaries: the proficiency ratios (a worker-shift's ``(T, 14)`` speeds, 1.6 MB, read once
instead of six float64 passes), the counts of a post database's areas (a scatter per record
instead of a ``(T, n+1)`` bincount) and the entropy and standard post of each second.
Float64 arithmetic throughout; ``fastmath`` lets sums be reassociated (vectorised), so results
stay within rounding of the numpy forms (tests/core hold them to the literal model). The
kernels assume finite inputs: callers check them first (:func:`core._checks.check_speeds`).

Compiled on first use and cached beside this module (``cache=True``: a process after the first
loads the machine code in milliseconds); :mod:`core._scores` imports this module only when it
scores, so ``import core`` stays light.
"""

from __future__ import annotations

import numba
import numpy as np

_FAST = True
"""Sums may be reassociated and multiply-adds fused, inputs are finite (checked before)."""
_BLOCK = 512
"""Seconds per block: the block's ``1 / (v̄ + ε)`` rows stay in cache across the workers."""


@numba.njit(cache=True, fastmath=_FAST, nogil=True)
def ratio_totals(
    v: np.ndarray,
    inverse: np.ndarray,
    eps_inverse: np.ndarray,
    seconds: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[w] = Σ_{t: seconds} q̄_t / (1 + σ²_t)`` with ``q_t,k = v_t,k · inverse_t,k +
    eps_inverse_t,k``.

    Args:
        v: ``(w, T, 14)`` speeds.
        inverse, eps_inverse: ``(T, 14)`` ``1 / (v̄ + ε)`` and ``ε / (v̄ + ε)``.
        seconds: ``(1, T)`` seconds to sum for every worker, or ``(w, T)`` per worker.
        out: ``(w,)`` float64.
    """
    workers, T, K = v.shape
    shared = seconds.shape[0] == 1
    out[:] = 0.0
    for start in range(0, T, _BLOCK):
        stop = min(T, start + _BLOCK)
        for w in range(workers):
            row = 0 if shared else w
            total = 0.0
            for t in range(start, stop):
                if not seconds[row, t]:
                    continue
                s1 = 0.0
                s2 = 0.0
                for k in range(K):
                    q = v[w, t, k] * inverse[t, k] + eps_inverse[t, k]
                    s1 += q
                    s2 += q * q
                mean = s1 / K
                total += mean / (1.0 + (s2 / K - mean * mean))
            out[w] += total


@numba.njit(cache=True, fastmath=_FAST, nogil=True)
def ratio_terms(
    v: np.ndarray, inverse: np.ndarray, eps_inverse: np.ndarray, out: np.ndarray
) -> None:
    """``out[t] = q̄_t / (1 + σ²_t)`` of one worker's ``(T, 14)`` speeds (see
    :func:`ratio_totals`)."""
    T, K = v.shape
    for t in range(T):
        s1 = 0.0
        s2 = 0.0
        for k in range(K):
            q = v[t, k] * inverse[t, k] + eps_inverse[t, k]
            s1 += q
            s2 += q * q
        mean = s1 / K
        out[t] = mean / (1.0 + (s2 / K - mean * mean))


@numba.njit(cache=True, fastmath=_FAST, nogil=True)
def off_standard(x: np.ndarray, standard: np.ndarray, rho: np.ndarray, out: np.ndarray) -> None:
    """``out[w] = Σ_t ρ_t · [x_w,t ≠ s_t]`` of the ``(w, T)`` area ids ``x``."""
    workers, T = x.shape
    for w in range(workers):
        total = 0.0
        for t in range(T):
            if x[w, t] != standard[t]:
                total += rho[t]
        out[w] = total


@numba.njit(cache=True, nogil=True)
def speed_sums(v: np.ndarray) -> np.ndarray:
    """``Σ_r v[r]`` of ``(m, T, 14)`` speeds in float64, the records added in order (as numpy's
    ``sum(axis=0)``, in one pass)."""
    m, T, K = v.shape
    out = np.zeros((T, K))
    for r in range(m):
        for t in range(T):
            for k in range(K):
                out[t, k] += v[r, t, k]
    return out


@numba.njit(cache=True, nogil=True)
def add_counts(counts: np.ndarray, x: np.ndarray, column: np.ndarray, sign: int) -> bool:
    """``counts[t, column[x[r, t]]] += sign`` for every record r; with ``sign = -1``, False
    (``counts`` unchanged) when a count would go negative (records not held)."""
    records, T = x.shape
    for r in range(records):
        for t in range(T):
            c = column[x[r, t]]
            counts[t, c] += sign
            if counts[t, c] < 0:  # undo everything done so far
                counts[t, c] -= sign
                for t2 in range(t):
                    counts[t2, column[x[r, t2]]] -= sign
                for r2 in range(r):
                    for t2 in range(T):
                        counts[t2, column[x[r2, t2]]] -= sign
                return False
    return True


@numba.njit(cache=True, nogil=True)
def entropy_standard(
    counts: np.ndarray,
    areas: np.ndarray,
    terms: np.ndarray,
    post_column: int,
    entropy: np.ndarray,
    standard: np.ndarray,
) -> None:
    """Per second: ``entropy[t] = −Σ_a terms[c_t,a] / m`` (summed in area order) and the
    standard post (the most frequent area; ties: the post's own column, else the smallest id).

    Args:
        counts: ``(T, k)`` counts of the areas ``areas`` (ascending ids).
        terms: ``c · ln(c / m)`` for ``c = 0..m`` (its length is m + 1).
        post_column: the post's column in ``counts``, or −1 when no record visits it.
    """
    T, k = counts.shape
    m = terms.shape[0] - 1
    for t in range(T):
        h = 0.0
        best = 0
        at = 0
        for a in range(k):
            c = counts[t, a]
            if c == 0:  # most areas of a long line at most seconds: adds nothing
                continue
            h += terms[c]
            if c > best:
                best = c
                at = a
        entropy[t] = -h / m
        if post_column >= 0 and counts[t, post_column] == best:
            at = post_column
        standard[t] = areas[at]
