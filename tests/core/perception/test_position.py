"""Foot-heatmap accumulation with forgetting and post-polygon lookup, on hand-built cases."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import ModelInputError
from core.perception import FloorAccumulator, accumulate_heatmaps, area_of, track_positions

SQUARE_1 = np.array([[0, 0], [10, 0], [10, 10], [0, 10]])
SQUARE_2 = np.array([[20, 0], [30, 0], [30, 10], [20, 10]])


def test_accumulation_follows_the_recursion_by_hand() -> None:
    x = np.array([[[1.0]], [[0.0]], [[0.0]], [[4.0]]])
    got = accumulate_heatmaps(x, 0.5)
    # X0 = 1; X1 = 0.5; X2 = 0.25; X3 = 0.5 * 4 + 0.5 * 0.25 = 2.125
    np.testing.assert_allclose(got[:, 0, 0], [1.0, 0.5, 0.25, 2.125])


def test_accumulation_with_alpha_one_is_identity() -> None:
    x = np.random.default_rng(0).random((5, 3, 4))
    np.testing.assert_allclose(accumulate_heatmaps(x, 1.0), x, rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_accumulation_rejects_alpha_outside_range(alpha: float) -> None:
    with pytest.raises(ModelInputError, match="alpha"):
        accumulate_heatmaps(np.zeros((2, 3, 3)), alpha)


def test_area_of_numbers_posts_from_one_and_zero_elsewhere() -> None:
    points = np.array([[5, 5], [25, 5], [15, 5], [10, 10], [np.nan, 1], [25, 50]])
    np.testing.assert_array_equal(area_of(points, [SQUARE_1, SQUARE_2]), [1, 2, 0, 1, 0, 0])


def test_area_of_first_polygon_wins_on_overlap() -> None:
    big = np.array([[0, 0], [30, 0], [30, 30], [0, 30]])
    np.testing.assert_array_equal(area_of(np.array([[25, 5]]), [big, SQUARE_2]), [1])


def test_track_positions_lags_a_move_by_the_forgetting() -> None:
    # The worker stands in post 1 for 10 samples, then in post 2: with alpha = 0.5 the
    # accumulated peak crosses over at the first sample where the new weight passes 1/2.
    maps = np.zeros((20, 10, 30), dtype=np.float32)
    maps[:10, 5, 5] = 1.0
    maps[10:, 5, 25] = 1.0
    ids = track_positions(maps, [SQUARE_1, SQUARE_2], alpha=0.3)
    # Weight of post 2 after k samples: 1 - 0.7**k > 0.5 first at k = 2 (0.51).
    np.testing.assert_array_equal(ids[:11], [1] * 11)
    np.testing.assert_array_equal(ids[11:], [2] * 9)


def test_track_positions_grid_stride_maps_to_frame_pixels() -> None:
    maps = np.zeros((1, 4, 10), dtype=np.float32)
    maps[0, 1, 6] = 1.0  # grid pixel (6, 1) is frame pixel (25.5, 5.5) at stride 4
    assert track_positions(maps, [SQUARE_1, SQUARE_2], alpha=0.05, grid_stride=4)[0] == 2


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 30),
    split=st.integers(0, 30),
    alpha=st.floats(0.01, 1.0),
)
def test_floor_accumulator_equals_accumulating_full_canvases(
    seed: int, n: int, split: int, alpha: float
) -> None:
    rng = np.random.default_rng(seed)
    maps = rng.random((n, 3, 4)).astype(np.float32)
    columns = rng.integers(0, 3, size=n) * 4
    canvases = np.zeros((n, 3, 12), dtype=np.float32)
    for i, c in enumerate(columns):
        canvases[i, :, c : c + 4] = maps[i]
    acc = FloorAccumulator((3, 12), alpha=alpha)
    cut = min(split, n)
    got = np.concatenate([acc.accumulate(maps[:cut], columns[:cut]),
                          acc.accumulate(maps[cut:], columns[cut:])])  # fmt: skip
    np.testing.assert_allclose(got, accumulate_heatmaps(canvases, alpha), rtol=1e-5, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(3, 7))
def test_area_of_agrees_with_opencv_point_polygon_test(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    poly = rng.integers(0, 20, size=(k, 2)).astype(np.float32)
    points = np.concatenate([rng.uniform(-2, 22, (200, 2)), rng.integers(-1, 21, (200, 2))])
    expected = [
        cv2.pointPolygonTest(poly.reshape(-1, 1, 2), (float(x), float(y)), False) >= 0
        for x, y in points
    ]
    np.testing.assert_array_equal(area_of(points, [poly]), np.array(expected, dtype=np.int64))
