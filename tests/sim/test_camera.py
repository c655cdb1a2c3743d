"""Camera and photo rendering: shapes, determinism per seed, stand-ins' rates."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

import sim
from sim import CameraError
from sim.camera import FRAME_HEIGHT, FRAME_WIDTH, NO_RANDOMISATION, random_scene, render_frames
from sim.detection import detect_boxes, identify
from sim.poses import sample_poses
from sim.wear import Appearance, random_appearance


def _render(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kp = sample_poses(6, rng=rng).reshape(3, 2, 14, 2)
    looks = [random_appearance(rng) for _ in range(2)]
    scene = random_scene(rng, areas=[np.array([[50, 150], [150, 150], [150, 230], [50, 230]])])
    return render_frames(kp, appearances=looks, rng=rng, scene=scene)


def test_render_shape_and_determinism_per_seed() -> None:
    a, b, c = _render(3), _render(3), _render(4)
    assert a.shape == (3, FRAME_HEIGHT, FRAME_WIDTH, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_figure_is_drawn_where_its_keypoints_are() -> None:
    rng = np.random.default_rng(0)
    kp = sample_poses(1, rng=rng)
    empty = render_frames(
        np.full((1, 1, 14, 2), np.nan),
        appearances=[random_appearance(rng)],
        rng=rng,
        randomisation=NO_RANDOMISATION,
    )
    frame = render_frames(
        kp[None], appearances=[random_appearance(rng)], rng=rng, randomisation=NO_RANDOMISATION
    )
    changed = np.argwhere((frame[0] != empty[0]).any(axis=-1))
    lo, hi = kp[0].min(axis=0), kp[0].max(axis=0)
    assert changed[:, 1].min() >= lo[0] - 15 and changed[:, 1].max() <= hi[0] + 15
    assert changed[:, 0].min() >= lo[1] - 15 and changed[:, 0].max() <= hi[1] + 15


def test_frames_may_hold_different_numbers_of_workers() -> None:
    rng = np.random.default_rng(1)
    kp = sample_poses(3, rng=rng)
    looks = [random_appearance(rng) for _ in range(2)]
    frames = render_frames([kp[:1], kp[1:3], kp[:0]], appearances=looks, rng=rng)
    assert frames.shape[0] == 3


def test_render_rejects_bad_keypoints() -> None:
    with pytest.raises(CameraError, match="keypoints") as caught:
        render_frames(np.zeros((2, 1, 13, 2)), appearances=[], rng=np.random.default_rng(0))
    # a SimError: the CLI prints it as one line (exit 2), not as a traceback
    assert isinstance(caught.value, sim.SimError)


def test_sampled_poses_are_in_frame_with_plausible_height() -> None:
    kp = sample_poses(500, rng=np.random.default_rng(2))
    assert kp.shape == (500, 14, 2) and kp.dtype == np.float32
    assert (kp[..., 0] >= 0).all() and (kp[..., 0] < FRAME_WIDTH).all()
    assert (kp[..., 1] >= 0).all() and (kp[..., 1] < FRAME_HEIGHT).all()
    height = kp[..., 1].max(axis=1) - kp[..., 1].min(axis=1)
    assert 40 < np.median(height) < 160


def test_detector_boxes_contain_keypoints_and_miss_at_rate() -> None:
    rng = np.random.default_rng(3)
    kp = sample_poses(4000, rng=rng)
    boxes, detected = detect_boxes(kp, rng=rng)
    assert detected.all()
    assert (boxes[:, :2] <= kp.min(axis=1)).all() and (boxes[:, 2:] >= kp.max(axis=1)).all()
    _, detected = detect_boxes(kp, rng=rng, miss_rate=0.2, jitter=0.1)
    assert detected.mean() == pytest.approx(0.8, abs=0.03)


def test_identity_errors_at_rate() -> None:
    ids = [f"w{i % 5}" for i in range(5000)]
    got = identify(ids, rng=np.random.default_rng(4), error_rate=0.1)
    wrong = np.mean([a != b for a, b in zip(ids, got, strict=True)])
    assert wrong == pytest.approx(0.1, abs=0.02)
    assert identify(["a"], rng=np.random.default_rng(0), error_rate=1.0) == ["a"]


def _one_figure(look: Appearance, kp: np.ndarray) -> np.ndarray:
    return render_frames(
        kp[None, None], appearances=[look], rng=np.random.default_rng(0),
        randomisation=NO_RANDOMISATION,
    )[0].astype(np.int16)  # fmt: skip


def test_work_wear_texture_follows_its_seed_and_hi_vis_adds_tape() -> None:
    kp = sample_poses(1, rng=np.random.default_rng(5), height_px=(140, 140), margin_px=40)[0]
    plain = Appearance(shirt=(60, 90, 120), trousers=(50, 50, 60), skin=(120, 150, 190))
    same = _one_figure(plain, kp)
    np.testing.assert_array_equal(same, _one_figure(plain, kp))
    other = _one_figure(dataclasses.replace(plain, texture=7), kp)
    assert (np.abs(other - same).max(axis=-1) > 8).sum() > 100
    tape = _one_figure(dataclasses.replace(plain, hi_vis=True), kp)
    # Reflective tape is near-white; nothing in the plain figure or the floor is.
    assert (tape.min(axis=-1) > 170).sum() > 30 and (same.min(axis=-1) > 170).sum() == 0


def test_texture_moves_with_the_figure() -> None:
    """A sub-pixel translation of the keypoints moves the painted texture by the same amount:
    the frame matches the first one shifted back (phase correlation on the figure)."""
    kp = sample_poses(1, rng=np.random.default_rng(6), height_px=(120, 120), margin_px=50)[0]
    look = Appearance(shirt=(30, 235, 210), trousers=(70, 60, 50), skin=(120, 150, 190),
                      texture=3, hi_vis=True)  # fmt: skip
    a = _one_figure(look, kp).astype(np.float32).mean(axis=-1)
    b = _one_figure(look, kp + np.float32([2.6, -1.3])).astype(np.float32).mean(axis=-1)
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, window)
    assert dx == pytest.approx(2.6, abs=0.15) and dy == pytest.approx(-1.3, abs=0.15)


def test_random_appearances_are_half_high_visibility() -> None:
    rng = np.random.default_rng(8)
    looks = [random_appearance(rng) for _ in range(400)]
    assert np.mean([look.hi_vis for look in looks]) == pytest.approx(0.5, abs=0.08)
    assert len({look.texture for look in looks}) == 400
