"""The top-down keypoint network: person crop in, 14 heatmaps at half resolution out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core._errors import ModelInputError
from core._types import FOOT_KEYPOINTS, N_KEYPOINTS
from core.perception._crops import from_crop
from core.perception._heatmaps import decode_heatmaps

HEATMAP_STRIDE = 2
"""Crop pixels per heatmap pixel."""


def _conv(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class KeypointNet(nn.Module):
    """A small encoder-decoder (U-Net-like, additive skips) for 14 keypoint heatmaps.

    Encoder: a stride-2 stem, then one stride-2 stage per further entry of ``channels``;
    decoder: bilinear up-sampling with a 1x1 projection, added to the encoder's skip and
    refined by a 3x3 convolution, back to the stem's resolution (1/2 of the input).

    Args:
        input_size: side of the square RGB crop.
        channels: channels per encoder stage, shallow to deep.
    """

    def __init__(self, *, input_size: int = 64, channels: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        if input_size % (2 ** len(channels)) or len(channels) < 2:
            raise ModelInputError(
                f"`input_size` must be divisible by 2**len(channels) with >= 2 stages, got "
                f"input_size={input_size}, channels={channels}"
            )
        self.config: dict[str, Any] = {"input_size": input_size, "channels": list(channels)}
        self.input_size = input_size
        self.heatmap_size = input_size // HEATMAP_STRIDE
        self.stem = nn.Sequential(_conv(3, channels[0], 2), _conv(channels[0], channels[0]))
        self.down = nn.ModuleList(
            nn.Sequential(_conv(a, b, 2), _conv(b, b)) for a, b in itertools.pairwise(channels)
        )
        self.lateral = nn.ModuleList(nn.Conv2d(b, a, 1) for a, b in itertools.pairwise(channels))
        self.refine = nn.ModuleList(_conv(a, a) for a in channels[:-1])
        self.head = nn.Conv2d(channels[0], N_KEYPOINTS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` normalised crops to ``(B, 14, S/2, S/2)`` heatmaps."""
        skips = [self.stem(x)]
        for stage in self.down:
            skips.append(stage(skips[-1]))
        y = skips.pop()
        for lateral, refine in zip(reversed(self.lateral), reversed(self.refine), strict=True):
            skip = skips.pop()
            y = F.interpolate(
                lateral(y), size=skip.shape[-2:], mode="bilinear", align_corners=False
            )
            y = refine(y + skip)
        return self.head(y)


def crops_to_tensor(crops: np.ndarray) -> torch.Tensor:
    """``(M, S, S, 3)`` uint8 crops to the network's ``(M, 3, S, S)`` float input."""
    t = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)
    return t.float().div_(255.0).sub_(0.5)


def heatmap_to_crop(points: np.ndarray) -> np.ndarray:
    """Heatmap pixels to crop pixels (a heatmap pixel covers ``HEATMAP_STRIDE`` crop pixels)."""
    return points * HEATMAP_STRIDE + (HEATMAP_STRIDE - 1) / 2


def crop_to_heatmap(points: np.ndarray) -> np.ndarray:
    """Crop pixels to heatmap pixels (inverse of :func:`heatmap_to_crop`)."""
    return (points - (HEATMAP_STRIDE - 1) / 2) / HEATMAP_STRIDE


@dataclass(frozen=True, eq=False)
class PersonHeatmaps:
    """The keypoint network's heatmaps of person crops and where each crop was cut.

    Made by :func:`infer_heatmaps`; decoded to frame keypoints or to foot maps on a grid.
    """

    maps: np.ndarray
    """``(M, 14, h, h)`` network heatmaps, ``h = input_size // HEATMAP_STRIDE``."""
    transforms: np.ndarray
    """``(M, 3)`` crop transforms of the maps (:func:`crop_boxes`)."""
    input_size: int
    """The network's crop side."""

    def __post_init__(self) -> None:
        shape = np.shape(self.maps)
        side = self.input_size // HEATMAP_STRIDE
        if len(shape) != 4 or shape[1:] != (N_KEYPOINTS, side, side):
            raise ModelInputError(
                f"`maps` of {self.input_size}-px crops must have shape (M, {N_KEYPOINTS}, {side}, "
                f"{side}), got {shape}"
            )
        if np.shape(self.transforms) != (shape[0], 3):
            raise ModelInputError(
                f"`transforms` must have shape ({shape[0]}, 3), got {np.shape(self.transforms)}"
            )

    def keypoints(self) -> tuple[np.ndarray, np.ndarray]:
        """Heatmap peaks as frame keypoints.

        Returns:
            ``(M, 14, 2)`` float32 frame coordinates and ``(M, 14)`` confidences (the peaks).
        """
        peaks, conf = decode_heatmaps(self.maps)
        points = from_crop(heatmap_to_crop(peaks), self.transforms, size=self.input_size)
        return points.astype(np.float32), conf

    def feet(self, *, frame_size: tuple[int, int], grid_stride: int = 4) -> np.ndarray:
        """The two foot heatmaps of each crop (negatives as zero), summed and warped onto a
        frame-aligned grid.

        Args:
            frame_size: ``(height, width)`` of the camera frame.
            grid_stride: frame pixels per grid pixel; grid pixel ``i`` is centred on frame
                pixel ``i * grid_stride + (grid_stride - 1) / 2``.

        Returns:
            ``(M, ceil(height / grid_stride), ceil(width / grid_stride))`` float32 maps.
        """
        hm = np.asarray(self.maps, dtype=np.float32)
        feet = np.maximum(hm[:, list(FOOT_KEYPOINTS)], 0).sum(axis=1)
        gh, gw = -(-frame_size[0] // grid_stride), -(-frame_size[1] // grid_stride)
        g, r, half = grid_stride, HEATMAP_STRIDE, (self.input_size - 1) / 2
        out = np.empty((len(hm), gh, gw), dtype=np.float32)
        for m, (cx, cy, s) in enumerate(np.asarray(self.transforms, dtype=np.float64)):
            a = s * r / g
            base = ((r - 1) / 2 - half) * s - (g - 1) / 2
            mat = np.array([[a, 0, (cx + base) / g], [0, a, (cy + base) / g]])
            out[m] = cv2.warpAffine(
                feet[m], mat, (gw, gh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
        return out
