"""Weights on disk: safetensors tensors plus a JSON sidecar with architecture and metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from core._errors import ModelInputError
from core.perception._grading import GradingNet
from core.perception._keypoint_net import KeypointNet

_ARCHITECTURES: dict[str, type[nn.Module]] = {"KeypointNet": KeypointNet, "GradingNet": GradingNet}


def sidecar_path(path: str | Path) -> Path:
    """The JSON metadata file that goes with a ``.safetensors`` weights file."""
    return Path(path).with_suffix(".json")


def save_model(net: nn.Module, path: str | Path, *, metadata: dict[str, Any] | None = None) -> None:
    """Save ``net``'s state (tensors only) and a sidecar ``{architecture, config, metadata}``."""
    name = type(net).__name__
    if name not in _ARCHITECTURES:
        raise ModelInputError(f"`net` must be one of {sorted(_ARCHITECTURES)}, got {name}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path))
    sidecar = {"architecture": name, "config": net.config, "metadata": metadata or {}}
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network saved by :func:`save_model`; returns it (in eval mode) and metadata."""
    path = Path(path)
    meta_file = sidecar_path(path)
    if not path.is_file() or not meta_file.is_file():
        raise ModelInputError(
            f"`path` must name a weights file with a JSON sidecar, got {path}"
            f" (sidecar {meta_file} {'found' if meta_file.is_file() else 'missing'})"
        )
    sidecar = json.loads(meta_file.read_text())
    arch = sidecar.get("architecture")
    if arch not in _ARCHITECTURES:
        raise ModelInputError(
            f"sidecar architecture must be one of {sorted(_ARCHITECTURES)}, got {arch!r}"
        )
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in sidecar["config"].items()}
    net = _ARCHITECTURES[arch](**config)
    net.load_state_dict(load_file(str(path)))
    net.eval()
    return net, sidecar["metadata"]
