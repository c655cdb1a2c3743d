"""PCK, COCO keypoint AP and speed error on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from core.perception import oks_ap, pck, speed_median_rel_err, torso_length
from sim.poses import sample_poses


def test_pck_counts_keypoints_within_the_torso_fraction() -> None:
    true = np.zeros((1, 14, 2))
    pred = true.copy()
    pred[0, :7, 0] = 1.9  # within 0.2 * 10
    pred[0, 7:, 0] = 2.1
    assert pck(pred, true, np.array([10.0])) == pytest.approx(0.5)


def test_torso_length_is_neck_to_mid_hips() -> None:
    kp = np.zeros((1, 14, 2))
    kp[0, 1] = (0, 0)
    kp[0, 8] = (-2, 30)
    kp[0, 11] = (2, 30)
    assert torso_length(kp)[0] == pytest.approx(30.0)


def test_oks_ap_is_one_for_perfect_and_lower_for_noisy_predictions() -> None:
    true = sample_poses(20, rng=np.random.default_rng(0)).astype(np.float64)
    assert oks_ap(true, true) == pytest.approx(1.0)
    noisy = true + np.random.default_rng(1).normal(0, 4, true.shape)
    assert 0.0 < oks_ap(noisy, true) < 1.0


def test_speed_median_rel_err_ignores_slow_truths() -> None:
    true = np.array([1.0, 10.0, 20.0, 40.0])
    pred = np.array([100.0, 11.0, 18.0, 40.0])
    assert speed_median_rel_err(pred, true) == pytest.approx(0.1)
    assert np.isnan(speed_median_rel_err(pred, np.zeros(4)))
