from __future__ import annotations

import random

from sim import Scenario, ShiftOutcome, simulate_post_states, simulate_shift, simulate_workers
from tests.sim.conftest import outcome_hash


def test_same_seed_twice_gives_identical_outputs(small: Scenario) -> None:
    runs = [
        [simulate_shift(small, day=d, shift=s) for d in (1, 4) for s in small.shift_names]
        for _ in range(2)
    ]
    assert outcome_hash(runs[0]) == outcome_hash(runs[1])


def test_outputs_do_not_depend_on_the_order_of_post_shifts(small: Scenario) -> None:
    keys = [(p, d, s) for p in range(1, 5) for d in (1, 4) for s in small.shift_names]
    shuffled = keys[:]
    random.Random(3).shuffle(shuffled)
    workers = {k: simulate_workers(small, post=k[0], day=k[1], shift=k[2]) for k in shuffled}
    rebuilt = []
    for d in (1, 4):
        for s in small.shift_names:
            ws = tuple(w for p in range(1, 5) for w in workers[(p, d, s)])
            posts = simulate_post_states(small, day=d, shift=s, workers=[w.summary() for w in ws])
            rebuilt.append(ShiftOutcome(day=d, shift=s, workers=ws, posts=posts))
    direct = [simulate_shift(small, day=d, shift=s) for d in (1, 4) for s in small.shift_names]
    assert outcome_hash(rebuilt) == outcome_hash(direct)


def test_a_different_seed_changes_the_outputs(small: Scenario) -> None:
    other = small.model_copy(update={"seed": small.seed + 1})
    a = simulate_shift(small, day=1, shift="day")
    b = simulate_shift(other, day=1, shift="day")
    assert outcome_hash([a]) != outcome_hash([b])
