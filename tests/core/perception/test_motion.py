"""Lucas-Kanade tracking and keypoint speeds on rendered figures."""

from __future__ import annotations

import numpy as np
import pytest

from core import ModelInputError
from core.perception import KeypointTracker, keypoint_speeds, lk_track, to_gray
from sim.camera import NO_RANDOMISATION, render_frames
from sim.poses import sample_poses
from sim.wear import random_appearance


def _figure_sequence(shifts: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    kp = sample_poses(1, rng=rng, height_px=(100, 120), margin_px=40)[0]
    seq = kp[None] + np.asarray(shifts, dtype=np.float32)[:, None, :]
    frames = render_frames(
        seq[:, None], appearances=[random_appearance(rng)], rng=rng, randomisation=NO_RANDOMISATION
    )
    return frames, seq


@pytest.mark.parametrize("shift", [(3.4, -2.1), (-7.25, 5.5), (12.0, 0.5)])
def test_lk_recovers_a_known_translation_of_a_rendered_figure(shift: tuple[float, float]) -> None:
    frames, seq = _figure_sequence(np.array([(0.0, 0.0), shift]))
    gray = to_gray(frames)
    tracked, ok = lk_track(gray[0], gray[1], seq[0])
    assert ok.all()
    moved = tracked - seq[0]
    np.testing.assert_allclose(np.median(moved, axis=0), shift, atol=0.2)
    assert np.median(np.linalg.norm(moved - shift, axis=1)) < 0.3


def test_lk_leaves_nan_points_untracked() -> None:
    frames, seq = _figure_sequence(np.zeros((2, 2)))
    gray = to_gray(frames)
    points = seq[0].copy()
    points[3] = np.nan
    tracked, ok = lk_track(gray[0], gray[1], points)
    assert not ok[3] and np.isnan(tracked[3]).all() and ok[:3].all()


def test_speeds_of_a_figure_walking_at_constant_velocity() -> None:
    velocity = np.array([6.0, -2.5])  # px per frame
    shifts = np.arange(6)[:, None] * velocity
    frames, seq = _figure_sequence(shifts, seed=1)
    # Detections off by up to a pixel: LK refinement brings the speeds back to the truth.
    noisy = seq + np.random.default_rng(2).uniform(-1, 1, seq.shape).astype(np.float32)
    speeds, directions = keypoint_speeds(frames, noisy, rate_hz=2.0)
    assert speeds.shape == directions.shape == (6, 14)
    true_speed = np.linalg.norm(velocity) * 2.0
    assert np.median(np.abs(speeds - true_speed)) / true_speed < 0.05
    np.testing.assert_allclose(
        np.median(directions), np.arctan2(velocity[1], velocity[0]), atol=0.05
    )


def test_speeds_reject_mismatched_keypoints() -> None:
    frames, seq = _figure_sequence(np.zeros((3, 2)))
    with pytest.raises(ModelInputError, match="keypoints"):
        keypoint_speeds(frames, seq[:2], rate_hz=1.0)


def _circling_arm(seed: int, n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Frames of a textured figure whose arm keypoints circle (12 px elbows, 20 px wrists)."""
    rng = np.random.default_rng(seed)
    kp = sample_poses(1, rng=rng, height_px=(110, 110), margin_px=50)[0]
    radius = np.zeros(14, dtype=np.float32)
    radius[[3, 6]], radius[[4, 7]] = 12.0, 20.0  # elbows, wrists
    phase = 0.9 * np.arange(n, dtype=np.float32)
    circle = np.stack([np.cos(phase), np.sin(phase)], axis=-1)
    seq = kp[None] + radius[None, :, None] * circle[:, None, :]
    frames = render_frames(
        seq[:, None], appearances=[random_appearance(rng)], rng=rng, randomisation=NO_RANDOMISATION
    )
    return frames, seq.astype(np.float32)


def test_fusing_lk_with_noisy_detections_beats_differencing_them() -> None:
    frames, seq = _circling_arm(3)
    noise = np.random.default_rng(4).normal(0, 1.5, seq.shape).astype(np.float32)
    true = np.linalg.norm(np.diff(seq, axis=0), axis=-1)[:, [3, 4, 6, 7]]
    differenced = np.linalg.norm(np.diff(seq + noise, axis=0), axis=-1)[:, [3, 4, 6, 7]]
    fused, _ = keypoint_speeds(frames, seq + noise, rate_hz=1.0)
    err_fused = np.median(np.abs(fused[1:, [3, 4, 6, 7]] - true) / true)
    err_diff = np.median(np.abs(differenced - true) / true)
    assert err_fused < 0.6 * err_diff


def test_exact_detections_give_the_motion_and_a_reset_forgets_the_last_frame() -> None:
    frames, seq = _circling_arm(5, n=4)
    tracker = KeypointTracker()
    gray = to_gray(frames)
    assert np.isnan(tracker.update(gray[0], seq[0])).all()
    disp = tracker.update(gray[1], seq[1])[[3, 4, 6, 7]]
    true = (seq[1] - seq[0])[[3, 4, 6, 7]]
    # Within 5 %: the window at a joint sees both limbs, which move at different speeds.
    assert (np.linalg.norm(disp - true, axis=1) < 0.05 * np.linalg.norm(true, axis=1)).all()
    tracker.reset()
    assert np.isnan(tracker.update(gray[2], seq[2])).all()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"win_size": 2}, "win_size"), ({"max_level": 9}, "max_level"), ({"blend": 0.0}, "blend"),
     ({"gate_px": -1.0}, "gate_px")],
)  # fmt: skip
def test_tracker_settings_are_checked(kwargs: dict, name: str) -> None:
    with pytest.raises(ModelInputError, match=name):
        KeypointTracker(**kwargs)
