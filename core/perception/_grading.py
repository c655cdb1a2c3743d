"""Step 1's grading DNN: difference image + standardised environment vector -> 5 levels."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core._confusion import confusion_matrix
from core._errors import ModelInputError
from core._types import LEVEL_NAMES
from core.perception._device import resolve_device
from core.perception._seeding import seeded_torch

N_LEVELS = len(LEVEL_NAMES)


@dataclass(frozen=True)
class EnvScaler:
    """Per-post standardisation of the environment vector, fitted on training data."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, env: np.ndarray) -> EnvScaler:
        """Mean and standard deviation per feature (a constant feature gets std 1)."""
        e = _check_env(env)
        std = e.std(axis=0)
        return cls(mean=e.mean(axis=0), std=np.where(std > 1e-8, std, 1.0))

    def transform(self, env: np.ndarray) -> np.ndarray:
        """``(env - mean) / std`` as float32."""
        return ((_check_env(env) - self.mean) / self.std).astype(np.float32)


def _check_env(env: np.ndarray) -> np.ndarray:
    e = np.asarray(env, dtype=np.float64)
    if e.ndim != 2 or not np.isfinite(e).all():
        raise ModelInputError(f"`env` must be a finite (N, n_env) array, got shape {e.shape}")
    return e


def difference_images(photos: np.ndarray, standard: np.ndarray) -> np.ndarray:
    """``|photo - standard|`` per pixel: ``(N, H, W, 3)`` uint8 from photos and one standard."""
    p, s = np.asarray(photos), np.asarray(standard)
    if p.ndim != 4 or p.shape[1:] != s.shape or p.dtype != np.uint8 or s.dtype != np.uint8:
        raise ModelInputError(
            f"`photos` must be uint8 (N, H, W, 3) of the standard's shape {s.shape}, got "
            f"{p.dtype} {p.shape}"
        )
    return np.abs(p.astype(np.int16) - s.astype(np.int16)).astype(np.uint8)


