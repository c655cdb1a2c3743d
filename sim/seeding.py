"""Random streams keyed by what they describe, never by execution order: the one home.

Every generator of the project comes from here: a stream is a ``SeedSequence`` of an entropy
(the scenario's seed, alone or with a word that names a family of streams) and a spawn key
(post, day, shift index, purpose ...), so a stream depends on what it describes and on
nothing else — not on the order tasks run in, nor on how many workers run them. The words
that name the families are the table :class:`Stream`, so that no two families share one.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np


@enum.unique
class Stream(enum.IntEnum):
    """The word of each family of random streams, and what the family draws.

    A word goes into the entropy (``stream([seed, word], ...)``) or first into the key
    (``stream(seed, word, ...)``), as each family's call says; the values are part of every
    result, so they never change.
    """

    DAY_BOOTSTRAP = 0
    """Bootstrap weights of the evaluated days (``[seed, 0]``: the stream of the seed alone)."""
    PEOPLE_BOOTSTRAP = 1
    """Bootstrap weights of the people."""
    SWAP_PATTERNS = 2
    """Random swap patterns of the tuning rule's paired test."""
    ABSENCE = 11
    """Whether a crew member is absent on a day (keyed by person and day)."""
    FLOATERS = 12
    """The order in which a day's floaters cover absences (keyed by day)."""
    VARIATION = 13
    """A person's day-to-day variation of skill and off-post rate (keyed by person and day)."""
    NOISE_STEPS = 0x5EED
    """The fixed table of keypoint-jitter steps of the signal fidelity (no scenario seed)."""
    SPEED_FACTORS = 0x5EEE
    """The fixed table of the pixel path's speed-error factors (no scenario seed)."""
    POST_LOOK = 0x9E0
    """How a post's equipment looks in its photos (keyed by post; no scenario seed)."""
    WEAR = 0x7E7
    """The texture tiles of a worker's clothes (keyed by the appearance's texture)."""
    SHIFT_CHANGE_PHOTO = 0x9407
    """Lighting and noise of a post's equipment photo at a shift change."""
    AUGMENT = 0xA06
    """Seeds of the grading data's augmentation rounds."""
    PIXEL = 0x91C5
    """The pixel path: camera scenes, rendering and identity errors."""
    SPEED_SCALE = 0x5CA1E
    """Bootstrap of a records fit's speed scale."""
    LEARNING_FIT = 0x1EA2
    """Bootstrap of a records fit's learning time constant."""
    VARIATION_FIT = 0x7A21
    """Bootstrap of a records fit's day-to-day variation."""
    FATIGUE_FIT = 0xFA71
    """Bootstrap of a records fit's fatigue."""


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
