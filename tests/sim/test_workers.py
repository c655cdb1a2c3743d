from __future__ import annotations

import numpy as np
import pytest

from core import N_KEYPOINTS
from sim import CAMERA_SIZE, Scenario, load_scenario, simulate_workers
from sim.workers import resolve_worker
from tests.sim.conftest import scenario_dict


def full_day(**cast_entry) -> Scenario:
    """One-post-type line with 8-hour shifts and a 15-minute break."""
    return load_scenario(
        scenario_dict(
            line={"posts": 6},
            shifts={"per_day": 1, "length_s": 28800, "breaks": [[14400, 15300]]},
            workers={"cast": [{"post": 3, **cast_entry}]} if cast_entry else {},
        )
    )


def test_records_have_the_core_shapes_and_types(small: Scenario) -> None:
    (w,) = simulate_workers(small, post=2, day=1, shift="day")
    t = small.samples_per_shift
    assert w.record.positions.shape == (t,) and w.record.positions.dtype == np.int16
    assert w.record.speeds.shape == (t, N_KEYPOINTS) and w.record.speeds.dtype == np.float32
    assert w.record.speeds.flags.c_contiguous and np.all(np.isfinite(w.record.speeds))
    assert w.true_positions.shape == (t,)
    assert set(np.unique(w.true_positions)) <= set(range(small.n_posts + 1))
    assert w.keypoints is None
    assert (w.profile, w.needs_management, w.needs_training) == ("wanderer", True, False)


def test_same_seed_gives_identical_arrays(small: Scenario) -> None:
    a = simulate_workers(small, post=2, day=3, shift="night")
    b = simulate_workers(small, post=2, day=3, shift="night")
    assert np.array_equal(a[0].record.speeds, b[0].record.speeds)
    assert np.array_equal(a[0].record.positions, b[0].record.positions)
    c = simulate_workers(small, post=2, day=2, shift="night")
    assert not np.array_equal(a[0].record.speeds, c[0].record.speeds)


def test_worker_ids_are_stable_and_change_with_the_cast(small: Scenario) -> None:
    ids = {d: simulate_workers(small, post=3, day=d, shift="night")[0] for d in (1, 3, 4, 5)}
    assert ids[1].record.worker == ids[3].record.worker == "p3-night-1"
    assert ids[4].record.worker == ids[5].record.worker == "p3-night-1@d4"
    assert (ids[3].profile, ids[4].profile) == ("normal", "novice")


def test_explicit_traits_make_a_custom_worker() -> None:
    s = load_scenario(scenario_dict(workers={"cast": [{"post": 1, "skill": 0.7}]}))
    spec = resolve_worker(s, post=1, shift="day", slot=1, day=1)
    assert (spec.profile, spec.offpost_rate, spec.skill) == ("custom", 0.02, 0.7)


def test_several_workers_per_post_get_their_own_slots() -> None:
    s = load_scenario(scenario_dict(workers={"per_post": 2}))
    a, b = simulate_workers(s, post=1, day=1, shift="day")
    assert (a.record.worker, b.record.worker) == ("p1-day-1", "p1-day-2")
    assert not np.array_equal(a.record.speeds, b.record.speeds)


@pytest.mark.parametrize("profile", ["normal", "wanderer"])
def test_everyone_is_in_area_0_during_breaks(profile: str) -> None:
    s = full_day(profile=profile)
    for day in range(1, 6):
        (w,) = simulate_workers(s, post=3, day=day, shift="day")
        assert np.all(w.true_positions[14400:15300] == 0)
        assert np.array_equal(~w.working[14400:15300], np.ones(900, dtype=bool))


@pytest.mark.parametrize(
    ("profile", "target", "tolerance"), [("wanderer", 0.30, 0.05), ("normal", 0.02, 0.02)]
)
def test_offpost_fraction_over_a_day_matches_the_trait(profile, target, tolerance) -> None:
    s = full_day(profile=profile)
    for day in (1, 2, 3):
        (w,) = simulate_workers(s, post=3, day=day, shift="day")
        measured = np.mean(w.record.positions[w.working] != 3)
        assert abs(measured - target) <= tolerance, (day, measured)
        assert abs(w.summary().offpost_fraction - target) <= tolerance


def test_wanderer_visits_other_posts_and_the_aisle() -> None:
    (w,) = simulate_workers(full_day(profile="wanderer"), post=3, day=1, shift="day")
    dwell = w.summary().dwell
    assert dwell[0] > 0 and any(dwell.get(p, 0) > 0 for p in (1, 2, 4, 5, 6))


def test_novice_works_at_about_0_6_of_normal_speed() -> None:
    s = full_day(profile="novice")
    (novice,) = simulate_workers(s, post=3, day=1, shift="day")
    (normal,) = simulate_workers(s, post=4, day=1, shift="day")
    wrists = [4, 7]

    def work_speed(w) -> float:
        at_post = w.true_positions == w.record.post
        return float(w.record.speeds[at_post][:, wrists].mean())

    assert work_speed(novice) / work_speed(normal) == pytest.approx(0.6, abs=0.05)


def test_keypoints_are_a_standing_person_in_the_camera(small: Scenario) -> None:
    (w,) = simulate_workers(small, post=1, day=1, shift="day", keypoints=True)
    kp = w.keypoints
    assert kp is not None and kp.shape == (small.samples_per_shift, N_KEYPOINTS, 2)
    assert kp.dtype == np.float32
    width, height = CAMERA_SIZE
    assert np.all((kp[..., 0] >= 0) & (kp[..., 0] < width))
    assert np.all((kp[..., 1] >= 0) & (kp[..., 1] < height))
    tall = kp[:, 13, 1] - kp[:, 0, 1]
    assert np.median(tall) == pytest.approx(105, abs=10)
    (same,) = simulate_workers(small, post=1, day=1, shift="day")
    assert np.array_equal(same.record.speeds, w.record.speeds)


def test_still_keypoints_read_the_noise_floor() -> None:
    s = full_day()
    (w,) = simulate_workers(s, post=3, day=1, shift="day")
    at_post = w.true_positions == 3
    ankles = w.record.speeds[at_post][:, [10, 13]]
    wrists = w.record.speeds[at_post][:, [4, 7]]
    assert ankles.mean() == pytest.approx(2.75, abs=1.25)
    assert wrists.mean() > 4 * ankles.mean()