class GradingNet(nn.Module):
    """Conv encoder on the difference image, fused with the environment vector, 5 logits.

    The fitted :class:`EnvScaler` lives in buffers, so saved weights standardise by
    themselves: ``forward`` takes the raw environment vector.

    Args:
        channels: channels of the first encoder stage (doubled at each further stage).
        depth: number of stride-2 encoder stages.
        input_size: side of the square difference image the network sees.
        n_env: length of the environment vector.
        hidden: width of the fully connected layer.
    """

    def __init__(
        self,
        *,
        channels: int = 16,
        depth: int = 3,
        input_size: int = 64,
        n_env: int = 3,
        hidden: int = 64,
    ) -> None:
        super().__init__()
        if depth < 1 or input_size % (2**depth) or channels < 1 or n_env < 0:
            raise ModelInputError(
                "GradingNet needs depth >= 1, channels >= 1, n_env >= 0 and input_size "
                f"divisible by 2**depth, got channels={channels}, depth={depth}, "
                f"input_size={input_size}, n_env={n_env}"
            )
        self.config: dict[str, Any] = {
            "channels": channels,
            "depth": depth,
            "input_size": input_size,
            "n_env": n_env,
            "hidden": hidden,
        }
        layers: list[nn.Module] = []
        c_in = 3
        for d in range(depth):
            c_out = channels * 2**d
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU(True)]
            c_in = c_out
        self.encoder = nn.Sequential(*layers)
        side = input_size // 2**depth
        self.fc = nn.Sequential(
            nn.Linear(c_in * side * side + n_env, hidden),
            nn.ReLU(True),
            nn.Dropout(0.2),
            nn.Linear(hidden, N_LEVELS),
        )
        self.register_buffer("env_mean", torch.zeros(n_env, dtype=torch.float64))
        self.register_buffer("env_std", torch.ones(n_env, dtype=torch.float64))

    def set_scaler(self, scaler: EnvScaler) -> None:
        """Store a fitted environment scaler in the network."""
        self.env_mean.copy_(torch.from_numpy(np.asarray(scaler.mean, dtype=np.float64)))
        self.env_std.copy_(torch.from_numpy(np.asarray(scaler.std, dtype=np.float64)))

    def forward(self, diff: torch.Tensor, env: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` difference images in [0, 1] and ``(B, n_env)`` raw env -> logits."""
        z = ((env.double() - self.env_mean) / self.env_std).float()
        return self.fc(torch.cat([self.encoder(diff).flatten(1), z], dim=1))


def _to_input(images: np.ndarray, size: int) -> torch.Tensor:
    imgs = np.asarray(images)
    if imgs.ndim != 4 or imgs.shape[-1] != 3 or imgs.dtype != np.uint8:
        raise ModelInputError(
            f"`images` must be uint8 (N, H, W, 3) difference images, got {imgs.dtype} {imgs.shape}"
        )
    resized = (
        np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in imgs])
        if imgs.shape[1:3] != (size, size)
        else imgs
    )
    return torch.from_numpy(np.ascontiguousarray(resized)).permute(0, 3, 1, 2).float() / 255.0


def _check_labels(labels: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(labels)
    if (
        y.shape != (n,)
        or not np.issubdtype(y.dtype, np.integer)
        or (n and not 0 <= y.min() <= y.max() < N_LEVELS)
    ):
        raise ModelInputError(f"`labels` must be ({n},) ints in [0, {N_LEVELS}), got {y!r}")
    return y.astype(np.int64)


def train_grader(
    images: np.ndarray,
    env: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int,
    epochs: int = 30,
    lr: float = 3e-3,
    batch_size: int = 32,
    label_noise: float = 0.0,
    channels: int = 16,
    depth: int = 3,
    input_size: int = 64,
    hidden: int = 64,
    max_seconds: float | None = None,
    on_epoch: Callable[[int, GradingNet], None] | None = None,
    device: str = "auto",
) -> tuple[GradingNet, dict[str, Any]]:
    """Train one post's grading network with cross-entropy (Adam), deterministically.

    Args:
        images: ``(N, H, W, 3)`` uint8 difference images (:func:`difference_images`).
        env: ``(N, n_env)`` raw environment vectors.
        labels: ``(N,)`` true levels 0..4.
        seed: seeds initialisation, shuffling and label noise.
        epochs: passes over the data.
        lr: Adam learning rate.
        batch_size: samples per step.
        label_noise: probability that a label is replaced by a random other level.
        channels, depth, input_size, hidden: the :class:`GradingNet` architecture.
        max_seconds: stop after the epoch that crosses this wall time (None: no limit).
        on_epoch: called as ``on_epoch(epoch, net)`` after each epoch (0-based), e.g. to
            report a validation score; it may put ``net`` in eval mode (training resumes in
            train mode) and may raise to stop training (the exception propagates).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; the network is
            returned on the CPU either way.

    Returns:
        The trained network (eval mode, scaler set, on the CPU) and a history
        ``{"loss": [per epoch], "epochs": n, "seconds": s, "noisy_labels": k}``.
    """
    dev = resolve_device(device)
    x = _to_input(images, input_size)
    e = _check_env(env)
    y = _check_labels(labels, len(x))
    if len(e) != len(x):
        raise ModelInputError(f"`env` must have {len(x)} rows like `images`, got {len(e)}")
    if not 0 <= label_noise <= 1:
        raise ModelInputError(f"`label_noise` must be in [0, 1], got {label_noise!r}")
    rng = np.random.default_rng(seed)
    flip = rng.random(len(y)) < label_noise
    y = np.where(flip, (y + rng.integers(1, N_LEVELS, size=len(y))) % N_LEVELS, y)
    start = time.perf_counter()
    history: dict[str, Any] = {"loss": [], "noisy_labels": int(flip.sum())}
    with seeded_torch(seed) as gen:
        net = GradingNet(
            channels=channels, depth=depth, input_size=input_size, n_env=e.shape[1], hidden=hidden
        )
        net.set_scaler(EnvScaler.fit(e))
        net.to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        x, env_t, y_t = x.to(dev), torch.from_numpy(e).to(dev), torch.from_numpy(y).to(dev)
        net.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for idx in order.split(batch_size):
                loss = F.cross_entropy(net(x[idx], env_t[idx]), y_t[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            history["loss"].append(total / len(x))
            if on_epoch is not None:
                on_epoch(len(history["loss"]) - 1, net)
                net.train()
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                break
    net.cpu().eval()
    history["epochs"] = len(history["loss"])
    history["seconds"] = time.perf_counter() - start
    return net, history


def predict_levels(
    net: GradingNet, images: np.ndarray, env: np.ndarray, *, device: str = "cpu"
) -> np.ndarray:
    """Predicted level 0..4 of each (difference image, environment) pair.

    ``device`` (``"auto"``, ``"cpu"`` or ``"cuda"``) is where the forward pass runs; the
    network is back on its own device afterwards.
    """
    dev = resolve_device(device)
    x = _to_input(images, net.config["input_size"])
    e = torch.from_numpy(_check_env(env))
    home = next(net.parameters()).device
    net.eval().to(dev)
    try:
        with torch.inference_mode():
            return net(x.to(dev), e.to(dev)).argmax(dim=1).cpu().numpy()
    finally:
        net.to(home)


def evaluate_grader(
    net: GradingNet, images: np.ndarray, env: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """Macro F1, accuracy and the 5x5 confusion matrix (rows: true level, columns: predicted)."""
    y = _check_labels(labels, len(images))
    return classification_scores(y, predict_levels(net, images, env))


def classification_scores(true: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Macro F1 (over the levels present in ``true`` or ``pred``), accuracy and confusion.

    ``confusion`` is :func:`core.confusion_matrix`'s: rows = true level, columns = predicted.
    """
    confusion = confusion_matrix(true, pred, n_classes=N_LEVELS)
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros(N_LEVELS), where=present)
    return {
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "accuracy": float(tp.sum() / max(int(confusion.sum()), 1)),
        "confusion": confusion.tolist(),
    }
