"""Weights on disk: safetensors tensors plus a JSON sidecar with architecture, metadata and the
sha256 of every file, verified on load; optionally an ONNX graph of a keypoint network.

Nothing here unpickles: safetensors holds tensors only, the sidecar is JSON, and the ONNX
file is a protobuf graph that ONNX Runtime parses. A file that is missing, truncated, garbled
or does not match its recorded hash raises :class:`core.ModelInputError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from core._errors import ModelInputError
from core.perception._grading import GradingNet
from core.perception._keypoint_net import KeypointNet

_ARCHITECTURES: dict[str, type[nn.Module]] = {"KeypointNet": KeypointNet, "GradingNet": GradingNet}
ONNX_OPSET = 17


def sidecar_path(path: str | Path) -> Path:
    """The JSON metadata file that goes with a ``.safetensors`` weights file."""
    return Path(path).with_suffix(".json")


def onnx_path(path: str | Path) -> Path:
    """The ONNX graph that may go with a keypoint network's ``.safetensors`` weights file."""
    return Path(path).with_suffix(".onnx")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(
    net: nn.Module,
    path: str | Path,
    *,
    metadata: dict[str, Any] | None = None,
    onnx: bool = False,
) -> None:
    """Save ``net``'s state (tensors only) and a sidecar ``{architecture, config, metadata,
    sha256}``.

    Args:
        net: a :class:`KeypointNet` or :class:`GradingNet`.
        path: the ``.safetensors`` file to write.
        metadata: JSON-serialisable facts about the weights (training command, metrics).
        onnx: also write :func:`onnx_path` (a keypoint network only): the network with its
            input normalisation, uint8 ``(M, S, S, 3)`` crops in, heatmaps out, checked
            against torch before it is written; its sha256 goes into the sidecar too.
    """
    if onnx and not isinstance(net, KeypointNet):
        raise ModelInputError(f"`onnx` export is for a KeypointNet, got {type(net).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data, sidecar = dump_model(net, metadata=metadata)
    path.write_bytes(data)
    if onnx:
        graph = _export_onnx(net)  # type: ignore[arg-type]
        onnx_path(path).write_bytes(graph)
        sidecar["onnx"] = {"file": onnx_path(path).name, "sha256": _sha256(graph)}
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")


def dump_model(
    net: nn.Module, *, metadata: dict[str, Any] | None = None
) -> tuple[bytes, dict[str, Any]]:
    """``net``'s weights as safetensors bytes (tensors only) and their sidecar
    ``{architecture, config, metadata, sha256}``: what :func:`save_model` writes, in memory (for
    weights kept on object storage)."""
    name = type(net).__name__
    if name not in _ARCHITECTURES:
        raise ModelInputError(f"`net` must be one of {sorted(_ARCHITECTURES)}, got {name}")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    data = save_safetensors(state)
    sidecar = {"architecture": name, "config": net.config, "metadata": metadata or {},
               "sha256": _sha256(data)}  # fmt: skip
    return data, sidecar


def build_model(data: bytes, sidecar: bytes, *, where: str) -> tuple[nn.Module, dict[str, Any]]:
    """The network of weights ``data`` and their JSON ``sidecar`` (as :func:`dump_model` gave
    them), after checking the sha256; ``where`` names them in errors. See :func:`load_model`."""
    meta = _parse_sidecar(sidecar, f"{where} (sidecar)")
    return _build(_checked(data, meta["sha256"], where), meta, where)


def _read_sidecar(path: Path) -> dict[str, Any]:
    meta_file = sidecar_path(path)
    if not path.is_file() or not meta_file.is_file():
        raise ModelInputError(
            f"`path` must name a weights file with a JSON sidecar, got {path}"
            f" (sidecar {meta_file} {'found' if meta_file.is_file() else 'missing'})"
        )
    return _parse_sidecar(meta_file.read_bytes(), str(meta_file))


def _parse_sidecar(text: bytes, meta_file: str) -> dict[str, Any]:
    try:
        sidecar = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelInputError(f"weights sidecar {meta_file} is not valid JSON: {exc}") from None
    if not isinstance(sidecar, dict) or not isinstance(sidecar.get("sha256"), str):
        raise ModelInputError(
            f"weights sidecar {meta_file} must be a JSON object with the file's `sha256`; "
            "save the weights again with core.perception.save_model"
        )
    arch = sidecar.get("architecture")
    if arch not in _ARCHITECTURES:
        raise ModelInputError(
            f"sidecar {meta_file}: architecture must be one of {sorted(_ARCHITECTURES)}, "
            f"got {arch!r}"
        )
    for key in ("config", "metadata"):
        if not isinstance(sidecar.get(key), dict):
            raise ModelInputError(
                f"weights sidecar {meta_file} must hold the network's `{key}` object, got "
                f"{type(sidecar.get(key)).__name__}; save the weights again with "
                "core.perception.save_model"
            )
    return sidecar


def _verified_bytes(file: Path, expected: str) -> bytes:
    return _checked(file.read_bytes(), expected, str(file))


def _checked(data: bytes, expected: str, file: str) -> bytes:
    if _sha256(data) != expected:
        raise ModelInputError(
            f"weights file {file} does not match the sha256 recorded in its JSON sidecar: it "
            "is truncated, garbled or replaced; restore or retrain it"
        )
    return data


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the network saved by :func:`save_model`, on CPU, after checking its sha256.

    Returns:
        The network (in eval mode) and its metadata.

    Raises:
        ModelInputError: naming the file, when it or its sidecar is missing, unreadable, does
            not match the recorded hash, or does not fit the recorded architecture.
    """
    path = Path(path)
    sidecar = _read_sidecar(path)
    return _build(_verified_bytes(path, sidecar["sha256"]), sidecar, str(path))


def _build(data: bytes, sidecar: dict[str, Any], path: str) -> tuple[nn.Module, dict[str, Any]]:
    arch = sidecar["architecture"]
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in sidecar["config"].items()}
    try:
        net = _ARCHITECTURES[arch](**config)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"sidecar of {path}: bad {arch} config: {exc}") from None
    try:
        net.load_state_dict(load_safetensors(data))
    except Exception as exc:  # safetensors and torch raise several types for a bad file
        raise ModelInputError(f"weights file {path} does not fit {arch}{config}: {exc}") from None
    net.eval()
    return net, sidecar["metadata"]


def load_onnx(path: str | Path) -> bytes:
    """The verified ONNX graph saved beside ``path`` by ``save_model(..., onnx=True)``.

    Raises:
        ModelInputError: when the weights have no ONNX graph, or it does not match its hash.
    """
    path = Path(path)
    sidecar = _read_sidecar(path)
    entry = sidecar.get("onnx")
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise ModelInputError(
            f"weights {path} have no ONNX graph; save them with save_model(..., onnx=True) "
            "or use the torch runtime"
        )
    graph = path.parent / str(entry.get("file", onnx_path(path).name))
    if not graph.is_file():
        raise ModelInputError(
            f"ONNX graph {graph} named by sidecar {sidecar_path(path)} is missing"
        )
    return _verified_bytes(graph, entry["sha256"])


class _NormalisedKeypointNet(nn.Module):
    """uint8 ``(M, S, S, 3)`` crops in (as :func:`crops_to_tensor` takes them), heatmaps out."""

    def __init__(self, net: KeypointNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.net(crops.permute(0, 3, 1, 2).float() / 255.0 - 0.5)


def _export_onnx(net: KeypointNet) -> bytes:
    """The ONNX graph of ``net`` (batch dimension dynamic), checked against torch."""
    # Imported here: only saving a graph needs ONNX Runtime for the check.
    import onnxruntime

    was_training = net.training
    wrapped = _NormalisedKeypointNet(net.cpu()).eval()
    size = net.input_size
    example = torch.from_numpy(
        np.random.default_rng(0).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    )
    with torch.inference_mode():
        expected = wrapped(example).numpy()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter: fast and without extra dependencies at torch==2.13.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (example,),
            buffer,
            input_names=["crops"],
            output_names=["heatmaps"],
            dynamic_axes={"crops": {0: "batch"}, "heatmaps": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    net.train(was_training)
    graph = buffer.getvalue()
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    got = session.run(None, {"crops": example.numpy()})[0]
    if not np.allclose(got, expected, atol=1e-4, rtol=1e-4):
        raise ModelInputError(
            f"ONNX export of {type(net).__name__} differs from torch by "
            f"{float(np.abs(got - expected).max()):.2e}"
        )
    return graph
