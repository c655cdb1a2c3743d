"""Steps 1 and 2 of MODEL.md: hazard degree, actual correlation and hazard post sets."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from core._checks import as_array, check_ints, check_matrix_01, check_n_posts, check_shape
from core._errors import ModelInputError
from core._params import ModelParams

N_LEVELS = 5


def hazard_degree(levels: np.ndarray | Sequence[int], G: np.ndarray) -> np.ndarray:
    """Hazard degree ``D_i = 0.2 · (d_i + Σ_{j≠i} g_ij · d_j)`` of every post.

    Args:
        levels: ``(n,)`` hazard levels d_i in 0..4 from the grading DNNs.
        G: ``(n, n)`` fixed correlation in [0, 1]; its diagonal is not used (d_i counts once).

    Returns:
        ``(n,)`` float64 hazard degrees.
    """
    d = as_array("levels", levels, ndim=1)
    n = d.shape[0]
    if n == 0:
        raise ModelInputError("`levels` must hold one level per post, got an empty array")
    d = check_ints("levels", d, N_LEVELS - 1, "hazard levels").astype(np.float64)
    g = check_matrix_01("G", as_array("G", G, ndim=2), n)
    return 0.2 * (d + g @ d - np.diagonal(g) * d)


def actual_correlation(
    dwell: np.ndarray, T: float, G: np.ndarray, params: ModelParams = ModelParams()
) -> np.ndarray:
    """Actual correlation ``P_ij = λ · g_ij + (1 − λ) · r_ij`` (reconstructed).

    Args:
        dwell: ``(n, n+1)`` seconds that post i's worker(s) spent in area a (column a, 0 = no
            post), averaged over the post's workers.
        T: shift length in the same unit as ``dwell`` (seconds).
        G: ``(n, n)`` fixed correlation in [0, 1].
        params: ``lam`` and ``direction`` are used.

    Returns:
        ``(n, n)`` float64 matrix, row i = post i, column j = post j.
    """
    beta = as_array("dwell", dwell, ndim=2).astype(np.float64, copy=False)
    n = beta.shape[0]
    check_n_posts(n)
    check_shape("dwell", beta, (n, n + 1))
    if not np.all(np.isfinite(beta)) or beta.min() < 0:
        raise ModelInputError(f"`dwell` must hold finite seconds >= 0, got min {beta.min()}")
    if isinstance(T, bool) or not isinstance(T, (int, float, np.number)) or not T > 0:
        raise ModelInputError(f"`T` must be a number of seconds > 0, got {T!r}")
    if not math.isfinite(T):
        raise ModelInputError(f"`T` must be finite, got {T!r}")
    row = beta.sum(axis=1)
    if row.max() > T * (1 + 1e-9):
        i = int(row.argmax())
        raise ModelInputError(
            f"`dwell` row of post {i + 1} sums to {row[i]} s, more than the shift length T={T}"
        )
    g = check_matrix_01("G", as_array("G", G, ndim=2), n)
    r = beta[:, 1:] / T
    if params.direction == "both":
        r = np.minimum(1.0, r + r.T)
    return params.lam * g + (1.0 - params.lam) * r


def hazard_post_sets(
    D: np.ndarray, P: np.ndarray, params: ModelParams = ModelParams()
) -> dict[int, list[int]]:
    """Hazard post sets ``S_i = {i} ∪ {j ≠ i : P_ij > τ_P}`` for every post with ``D_i > τ_D``.

    Returns:
        Mapping hazard post (1-based) → sorted list of the posts of its set.
    """
    d = as_array("D", D, ndim=1).astype(np.float64, copy=False)
    n = d.shape[0]
    check_n_posts(n)
    if not np.all(np.isfinite(d)) or d.min() < 0:
        raise ModelInputError("`D` must hold finite hazard degrees >= 0")
    p = as_array("P", P, ndim=2).astype(np.float64, copy=False)
    check_shape("P", p, (n, n))
    if not np.all(np.isfinite(p)):
        raise ModelInputError("`P` must be finite, got NaN or inf")
    member = p > params.tau_P
    np.fill_diagonal(member, True)
    return {
        int(i) + 1: [int(j) + 1 for j in np.flatnonzero(member[i])]
        for i in np.flatnonzero(d > params.tau_D)
    }


def dwell_times(
    positions: np.ndarray, posts: np.ndarray | Sequence[int], n_posts: int, rate_hz: float = 1.0
) -> np.ndarray:
    """Dwell matrix β: seconds each post's workers spent in each area, averaged per post.

    Args:
        positions: ``(w, T)`` area ids of w workers.
        posts: ``(w,)`` the post (1..n) of each worker.
        n_posts: number of posts n.
        rate_hz: samples per second.

    Returns:
        ``(n, n+1)`` seconds; a post without workers has a zero row.
    """
    check_n_posts(n_posts)
    x = check_ints("positions", as_array("positions", positions, ndim=2), n_posts)
    owner = check_ints("posts", as_array("posts", posts, ndim=1), n_posts, "posts")
    check_shape("posts", owner, (x.shape[0],))
    if owner.min() < 1:
        raise ModelInputError(f"`posts` must hold posts in 1..{n_posts}, got 0")
    if not rate_hz > 0:
        raise ModelInputError(f"`rate_hz` must be > 0, got {rate_hz!r}")
    width = n_posts + 1
    flat = (owner[:, None] - 1) * width + x
    counts = np.bincount(flat.ravel(), minlength=n_posts * width).reshape(n_posts, width)
    workers = np.bincount(owner - 1, minlength=n_posts)
    return counts / np.maximum(workers, 1)[:, None] / rate_hz


def dwell_row(positions: np.ndarray, n_posts: int, rate_hz: float = 1.0) -> np.ndarray:
    """One post's row of β: seconds its ``(w, T)`` workers spent in each area, averaged.

    The row form of :func:`dwell_times`, for work split by post.
    """
    check_n_posts(n_posts)
    x = check_ints("positions", as_array("positions", positions, ndim=2), n_posts)
    if not rate_hz > 0:
        raise ModelInputError(f"`rate_hz` must be > 0, got {rate_hz!r}")
    return np.bincount(x.ravel(), minlength=n_posts + 1) / x.shape[0] / rate_hz
