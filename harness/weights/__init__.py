"""Weights shipped with the package (see README.md here for how they were made)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_KEYPOINT_WEIGHTS = Path(__file__).parent / "keypoint_net.safetensors"
"""The trained keypoint network (with its JSON sidecar and ONNX graph beside it)."""
