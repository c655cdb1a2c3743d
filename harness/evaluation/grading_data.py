"""Examples for the per-post grading DNNs: shift-change photos, sensor vectors, true levels.

**Real examples.** Every history shift change gives, per post, the terminal's photo of the
post's equipment (:func:`sim.photos.render_equipment_photo` from the post's
:class:`sim.PostState`, lighting and noise drawn from a generator keyed by
``(seed, post, day, shift)``), its difference with the standard photo, the environment
vector and the true level (the simulator plays the experts). These are few (two per post and
day) and unbalanced (most levels are 0).

**Augmentation.** ``rounds`` extra passes over the history's shift changes are drawn from the
same scenario's generative model, :func:`sim.simulate_post_states`, with three changes:
the seed is derived from ``(seed, round)``, no workers are passed (no worker-caused faults)
and the scheduled faults and excursions are dropped, and the random equipment fault rate is
:data:`AUGMENT_FAULT_RATE` instead of the scenario's. So the extra examples carry the fault
severities (``sim.equipment.RANDOM_SEVERITY``) and the kinds that show them (a displacement's
size, or the missing facility of that severity) that ``sim`` draws, often enough that every
level is represented.

**Held-out shifts.** Examples are split by day: the last fifth of the history days (at least
one) is the test set, the fifth before it the validation set (Optuna's objective and
pruning), the rest trains; augmented examples follow the day they were drawn for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import core.perception as perception
import sim
from sim.photos import render_equipment_photo, standard_photo
from sim.seeding import Stream, derived_seed, stream

AUGMENT_FAULT_RATE = 1.5
"""Poisson mean of random equipment faults per post-shift in augmented shift changes."""


def photo_rng(seed: int, post: int, day: int, shift_index: int) -> np.random.Generator:
    """The lighting and noise generator of one post's photo at one shift change."""
    return stream([seed, Stream.SHIFT_CHANGE_PHOTO], post, day, shift_index)


def shift_change_diff(
    scenario: sim.Scenario, state: sim.PostState, *, day: int, shift: str
) -> np.ndarray:
    """``(H, W, 3)`` difference image of the post's photo at the end of ``(day, shift)``."""
    shift_index = scenario.check_post_shift(post=state.post, day=day, shift=shift)
    photo = render_equipment_photo(
        state.post,
        displacement_px=state.displacement_px,
        missing=state.missing,
        rng=photo_rng(scenario.seed, state.post, day, shift_index),
    )
    return perception.difference_images(photo[None], standard_photo(state.post))[0]


def history_day_states(
    scenario: sim.Scenario, day: int
) -> dict[tuple[int, str], tuple[sim.PostState, ...]]:
    """Task: the post states of every shift change of one history day."""
    out = {}
    for shift in scenario.shift_names:
        workers = [
            w.summary()
            for post in range(1, scenario.n_posts + 1)
            for w in sim.simulate_workers(scenario, post=post, day=day, shift=shift)
        ]
        out[(day, shift)] = sim.simulate_post_states(
            scenario, day=day, shift=shift, workers=workers
        )
    return out


def history_shift_states(
    scenario: sim.Scenario, posts: Sequence[int], *, max_in_flight: int, progress: bool
) -> dict[int, dict[tuple[int, str], sim.PostState]]:
    """Per post, its state at every history shift change (one Ray task per day)."""
    from harness.adapters.ray_cluster import map_unordered

    per_post: dict[int, dict[tuple[int, str], sim.PostState]] = {p: {} for p in posts}
    days = scenario.history_days
    jobs = ((day, (scenario, day)) for day in days)
    for _, by_shift in map_unordered(
        history_day_states, jobs, total=len(days), max_in_flight=max_in_flight,
        desc="shift changes", progress=progress,
    ):  # fmt: skip
        for key, states in by_shift.items():
            for post in posts:
                per_post[post][key] = states[post - 1]
    return per_post


def augmented_scenario(scenario: sim.Scenario, round_index: int) -> sim.Scenario:
    """The scenario of one augmentation round (see the module docstring)."""
    seed = derived_seed(scenario.seed, Stream.AUGMENT, round_index)
    equipment = scenario.equipment.model_copy(
        update={"fault_rate": AUGMENT_FAULT_RATE, "faults": []}
    )
    environment = scenario.environment.model_copy(update={"excursions": []})
    return scenario.model_copy(
        update={"seed": seed, "equipment": equipment, "environment": environment}
    )


