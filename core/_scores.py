"""Step 3 of MODEL.md: the post database, its history statistics, on-post state Z and
proficiency Y.

Which records form a post's database for a shift is :func:`in_database`'s definition (a
rolling window of days, of one or both shift types). The history statistics of a post
(ρ_t, s_t, v̄_t) depend only on its database, so they are computed once per post and shift
(:func:`history_stats`, or :class:`HistoryWindow` when a rolling window slides day by day)
and reused to score any number of workers (:func:`onpost_state_batch`,
:func:`proficiency_batch`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from core._checks import as_array, check_ints, check_post, check_shape, check_speeds
from core._errors import ModelInputError
from core._params import ModelParams
from core._types import N_KEYPOINTS, PostHistory


@dataclass(frozen=True)
class HistoryStats:
    """A post's history statistics over its database (one evaluated shift's, or a window's).

    Attributes:
        post: the post j (1..n) whose history this is.
        n_posts: number of posts n.
        m: number of history records.
        rho: ``(T,)`` reference value ρ_t in [0, 1].
        standard: ``(T,)`` standard post s_t (area id).
        mean_speeds: ``(T, 14)`` standard motion v̄_t,k (mean of the records' speeds), or
            ``None`` when the stats were built from positions only.
    """

    post: int
    n_posts: int
    m: int
    rho: np.ndarray
    standard: np.ndarray
    mean_speeds: np.ndarray | None
    _terms: dict[tuple[float, float], tuple[int, np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def T(self) -> int:
        """Number of samples per shift."""
        return int(self.rho.shape[0])

    def reliable_seconds(self, rho_min: float) -> np.ndarray:
        """``(T,)`` mask of ``K = {t : ρ_t ≥ ρ′ and s_t ≠ 0}``, the seconds Y is made of."""
        return (self.rho >= rho_min) & (self.standard != 0)

    def proficiency_terms(self, rho_min: float, eps: float) -> tuple[int, np.ndarray, np.ndarray]:
        """``|K|``, ``1 / (v̄ + ε)`` and ``ε / (v̄ + ε)`` on ``K = {t : ρ_t ≥ ρ′, s_t ≠ 0}``.

        Both arrays are 0 off K (cached per ``(ρ′, ε)``).

        Zero rows make the seconds outside K contribute nothing, so scoring runs over
        contiguous rows without gathering K.
        """
        key = (float(rho_min), float(eps))
        if key not in self._terms:
            if self.mean_speeds is None:
                raise ModelInputError(
                    "these history stats hold no speeds; build them with history speeds "
                    "to score proficiency"
                )
            keep = self.reliable_seconds(rho_min)
            inverse = np.zeros_like(self.mean_speeds)
            inverse[keep] = 1.0 / (self.mean_speeds[keep] + eps)
            self._terms[key] = (int(keep.sum()), inverse, eps * inverse)
        return self._terms[key]


def history_stats(
    history: PostHistory | np.ndarray,
    post: int,
    n_posts: int,
    history_speeds: np.ndarray | None = None,
) -> HistoryStats:
    """Compute ρ_t, s_t and v̄_t of post ``post`` from its history database.

    Args:
        history: a :class:`PostHistory`, or the ``(m, T)`` positions alone.
        post: the post j (1..n) the history belongs to (it wins ties of the standard post).
        n_posts: number of posts n.
        history_speeds: ``(m, T, 14)`` speeds, when ``history`` is a positions array.
    """
    if isinstance(history, PostHistory):
        positions, speeds = history.positions, history.speeds
    else:
        positions, speeds = history, history_speeds
    check_post(post, n_posts)
    x = check_ints("history", as_array("history", positions, ndim=2), n_posts)
    m, T = x.shape
    table = _AreaCounts(post=post, n_posts=n_posts, T=T)
    table.add(x)
    entropy, standard = table.entropy_standard(m)
    rho = _reference_value(entropy, n_posts)
    mean = None
    if speeds is not None:
        v = check_speeds("history_speeds", as_array("history_speeds", speeds, ndim=3))
        check_shape("history_speeds", v, (m, T, N_KEYPOINTS))
        mean = _kernels().speed_sums(_speeds_array(v)) / m
    return HistoryStats(post, n_posts, m, rho, standard, mean)


def in_database(
    keys: Sequence[tuple[int, str]],
    *,
    day: int,
    shift: str,
    params: ModelParams = ModelParams(),
) -> np.ndarray:
    """Which of a post's records form its database for the shift ``(day, shift)`` (MODEL.md).

    The database of a shift on day d holds the post's records of days ``d − W .. d − 1``
    (``W = params.history_window_days``) of every shift type (``history_pool = "post"``) or
    of ``shift``'s type only (``"post_shift"``). The caller builds the database from the
    chosen records; the worker's own past records belong to it like anyone else's.

    Args:
        keys: the ``(day, shift)`` of each of the post's records (a key repeats when several
            workers worked the post-shift).
        day: the evaluated day d.
        shift: the evaluated shift's name.
        params: ``history_pool`` and ``history_window_days`` are used.

    Returns:
        ``(len(keys),)`` booleans, True for the records in the database.
    """
    _check_day("day", day)
    if not isinstance(shift, str):
        raise ModelInputError(f"`shift` must be a shift name (str), got {shift!r}")
    days = database_days(day, params.history_window_days)
    chosen = np.zeros(len(keys), dtype=bool)
    for k, key in enumerate(keys):
        if not isinstance(key, tuple) or len(key) != 2 or not isinstance(key[1], str):
            raise ModelInputError(f"`keys[{k}]` must be a (day, shift name) pair, got {key!r}")
        record_day, record_shift = key
        _check_day(f"keys[{k}] day", record_day)
        chosen[k] = record_day in days and (params.history_pool == "post" or record_shift == shift)
    return chosen


def database_days(day: int, window_days: int) -> range:
    """The days whose records form the database of a shift on ``day``: ``d − W .. d − 1``
    (days are numbered from 1)."""
    return range(max(1, day - window_days), day)


def database_pools(shifts: Sequence[str], params: ModelParams) -> list[tuple[str, ...]]:
    """The shift types that share one database: all of them (``history_pool = "post"``) or
    each alone (``"post_shift"``)."""
    return [(s,) for s in shifts] if params.history_pool == "post_shift" else [tuple(shifts)]


def _check_day(name: str, day: int) -> None:
    if isinstance(day, bool) or not isinstance(day, (int, np.integer)):
        raise ModelInputError(f"`{name}` must be an int (a day number), got {day!r}")


class HistoryWindow:
    """A post's history statistics over a sliding database: records are added and removed.

    The counts ``c_t,a`` and the speed sums are additive over records, so moving a rolling
    window by one day adds that day's records and removes the oldest day's, instead of
    recounting every record. :meth:`stats` equals :func:`history_stats` of the records held:
    s_t exactly (integer counts, same tie rule), ρ_t likewise (the same sums in the same
    order), v̄_t up to float64 rounding (sums kept in float64, so add/remove round-trips; the
    last bits depend on the order of adds and removes, so slide over the same sequence of days
    for bit-identical results).

    The counts are kept only for the areas the records visit (a post, its neighbours, the
    aisle: a handful whatever the line's length), so a slide costs ``O(T)`` per record added or
    removed and :meth:`stats` ``O(T·k)`` for k areas visited
    (``experiments/benchmarks/bench_core.py`` prints a slide against a recompute).

    Args:
        post: the post j (1..n) whose database this is.
        n_posts: number of posts n.
        T: samples per shift.
    """

    def __init__(self, *, post: int, n_posts: int, T: int) -> None:
        check_post(post, n_posts)
        if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
            raise ModelInputError(f"`T` must be an int >= 1 (samples per shift), got {T!r}")
        self.post = int(post)
        self.n_posts = int(n_posts)
        self._counts = _AreaCounts(post=post, n_posts=n_posts, T=int(T))
        self._speed_sums = np.zeros((int(T), N_KEYPOINTS))
        self._m = 0

    @property
    def m(self) -> int:
        """Number of records held."""
        return self._m

    @property
    def T(self) -> int:
        """Number of samples per shift."""
        return self._counts.T

    def add(self, positions: np.ndarray, speeds: np.ndarray) -> None:
        """Add k records: ``(k, T)`` area ids and ``(k, T, 14)`` speeds (px/s)."""
        x, sums = self._checked(positions, speeds)
        self._counts.add(x)
        self._speed_sums += sums
        self._m += x.shape[0]

    def remove(self, positions: np.ndarray, speeds: np.ndarray) -> None:
        """Remove k records added before (same arrays as given to :meth:`add`).

        Raises:
            ModelInputError: the records were not all added (a count would go negative);
                nothing is removed then.
        """
        x, sums = self._checked(positions, speeds)
        if not self._counts.remove(x):
            raise ModelInputError(
                "`positions` holds records this window does not hold; remove only records "
                "added before"
            )
        self._speed_sums -= sums
        self._m -= x.shape[0]

    def stats(self) -> HistoryStats:
        """The post's history statistics over the records held (see :func:`history_stats`)."""
        if self._m == 0:
            raise ModelInputError(
                f"post {self.post}: the history window holds no records; add some first"
            )
        entropy, standard = self._counts.entropy_standard(self._m)
        rho = _reference_value(entropy, self.n_posts)
        mean = self._speed_sums / self._m
        return HistoryStats(self.post, self.n_posts, self._m, rho, standard, mean)

    def _checked(self, positions: np.ndarray, speeds: np.ndarray) -> tuple[np.ndarray, ...]:
        """The records' area ids and their ``(T, 14)`` speed sums, after checks."""
        x = check_ints("positions", as_array("positions", positions, ndim=2), self.n_posts)
        check_shape("positions", x, (None, self.T))
        v = check_speeds("speeds", as_array("speeds", speeds, ndim=3))
        check_shape("speeds", v, (x.shape[0], self.T, N_KEYPOINTS))
        return x, _kernels().speed_sums(_speeds_array(v))


class _AreaCounts:
    """The counts ``c_t,a`` of a post's records, for the areas they visit (ascending ids).

    Columns are added when a record visits a new area (and kept: a handful per post), so the
    table is ``(T, k)`` for the k areas visited rather than ``(T, n+1)``.
    """

    def __init__(self, *, post: int, n_posts: int, T: int) -> None:
        self.post = post
        self.T = T
        self.areas = np.zeros(0, dtype=np.intp)
        self.column = np.full(n_posts + 1, -1, dtype=np.intp)
        self.counts = np.zeros((T, 0), dtype=np.int32)

    def add(self, x: np.ndarray) -> None:
        """Count the ``(k, T)`` records ``x``."""
        seen = np.zeros(self.column.size, dtype=bool)
        seen[x] = True
        new = np.flatnonzero(seen & (self.column < 0))
        if new.size:
            areas = np.union1d(self.areas, new)
            counts = np.zeros((self.T, areas.size), dtype=np.int32)
            counts[:, np.searchsorted(areas, self.areas)] = self.counts
            self.areas, self.counts = areas, counts
            self.column[areas] = np.arange(areas.size)
        _kernels().add_counts(self.counts, x, self.column, 1)

    def remove(self, x: np.ndarray) -> bool:
        """Uncount the records ``x``; False (nothing changed) when they were not counted."""
        if np.any(self.column[x] < 0):
            return False
        return bool(_kernels().add_counts(self.counts, x, self.column, -1))

    def entropy_standard(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """Entropy ``H_t`` and standard post ``s_t`` of the m records counted (ties: the
        post, else the smallest id)."""
        entropy = np.empty(self.T)
        standard = np.empty(self.T, dtype=np.intp)
        _kernels().entropy_standard(self.counts, self.areas, _count_terms(m),
                                    int(self.column[self.post]), entropy, standard)  # fmt: skip
        return entropy, standard


def _reference_value(entropy: np.ndarray, n_posts: int) -> np.ndarray:
    """``ρ_t = 1 − H_t / ln(n+1)``, clipped at 0."""
    # H_t <= ln(n+1) in exact arithmetic; rounding may overshoot by an ulp.
    return np.maximum(0.0, 1.0 - entropy / math.log(n_posts + 1))


def _count_terms(m: int) -> np.ndarray:
    """``c · ln(c / m)`` for ``c = 0..m`` (0 at c = 0): ``H_t = −Σ_a term(c_t,a) / m``.

    Counts are integers in 0..m, so a table of m + 1 logs replaces a log per (t, a).
    """
    c = np.arange(m + 1)
    terms = np.zeros(m + 1)
    terms[1:] = c[1:] * np.log(c[1:] / m)
    return terms


def _kernels() -> ModuleType:
    """The compiled loops (:mod:`core._kernels`), imported on first use: numba and the
    machine code load only in a process that scores."""
    import core._kernels

    return core._kernels


def onpost_state_batch(stats: HistoryStats, positions: np.ndarray) -> np.ndarray:
    """On-post state ``Z = Σ ρ_t ΔW_t / Σ ρ_t`` of w workers at ``stats.post``.

    Args:
        stats: the post's history statistics.
        positions: ``(w, T)`` area ids of the workers.

    Returns:
        ``(w,)`` values in [0, 1]; 0 for all when ``Σ ρ_t = 0``.
    """
    x = check_ints("positions", as_array("positions", positions, ndim=2), stats.n_posts)
    check_shape("positions", x, (None, stats.T))
    total = stats.rho.sum()
    if total == 0:
        return np.zeros(x.shape[0])
    off = np.empty(x.shape[0])
    _kernels().off_standard(x, stats.standard, stats.rho, off)
    # Σ ρ_t ΔW_t <= Σ ρ_t exactly; summation order may overshoot by an ulp.
    return np.minimum(off, total) / total


def proficiency_batch(
    stats: HistoryStats,
    speeds: np.ndarray,
    params: ModelParams = ModelParams(),
    *,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """Proficiency ``Y = mean_{t∈K} q̄_t / (1 + σ²_t)`` of w workers at ``stats.post``.

    Args:
        stats: the post's history statistics (with speeds).
        speeds: ``(w, T, 14)`` keypoint speeds of the workers (px/s).
        params: ``rho_min``, ``eps`` and ``proficiency_seconds`` are used.
        positions: ``(w, T)`` area ids of the workers; needed (only) when
            ``params.proficiency_seconds`` is ``"on_post"``, where K keeps the seconds a
            worker is on the standard post (``x_t = s_t``).

    Returns:
        ``(w,)`` values; NaN where a worker's K is empty.
    """
    v = check_speeds("speeds", as_array("speeds", speeds, ndim=3))
    check_shape("speeds", v, (None, stats.T, N_KEYPOINTS))
    on_post = _on_post_seconds(stats, positions, v.shape[0], params)
    _, inverse, eps_inverse = stats.proficiency_terms(params.rho_min, params.eps)
    seconds = stats.reliable_seconds(params.rho_min)[None, :]
    if on_post is not None:
        seconds = seconds & on_post
    totals = np.zeros(v.shape[0])
    if v.shape[0]:
        _kernels().ratio_totals(_speeds_array(v), inverse, eps_inverse, seconds, totals)
    sizes = seconds.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sizes > 0, totals / sizes, np.nan)


def proficiency_floors(
    stats: HistoryStats,
    speeds: np.ndarray,
    rho_mins: Sequence[float],
    params: ModelParams = ModelParams(),
    *,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`proficiency_batch` at several reliability floors ρ′ at once (for tuning).

    The per-second terms ``q̄_t / (1 + σ²_t)`` do not depend on ρ′; sorted by ρ_t, their
    running sums give Y for every floor from one pass (equal to :func:`proficiency_batch` up
    to the order of summation).

    Args:
        rho_mins: the floors ρ′.
        params: ``eps`` and ``proficiency_seconds`` are used (``rho_min`` is not).

    Returns:
        ``(len(rho_mins), w)`` values; NaN where a worker's K is empty.
    """
    v = check_speeds("speeds", as_array("speeds", speeds, ndim=3))
    check_shape("speeds", v, (None, stats.T, N_KEYPOINTS))
    floors = np.asarray(rho_mins, dtype=np.float64)
    on_post = _on_post_seconds(stats, positions, v.shape[0], params)
    _, inverse, eps_inverse = stats.proficiency_terms(0.0, params.eps)  # K for ρ′ = 0
    order = np.argsort(-stats.rho, kind="stable")
    # seconds with ρ_t ≥ ρ′: a prefix of the descending order
    kept = np.searchsorted(-stats.rho[order], -floors, side="right")
    base = (stats.standard != 0)[order]
    out = np.full((floors.size, v.shape[0]), np.nan)
    terms = np.empty(stats.T)
    for w in range(v.shape[0]):
        _kernels().ratio_terms(_speeds_array(v[w]), inverse, eps_inverse, terms)
        keep = base if on_post is None else base & on_post[w][order]
        sums = np.concatenate([[0.0], np.cumsum(np.where(keep, terms[order], 0.0))])
        counts = np.concatenate([[0], np.cumsum(keep)])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, w] = np.where(counts[kept] > 0, sums[kept] / counts[kept], np.nan)
    return out


def _speeds_array(v: np.ndarray) -> np.ndarray:
    """Speeds as the kernels take them: C-ordered float32 (as stored) or float64."""
    if v.dtype != np.float32:
        v = v.astype(np.float64, copy=False)
    return np.ascontiguousarray(v)


def _on_post_seconds(
    stats: HistoryStats, positions: np.ndarray | None, w: int, params: ModelParams
) -> np.ndarray | None:
    """``(w, T)`` mask ``x_t = s_t`` for ``proficiency_seconds="on_post"``, else None."""
    if params.proficiency_seconds == "all":
        return None
    if positions is None:
        raise ModelInputError(
            "`positions` are needed to score proficiency with proficiency_seconds='on_post'"
        )
    x = check_ints("positions", as_array("positions", positions, ndim=2), stats.n_posts)
    check_shape("positions", x, (w, stats.T))
    return x == stats.standard[None, :]


def _ratio_moments(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-second mean ``q̄_t`` and population variance ``σ²_t`` over the keypoints of the
    ``(t, 14)`` ratios ``q`` (overwritten: squared in place, to spare a copy)."""
    ones = np.full(N_KEYPOINTS, 1.0 / N_KEYPOINTS)
    mean = q @ ones
    np.multiply(q, q, out=q)
    variance = q @ ones
    variance -= mean * mean
    return mean, variance


def proficiency_seconds(
    stats: HistoryStats,
    speeds: np.ndarray,
    params: ModelParams = ModelParams(),
    *,
    positions: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-second terms of one worker's Y: what :func:`proficiency_batch` averages.

    Args:
        stats: the post's history statistics (with speeds).
        speeds: ``(T, 14)`` keypoint speeds of the worker (px/s).
        params: ``rho_min``, ``eps`` and ``proficiency_seconds`` are used.
        positions: ``(T,)`` area ids of the worker (for ``proficiency_seconds="on_post"``).

    Returns:
        ``(T,)`` mask of K (``K_on`` for ``"on_post"``), and ``(T,)`` ``q̄_t`` and ``σ²_t``
        (NaN outside it); ``Y`` is the mean over it of ``q̄_t / (1 + σ²_t)``.
    """
    v = check_speeds("speeds", as_array("speeds", speeds, ndim=2))
    check_shape("speeds", v, (stats.T, N_KEYPOINTS))
    _, inverse, eps_inverse = stats.proficiency_terms(params.rho_min, params.eps)
    q = v * inverse + eps_inverse
    mean, variance = _ratio_moments(q)
    keep = stats.reliable_seconds(params.rho_min)
    on_post = _on_post_seconds(
        stats, None if positions is None else np.asarray(positions)[None], 1, params
    )
    if on_post is not None:
        keep = keep & on_post[0]
    return keep, np.where(keep, mean, np.nan), np.where(keep, variance, np.nan)


def onpost_state(history: np.ndarray, positions: np.ndarray, post: int, n_posts: int) -> float:
    """On-post state Z of one worker at ``post`` (see :func:`onpost_state_batch`).

    Args:
        history: ``(m, T)`` area ids of the post's history records.
        positions: ``(T,)`` area ids of the worker.
        post: the worker's post j (1..n).
        n_posts: number of posts n.
    """
    stats = history_stats(history, post, n_posts)
    x = as_array("positions", positions, ndim=1)
    return float(onpost_state_batch(stats, x[None, :])[0])


def proficiency(
    history: np.ndarray,
    history_speeds: np.ndarray,
    speeds: np.ndarray,
    post: int,
    n_posts: int,
    params: ModelParams = ModelParams(),
    *,
    positions: np.ndarray | None = None,
) -> float:
    """Proficiency Y of one worker at ``post`` (see :func:`proficiency_batch`).

    Args:
        history: ``(m, T)`` area ids of the post's history records.
        history_speeds: ``(m, T, 14)`` speeds of the history records.
        speeds: ``(T, 14)`` speeds of the worker.
        post: the worker's post j (1..n).
        n_posts: number of posts n.
        params: ``rho_min``, ``eps`` and ``proficiency_seconds`` are used.
        positions: ``(T,)`` area ids of the worker (for ``proficiency_seconds="on_post"``).
    """
    stats = history_stats(history, post, n_posts, history_speeds)
    v = as_array("speeds", speeds, ndim=2)
    x = None if positions is None else as_array("positions", positions, ndim=1)[None, :]
    return float(proficiency_batch(stats, v[None, :, :], params, positions=x)[0])
