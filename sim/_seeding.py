"""Random streams keyed by what they simulate, never by execution order."""

from __future__ import annotations

import numpy as np

PURPOSES: tuple[str, ...] = ("workers", "equipment")
"""Purposes of the streams of one post-shift; the index is part of the stream key."""


def stream(seed: int, *key: int | str) -> np.random.Generator:
    """A generator for ``(seed, post, day, shift_index, purpose, ...)``.

    String parts of ``key`` must be purposes from `PURPOSES`; they are replaced by their index.
    """
    spawn_key = tuple(PURPOSES.index(k) if isinstance(k, str) else int(k) for k in key)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=spawn_key)))
