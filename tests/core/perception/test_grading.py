"""The grading DNN on simulated equipment photos: training reduces the loss, scores, scaler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import ModelInputError
from core.perception import (
    EnvScaler,
    classification_scores,
    difference_images,
    evaluate_grader,
    train_grader,
)
from sim.photos import render_equipment_photo, standard_photo


def _photos(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, size=n)
    photos = np.stack(
        [
            render_equipment_photo(
                1,
                displacement_px=(3.0 * y, 0.0),
                missing=frozenset(["guard", "rail", "cover", "sign"][: y // 2]),
                rng=rng,
            )
            for y in labels
        ]
    )
    env = rng.normal([25, 50, 101], [3, 10, 1], size=(n, 3))
    return difference_images(photos, standard_photo(1)), env, labels


def test_a_tiny_grading_net_trains_and_its_loss_falls() -> None:
    images, env, labels = _photos(64, seed=0)
    net, history = train_grader(
        images,
        env,
        labels,
        seed=0,
        epochs=6,
        channels=4,
        depth=2,
        input_size=32,
        hidden=16,
        lr=1e-2,
    )
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    scores = evaluate_grader(net, images, env, labels)
    assert set(scores) == {"macro_f1", "accuracy", "confusion"}
    assert np.sum(scores["confusion"]) == 64


def test_training_is_deterministic_per_seed() -> None:
    images, env, labels = _photos(16, seed=1)
    kwargs = {"epochs": 2, "channels": 4, "depth": 2, "input_size": 32, "hidden": 8}
    _, a = train_grader(images, env, labels, seed=5, **kwargs)
    _, b = train_grader(images, env, labels, seed=5, **kwargs)
    assert a["loss"] == b["loss"]


def test_an_evaluating_on_epoch_hook_sees_every_epoch_and_changes_nothing() -> None:
    images, env, labels = _photos(16, seed=3)
    kwargs = {"epochs": 3, "channels": 4, "depth": 2, "input_size": 32, "hidden": 8}
    plain, _ = train_grader(images, env, labels, seed=2, **kwargs)
    seen: list[int] = []

    def hook(epoch: int, net) -> None:
        seen.append(epoch)
        evaluate_grader(net, images, env, labels)

    hooked, _ = train_grader(images, env, labels, seed=2, on_epoch=hook, **kwargs)
    assert seen == [0, 1, 2]
    for key, value in plain.state_dict().items():
        assert torch.equal(value, hooked.state_dict()[key]), key


def test_label_noise_flips_about_that_share() -> None:
    images, env, labels = _photos(8, seed=2)
    images = np.repeat(images, 50, axis=0)
    _, history = train_grader(
        images,
        np.repeat(env, 50, axis=0),
        np.repeat(labels, 50),
        seed=0,
        epochs=1,
        channels=2,
        depth=1,
        input_size=16,
        hidden=4,
        label_noise=0.2,
    )
    assert history["noisy_labels"] == pytest.approx(80, abs=25)


def test_classification_scores_by_hand() -> None:
    scores = classification_scores(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]))
    # F1: class 0 = 2/3, class 1 = 2/3, class 2 = 1; levels 3, 4 absent.
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["confusion"][0][1] == 1


def test_env_scaler_standardises_and_keeps_constant_features() -> None:
    env = np.array([[20.0, 50.0, 101.0], [30.0, 70.0, 101.0]])
    z = EnvScaler.fit(env).transform(env)
    np.testing.assert_allclose(z, [[-1, -1, 0], [1, 1, 0]])


def test_bad_labels_are_rejected() -> None:
    images, env, _ = _photos(4, seed=3)
    with pytest.raises(ModelInputError, match="labels"):
        train_grader(images, env, np.array([0, 1, 7, 2]), seed=0)
