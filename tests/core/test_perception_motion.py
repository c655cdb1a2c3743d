"""Lucas-Kanade tracking and keypoint speeds on rendered figures."""

from __future__ import annotations

import numpy as np
import pytest

from core import ModelInputError
from core.perception import keypoint_speeds, lk_track, to_gray
from sim.camera import NO_RANDOMISATION, random_appearance, render_frames, sample_poses


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
