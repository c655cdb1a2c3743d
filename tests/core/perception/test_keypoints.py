"""Crops, the keypoint network, its training step and weights on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core import FOOT_KEYPOINTS, ModelInputError
from core.perception import (
    GradingNet,
    KeypointNet,
    PersonHeatmaps,
    crop_boxes,
    from_crop,
    infer_heatmaps,
    load_model,
    save_model,
    seeded_torch,
    sidecar_path,
    to_crop,
)
from harness.training.keypoints import heatmap_loss, keypoint_batch


def test_crop_maps_round_trip_and_follow_the_pixels() -> None:
    frame = np.zeros((1, 240, 320, 3), dtype=np.uint8)
    frame[0, 100, 150] = 255
    boxes = np.array([[120.0, 60.0, 180.0, 160.0]])
    crops, transforms = crop_boxes(frame, boxes, size=64)
    point = np.array([[[150.0, 100.0]]])
    in_crop = to_crop(point, transforms, size=64)
    np.testing.assert_allclose(from_crop(in_crop, transforms, size=64), point, atol=1e-4)
    peak = np.unravel_index(crops[0, ..., 0].argmax(), (64, 64))
    np.testing.assert_allclose(peak[::-1], in_crop[0, 0], atol=1.0)


def test_keypoint_net_output_shape_and_prediction_in_frame_coordinates() -> None:
    net = KeypointNet(input_size=32, channels=(4, 8))
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 14, 16, 16)
    frames = np.zeros((2, 240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 10.0, 60.0, 120.0], [200.0, 100.0, 250.0, 220.0]])
    points, conf = infer_heatmaps(net, frames, boxes).keypoints()
    assert points.shape == (2, 14, 2) and conf.shape == (2, 14)
    assert (points[1, :, 0] > 150).all()


def test_heatmaps_decode_to_frame_keypoints_and_foot_maps_by_hand() -> None:
    # One 64-px crop at scale 2 centred on (143.5, 131.5): heatmap pixel (row 5, col 10) is crop
    # pixel (20.5, 10.5), frame point (143.5 - 2 * 11, 131.5 - 2 * 21) = (121.5, 89.5) = the
    # centre of grid pixel (22, 30) at stride 4. At scale 2 a heatmap pixel is a grid pixel, so
    # the warp reads every heatmap pixel: the head's and the negative one are really left out.
    right, left = FOOT_KEYPOINTS
    maps = np.zeros((1, 14, 32, 32), np.float32)
    maps[0, right, 5, 10], maps[0, left, 5, 10] = 1.0, 0.5
    maps[0, left, 9, 9] = -3.0  # negative evidence is no evidence
    maps[0, 0, 20, 20] = 1.0  # the head: not a foot
    heatmaps = PersonHeatmaps(maps, np.array([[143.5, 131.5, 2.0]]), 64)
    points, conf = heatmaps.keypoints()
    np.testing.assert_allclose(points[0, [right, left]], [[121.5, 89.5], [121.5, 89.5]])
    np.testing.assert_allclose(conf[0, [right, left, 0]], [1.0, 0.5, 1.0])
    feet = heatmaps.feet(frame_size=(240, 320), grid_stride=4)
    expected = np.zeros((1, 60, 80), np.float32)
    expected[0, 22, 30] = 1.5
    np.testing.assert_array_equal(feet, expected)


def test_heatmaps_of_the_wrong_shape_are_refused_by_name() -> None:
    with pytest.raises(
        ModelInputError,
        match=r"`maps` of 64-px crops must have shape \(M, 14, 32, 32\), got \(2, 13, 32, 32\)",
    ):
        PersonHeatmaps(np.zeros((2, 13, 32, 32)), np.zeros((2, 3)), 64)
    with pytest.raises(ModelInputError, match=r"got \(2, 14, 16, 16\)"):
        PersonHeatmaps(np.zeros((2, 14, 16, 16)), np.zeros((2, 3)), 64)
    with pytest.raises(
        ModelInputError, match=r"`transforms` must have shape \(2, 3\), got \(3, 3\)"
    ):
        PersonHeatmaps(np.zeros((2, 14, 32, 32)), np.zeros((3, 3)), 64)


def test_a_tiny_keypoint_net_trains_a_few_steps_and_its_loss_falls() -> None:
    torch.set_num_threads(1)
    with seeded_torch(0):
        net = KeypointNet(input_size=32, channels=(8, 16))
        opt = torch.optim.Adam(net.parameters(), lr=5e-3)
        crops, targets = keypoint_batch(np.random.default_rng(0), batch_size=16, input_size=32)
        losses = []
        for _ in range(25):
            loss = heatmap_loss(net, crops, targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_weights_round_trip_through_safetensors_and_sidecar(tmp_path) -> None:
    for net in (
        KeypointNet(input_size=32, channels=(4, 8)),
        GradingNet(channels=2, depth=1, input_size=16),
    ):
        path = tmp_path / f"{type(net).__name__}.safetensors"
        save_model(net, path, metadata={"seed": 3})
        loaded, metadata = load_model(path)
        assert metadata == {"seed": 3}
        assert json.loads(sidecar_path(path).read_text())["architecture"] == type(net).__name__
        for key, value in net.state_dict().items():
            torch.testing.assert_close(loaded.state_dict()[key], value)
