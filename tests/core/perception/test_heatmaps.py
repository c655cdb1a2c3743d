"""Heatmap rendering and sub-pixel peak decoding."""

from __future__ import annotations

import numpy as np
import pytest

from core import ModelInputError
from core.perception import decode_heatmaps, render_heatmaps


@pytest.mark.parametrize("sigma", [0.8, 1.0, 2.0])
def test_decoding_finds_a_synthetic_peak_to_sub_pixel_accuracy(sigma: float) -> None:
    rng = np.random.default_rng(0)
    peaks = rng.uniform(2, 29, size=(50, 14, 2)).astype(np.float32)
    coords, conf = decode_heatmaps(render_heatmaps(peaks, size=(32, 32), sigma=sigma))
    assert coords.shape == (50, 14, 2) and conf.shape == (50, 14)
    np.testing.assert_allclose(coords, peaks, atol=0.02)
    assert (conf > 0.6).all()


def test_decoding_is_robust_to_noise_and_border_peaks() -> None:
    rng = np.random.default_rng(1)
    peaks = np.array([[10.4, 20.7], [0.0, 5.0], [31.0, 31.0]], dtype=np.float32)
    hm = render_heatmaps(peaks, size=(32, 32), sigma=1.5)
    hm += rng.normal(0, 0.01, hm.shape).astype(np.float32)
    coords, _ = decode_heatmaps(hm)
    np.testing.assert_allclose(coords, peaks, atol=0.15)


def test_decoding_rejects_bad_shape() -> None:
    with pytest.raises(ModelInputError, match="heatmaps"):
        decode_heatmaps(np.zeros(5))
