"""One shift of the whole line: every post's workers, then the posts' states."""

from __future__ import annotations

from dataclasses import dataclass

from sim.equipment import PostState, simulate_post_states
from sim.scenario import Scenario
from sim.workers import SimWorker, simulate_workers


@dataclass(frozen=True)
class ShiftOutcome:
    """Everything simulated for one shift: workers by post then slot, posts by id."""

    day: int
    shift: str
    workers: tuple[SimWorker, ...]
    posts: tuple[PostState, ...]


def simulate_shift(
    scenario: Scenario, *, day: int, shift: str, keypoints: bool = False
) -> ShiftOutcome:
    """Simulate all posts of one shift; identical to simulating the posts one by one."""
    workers = tuple(
        w
        for post in range(1, scenario.n_posts + 1)
        for w in simulate_workers(scenario, post=post, day=day, shift=shift, keypoints=keypoints)
    )
    posts = simulate_post_states(
        scenario, day=day, shift=shift, workers=[w.summary() for w in workers]
    )
    return ShiftOutcome(day=day, shift=shift, workers=workers, posts=posts)
