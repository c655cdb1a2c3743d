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


def test_work_poses_are_the_motion_models_poses_inside_the_image() -> None:
    """Training poses of the work cycle: inside the camera image, reproducible, and the
    motion model's limb stretch (the forearm's length varies with the circles' phase)."""
    from sim.layout import SKELETON_PX
    from sim.poses import sample_work_poses

    kp = sample_work_poses(500, rng=np.random.default_rng(3))
    again = sample_work_poses(500, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(kp, again)
    assert kp.shape == (500, N_KEYPOINTS, 2) and kp.dtype == np.float32
    assert (kp >= 10 - 1e-4).all() and (kp[..., 0] <= CAMERA_SIZE[0] - 10 + 1e-4).all()
    assert (kp[..., 1] <= CAMERA_SIZE[1] - 10 + 1e-4).all()
    height = kp[:, :, 1].max(axis=1) - kp[:, :, 1].min(axis=1)
    forearm = np.linalg.norm(kp[:, 4] - kp[:, 3], axis=1) / height  # r_wrist - r_elbow
    still = np.linalg.norm(SKELETON_PX[4] - SKELETON_PX[3]) / np.ptp(SKELETON_PX[:, 1])
    assert forearm.min() < 0.8 * still < 1.25 * still < forearm.max()
    with pytest.raises(ValueError, match="`n`"):
        sample_work_poses(-1, rng=np.random.default_rng(0))


def test_the_speed_error_table_belongs_to_the_shipped_keypoint_weights() -> None:
    """The signal fidelity's speed error is fitted to the shipped network: refit it
    (bench_calibration.py --fit) whenever the weights change."""
    import hashlib
    import json

    from harness.weights import DEFAULT_KEYPOINT_WEIGHTS
    from sim.measurement import SPEED_ERROR_FILE, speed_error

    table = json.loads(SPEED_ERROR_FILE.read_text())
    shipped = hashlib.sha256(DEFAULT_KEYPOINT_WEIGHTS.read_bytes()).hexdigest()
    assert table["keypoint_weights_sha256"] == shipped
    levels, quantiles = speed_error()
    assert quantiles.shape == (N_KEYPOINTS, levels.size) and (np.diff(levels) > 0).all()


def test_moving_keypoints_carry_the_fitted_speed_error(monkeypatch) -> None:
    """With a table whose every quantile is log 2, a moving keypoint reads 2 (v + 1) − 1;
    still keypoints keep the jitter floor. (``true_speeds`` differs from the motion model's
    speed where the worker changes spot, a few seconds of the shift.)"""
    import sim.measurement as sm

    sc = load_scenario(scenario_dict(shifts={"per_day": 2, "length_s": 600}))
    base = simulate_workers(sc, post=1, day=1, shift="day", keypoints=True)[0]
    levels, quantiles = sm.speed_error()
    monkeypatch.setattr(sm, "speed_error", lambda: (levels, np.full_like(quantiles, np.log(2))))
    doubled = simulate_workers(sc, post=1, day=1, shift="day", keypoints=True)[0]
    from harness.evaluation.pixels import true_speeds

    v = true_speeds(doubled)[1:]
    got = doubled.record.speeds[1:]
    moving = v > sm.MOVING_PX_S + 0.05  # away from the threshold (float32 rounding)
    doubled_ok = np.isclose(got[moving], 2 * (v[moving] + 1) - 1, rtol=1e-4, atol=1e-3)
    assert doubled_ok.mean() > 0.98
    still = v < sm.MOVING_PX_S - 0.05
    assert (got[still] == base.record.speeds[1:][still]).mean() > 0.98


def _excursions(w) -> list[np.ndarray]:
    """The true areas of each excursion off the worker's post (breaks excluded)."""
    away = (w.true_positions != w.record.post) & w.working
    edges = np.diff(np.concatenate([[0], away.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [w.true_positions[a:b] for a, b in zip(starts, ends, strict=True)]


def test_excursion_s_sets_the_length_of_one_excursion() -> None:
    (default,) = simulate_workers(full_day(profile="wanderer"), post=3, day=1, shift="day")
    (short,) = simulate_workers(full_day(profile="wanderer", excursion_s=60.0), post=3, day=1,
                                shift="day")  # fmt: skip
    budget = 0.30 * (28800 - 900 - 3)  # the wanderer's rate × its working seconds
    # one excursion per excursion_s of the budget; an excursion cut by the break counts twice
    assert abs(len(_excursions(default)) - round(budget / 240)) <= 2
    assert abs(len(_excursions(short)) - round(budget / 60)) <= 4
    for w in (default, short):  # the time budget holds whatever the length
        assert w.summary().offpost_fraction == pytest.approx(0.30, abs=0.002)


def test_giving_the_default_excursion_s_changes_nothing() -> None:
    (a,) = simulate_workers(full_day(profile="wanderer"), post=3, day=2, shift="day")
    (b,) = simulate_workers(full_day(profile="wanderer", excursion_s=240.0), post=3, day=2,
                            shift="day")  # fmt: skip
    assert np.array_equal(a.record.speeds, b.record.speeds)
    assert np.array_equal(a.true_positions, b.true_positions)


@pytest.mark.parametrize(("destinations", "allowed"), [({0: 1.0}, {0}), ({5: 2.0}, {0, 5}),
                                                       ({1: 1.0, 6: 1.0}, {0, 1, 6})])  # fmt: skip
def test_destinations_send_excursions_only_where_given(destinations, allowed) -> None:
    s = full_day(profile="wanderer", destinations=destinations)
    (w,) = simulate_workers(s, post=3, day=1, shift="day")
    runs = _excursions(w)
    assert len(runs) > 20
    assert set(np.unique(np.concatenate(runs)).tolist()) == allowed  # walks pass the aisle (0)
    if len(destinations) == 2:  # equal weights: each gets about half of the excursions
        visits = [int(max(set(r.tolist()) - {0}, default=0)) for r in runs]
        assert 0.25 < visits.count(1) / len(visits) < 0.75
