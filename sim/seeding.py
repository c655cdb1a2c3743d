"""Random streams keyed by what they describe, never by execution order: the one home.

Every generator of the project comes from here: a stream is a ``SeedSequence`` of an entropy
(the scenario's seed, alone or with a word that names a family of streams) and a spawn key
(post, day, shift index, purpose ...), so a stream depends on what it describes and on
nothing else — not on the order tasks run in, nor on how many workers run them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PURPOSES: tuple[str, ...] = ("workers", "equipment")
"""Purposes of the streams of one post-shift; the index is part of the stream key."""


def stream(entropy: int | Sequence[int], *key: int | str) -> np.random.Generator:
    """The generator of ``entropy`` (a seed, or a seed and the words of a stream family) and
    ``key`` (e.g. ``post, day, shift_index, purpose``).

    String parts of ``key`` must be purposes from `PURPOSES`; they are replaced by their index.
    """
    spawn_key = tuple(PURPOSES.index(k) if isinstance(k, str) else int(k) for k in key)
    seeds = int(entropy) if isinstance(entropy, (int, np.integer)) else [int(e) for e in entropy]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seeds, spawn_key=spawn_key)))


def derived_seed(*entropy: int) -> int:
    """A 32-bit seed from integers (a scenario's seed, a post, a round, a trial ...)."""
    return int(np.random.SeedSequence([int(e) for e in entropy]).generate_state(1)[0])
