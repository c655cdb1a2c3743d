"""Seeded, deterministic torch training on CPU without leaking global state."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[torch.Generator]:
    """Seed torch's global RNG and demand deterministic algorithms, restoring both on exit.

    Yields:
        A generator seeded with ``seed`` for data shuffling.
    """
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield torch.Generator().manual_seed(seed)
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
