"""Crops, the keypoint network, its training step and weights on disk."""

from __future__ import annotations

import json

import numpy as np
import torch

from core.perception import (
    GradingNet,
    KeypointNet,
    crop_boxes,
    from_crop,
    load_model,
    predict_keypoints,
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
    points, conf = predict_keypoints(net, frames, boxes)
    assert points.shape == (2, 14, 2) and conf.shape == (2, 14)
    assert (points[1, :, 0] > 150).all()


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