@dataclass(frozen=True)
class GradingData:
    """One post's examples, each with its day and whether it is real or augmented."""

    images: np.ndarray
    """``(N, H, W, 3)`` uint8 difference images."""
    env: np.ndarray
    """``(N, 3)`` raw environment vectors."""
    labels: np.ndarray
    """``(N,)`` true levels 0..4."""
    day: np.ndarray
    """``(N,)`` history day of each example."""
    real: np.ndarray
    """``(N,)`` True for the scenario's own shift changes, False for augmented ones."""

    def subset(self, mask: np.ndarray) -> GradingData:
        """The examples where ``mask`` is True."""
        return GradingData(
            images=self.images[mask],
            env=self.env[mask],
            labels=self.labels[mask],
            day=self.day[mask],
            real=self.real[mask],
        )

    def split(self, days: Sequence[int]) -> tuple[GradingData, GradingData, GradingData]:
        """Train, validation and test examples by day (see the module docstring)."""
        train_days, val_days, test_days = split_days(days)
        return tuple(self.subset(np.isin(self.day, d)) for d in (train_days, val_days, test_days))


def split_days(days: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """Train, validation and test days: the last fifth (>= 1) tests, the fifth before validates."""
    ordered = sorted(days)
    k = max(1, len(ordered) // 5)
    if len(ordered) < 3:
        raise ValueError(f"the split needs >= 3 history days, got {len(ordered)}")
    return ordered[: -2 * k], ordered[-2 * k : -k], ordered[-k:]


def post_examples(
    scenario: sim.Scenario,
    post: int,
    real_states: dict[tuple[int, str], sim.PostState],
    *,
    rounds: int,
) -> GradingData:
    """The post's real examples (``real_states`` per history shift change) plus augmentation."""
    rows: list[tuple[np.ndarray, np.ndarray, int, int, bool]] = []
    for (day, shift), state in sorted(real_states.items()):
        diff = shift_change_diff(scenario, state, day=day, shift=shift)
        rows.append((diff, state.environment, state.true_level, day, True))
    for r in range(rounds):
        augmented = augmented_scenario(scenario, r)
        for day, shift in sorted(real_states):
            state = sim.simulate_post_states(augmented, day=day, shift=shift, workers=())[post - 1]
            diff = shift_change_diff(augmented, state, day=day, shift=shift)
            rows.append((diff, state.environment, state.true_level, day, False))
    images, env, labels, day, real = zip(*rows, strict=True)
    return GradingData(
        images=np.stack(images),
        env=np.stack(env),
        labels=np.array(labels, dtype=np.int64),
        day=np.array(day, dtype=np.int64),
        real=np.array(real, dtype=bool),
    )


@dataclass(frozen=True)
class HeldOutGrader:
    """A grader trained on all but the test days, and its scores on them."""

    net: perception.GradingNet
    test: dict
    """:func:`core.perception.evaluate_grader` on every test example (real and augmented)."""
    test_real: dict
    """The same on the real shift changes alone."""


def held_out_grader(
    scenario: sim.Scenario,
    post: int,
    real_states: dict[tuple[int, str], sim.PostState],
    *,
    rounds: int,
    **train: object,
) -> HeldOutGrader:
    """The one way a grader is trained outside a study: on the post's examples
    (:func:`post_examples`) of all but the test days (:func:`split_days`), seeded by the post,
    with ``train`` passed to :func:`core.perception.train_grader`; scored on the test days."""
    data = post_examples(scenario, post, real_states, rounds=rounds)
    test_days = split_days(sorted({day for day, _ in real_states}))[2]
    held_out = np.isin(data.day, test_days)
    fit, test = data.subset(~held_out), data.subset(held_out)
    net, _ = perception.train_grader(fit.images, fit.env, fit.labels, seed=post, **train)
    real = test.subset(test.real)
    return HeldOutGrader(
        net=net,
        test=perception.evaluate_grader(net, test.images, test.env, test.labels),
        test_real=perception.evaluate_grader(net, real.images, real.env, real.labels),
    )
