"""Argument checks shared by the model's public functions (messages name the argument)."""

from __future__ import annotations

from typing import Any

import numpy as np

from core._errors import ModelInputError


def as_array(name: str, value: Any, *, ndim: int, dtype: type | None = None) -> np.ndarray:
    """``value`` as an array of ``ndim`` dimensions, else a ModelInputError naming ``name``."""
    try:
        arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        got = type(value).__name__
        raise ModelInputError(f"`{name}` must be a numeric array, got {got}") from exc
    if arr.ndim != ndim:
        raise ModelInputError(f"`{name}` must have {ndim} dimension(s), got shape {arr.shape}")
    return arr


def check_shape(name: str, arr: np.ndarray, expected: tuple[int | None, ...]) -> None:
    """Raise unless ``arr.shape`` matches ``expected`` (``None`` matches any length)."""
    ok = len(arr.shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected, arr.shape, strict=True)
    )
    if not ok:
        shown = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ")"
        raise ModelInputError(f"`{name}` must have shape {shown}, got {arr.shape}")


def check_post(post: int, n_posts: int) -> None:
    """Raise unless ``1 <= post <= n_posts``."""
    check_n_posts(n_posts)
    if isinstance(post, bool) or not isinstance(post, (int, np.integer)):
        raise ModelInputError(f"`post` must be an int, got {post!r}")
    if not 1 <= post <= n_posts:
        raise ModelInputError(f"`post` must be in 1..{n_posts}, got {post}")


def check_n_posts(n_posts: int) -> None:
    """Raise unless ``n_posts`` is an int >= 1."""
    if isinstance(n_posts, bool) or not isinstance(n_posts, (int, np.integer)) or n_posts < 1:
        raise ModelInputError(f"`n_posts` must be an int >= 1, got {n_posts!r}")


def check_ints(name: str, arr: np.ndarray, top: int, what: str = "area ids") -> np.ndarray:
    """Integers in ``0..top`` as intp (``what`` names them in the message)."""
    if arr.size == 0:
        raise ModelInputError(f"`{name}` must not be empty, got shape {arr.shape}")
    integral = np.issubdtype(arr.dtype, np.integer) or (
        np.issubdtype(arr.dtype, np.floating) and bool(np.all(arr == np.round(arr)))
    )
    if not integral:
        raise ModelInputError(f"`{name}` must hold integer {what}, got dtype {arr.dtype}")
    low, high = arr.min(), arr.max()
    if low < 0 or high > top:
        bad = low if low < 0 else high
        raise ModelInputError(f"`{name}` must hold {what} in 0..{top}, got {bad}")
    return arr.astype(np.intp, copy=False)


def check_speeds(name: str, arr: np.ndarray) -> np.ndarray:
    """Speeds, after checking they are real, finite and >= 0 (two reductions, no copies)."""
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ModelInputError(f"`{name}` must hold real speeds, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ModelInputError(f"`{name}` must not be empty, got shape {arr.shape}")
    low, high = arr.min(), arr.max()  # NaN propagates through both
    if np.isnan(low) or not np.isfinite(high):
        raise ModelInputError(f"`{name}` must be finite, got NaN or inf")
    if low < 0:
        raise ModelInputError(f"`{name}` must be >= 0 (px/s), got {low}")
    return arr


def check_matrix_01(name: str, arr: np.ndarray, n: int) -> np.ndarray:
    """An ``(n, n)`` matrix of finite entries in [0, 1], as float64."""
    check_shape(name, arr, (n, n))
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        got = f"{arr.min()}..{arr.max()}"
        raise ModelInputError(f"`{name}` must hold finite values in [0, 1], got {got}")
    return arr
