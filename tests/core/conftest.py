"""Shared fixtures for the core tests: a 3-post chain with a hand-checked history."""

from __future__ import annotations

import numpy as np
import pytest

CHAIN3 = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=float)

# m=4 records, T=5 seconds, n=3, post 2. Per second (see test_scores.py for the hand work):
# t0 all at 2 (ρ=1, s=2); t1 2/1 tie (ρ=.5, s=2: own post wins); t2 break (ρ=1, s=0);
# t3 1/3 tie (ρ=.5, s=1: smallest id); t4 2/3 tie (ρ=.5, s=2).
HISTORY = np.array(
    [
        [2, 2, 0, 1, 2],
        [2, 2, 0, 3, 2],
        [2, 1, 0, 1, 3],
        [2, 1, 0, 3, 3],
    ]
)


@pytest.fixture
def chain3() -> np.ndarray:
    return CHAIN3.copy()


@pytest.fixture
def history() -> np.ndarray:
    return HISTORY.copy()
