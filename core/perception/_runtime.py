"""Keypoint-network inference: ONNX Runtime or torch behind one call, crops in, heatmaps out.

ONNX Runtime's CPU kernels run the shipped network about 1.7x faster than torch on one
thread (``experiments/benchmarks/bench_perception.py`` prints both), so it is the default
where the weights carry an ONNX graph and the device is the CPU; torch runs everything else
(a GPU, weights without a graph, a network in memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core._errors import ModelInputError
from core._types import N_KEYPOINTS
from core.perception._crops import crop_boxes
from core.perception._device import resolve_device
from core.perception._keypoint_net import KeypointNet, PersonHeatmaps, crops_to_tensor
from core.perception._weights import load_model, load_onnx

RUNTIMES = ("auto", "onnxruntime", "torch")


@dataclass
class KeypointRunner:
    """A keypoint network ready for inference: uint8 ``(M, S, S, 3)`` crops to heatmaps.

    Build one with :func:`keypoint_runner`.

    Attributes:
        input_size: the crop side ``S``.
        heatmap_size: the heatmaps' side.
        runtime: ``"onnxruntime"`` or ``"torch"``.
        device: where torch runs (``"cpu"`` for ONNX Runtime).
        batch_size: crops per forward pass.
        fallback: why the weights' ONNX graph was not used where ``runtime="auto"`` would
            have (missing or corrupt), else ``""``.
    """

    input_size: int
    heatmap_size: int
    runtime: str
    device: str
    batch_size: int = 256
    fallback: str = ""
    _net: KeypointNet | None = field(default=None, repr=False)
    _session: Any = field(default=None, repr=False)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """``(M, 14, h, h)`` float32 heatmaps of ``(M, S, S, 3)`` uint8 crops."""
        c = np.asarray(crops)
        s = self.input_size
        if c.dtype != np.uint8 or c.ndim != 4 or c.shape[1:] != (s, s, 3):
            raise ModelInputError(
                f"`crops` must be uint8 (M, {s}, {s}, 3), got {c.dtype} {c.shape}"
            )
        out = np.empty((len(c), N_KEYPOINTS, self.heatmap_size, self.heatmap_size), np.float32)
        for start in range(0, len(c), self.batch_size):
            batch = c[start : start + self.batch_size]
            if self._session is not None:
                out[start : start + len(batch)] = self._session.run(None, {"crops": batch})[0]
            else:
                with torch.inference_mode():
                    x = crops_to_tensor(batch).to(self.device)
                    out[start : start + len(batch)] = self._net(x).cpu().numpy()  # type: ignore[misc]
        return out


def keypoint_runner(
    weights: str | Path | KeypointNet,
    *,
    runtime: str = "auto",
    device: str = "auto",
    threads: int = 1,
) -> KeypointRunner:
    """A :class:`KeypointRunner` of saved weights (hash-checked) or of a network in memory.

    Args:
        weights: a ``.safetensors`` file of ``save_model`` or a :class:`KeypointNet`.
        runtime: ``"auto"`` (ONNX Runtime on the CPU when the weights carry an ONNX graph,
            else torch), ``"onnxruntime"`` or ``"torch"``.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (torch only; see ``resolve_device``).
        threads: ONNX Runtime's intra-op threads (torch's are the caller's choice).

    Raises:
        ModelInputError: a bad setting, ONNX Runtime asked for weights without a graph or on
            a GPU, or weights that do not load (see ``load_model``).
    """
    if runtime not in RUNTIMES:
        raise ModelInputError(f"`runtime` must be one of {list(RUNTIMES)}, got {runtime!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ModelInputError(f"`threads` must be an int >= 1, got {threads!r}")
    dev = resolve_device(device)
    fallback = ""
    if isinstance(weights, KeypointNet):
        if runtime == "onnxruntime":
            raise ModelInputError("`runtime` 'onnxruntime' needs saved weights, got a network")
        net = weights
    else:
        loaded, _ = load_model(weights)
        if not isinstance(loaded, KeypointNet):
            raise ModelInputError(f"`weights` {weights} hold a {type(loaded).__name__}")
        net = loaded
        if runtime == "onnxruntime" and dev.type != "cpu":
            raise ModelInputError(f"`runtime` 'onnxruntime' runs on the CPU, got device {device!r}")
        has_graph = runtime == "onnxruntime" or (runtime == "auto" and dev.type == "cpu")
        if has_graph:
            try:
                graph = load_onnx(weights)
            except ModelInputError as exc:
                if runtime == "onnxruntime":
                    raise
                fallback = str(exc)
            else:
                return _onnx_runner(net, graph, threads=threads)
    net.eval()
    return KeypointRunner(
        input_size=net.input_size,
        heatmap_size=net.heatmap_size,
        runtime="torch",
        device=str(dev),
        fallback=fallback,
        _net=net.to(dev),
    )


def _onnx_runner(net: KeypointNet, graph: bytes, *, threads: int) -> KeypointRunner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    return KeypointRunner(
        input_size=net.input_size,
        heatmap_size=net.heatmap_size,
        runtime="onnxruntime",
        device="cpu",
        _session=session,
    )


def _as_runner(net: KeypointNet | KeypointRunner) -> KeypointRunner:
    if isinstance(net, KeypointRunner):
        return net
    if isinstance(net, KeypointNet):
        return keypoint_runner(net, runtime="torch", device=str(next(net.parameters()).device))
    raise ModelInputError(f"`net` must be a KeypointNet or KeypointRunner, got {type(net)}")


def infer_heatmaps(
    net: KeypointNet | KeypointRunner,
    frames: np.ndarray,
    boxes: np.ndarray,
    *,
    frame_index: np.ndarray | None = None,
    batch_size: int = 256,
) -> PersonHeatmaps:
    """Heatmaps of every person box: crops cut at once, the network run on them in batches.

    Threads are the caller's choice for torch (``torch.set_num_threads``); a runner from
    :func:`keypoint_runner` fixes ONNX Runtime's. ``.keypoints()`` of the result gives the
    boxes' top-down keypoints in frame coordinates.

    Args:
        net: a trained :class:`KeypointNet` or a :class:`KeypointRunner`.
        frames: ``(N, H, W, 3)`` uint8 BGR frames.
        boxes: ``(M, 4)`` person boxes ``(x0, y0, x1, y1)``.
        frame_index: ``(M,)`` frame of each box; one box per frame when None.
        batch_size: crops per forward pass.

    Returns:
        The boxes' ``(M, 14, h, h)`` float32 maps, their ``(M, 3)`` crop transforms and the
        network's crop side.
    """
    runner = _as_runner(net)
    was_training = runner._net.training if runner._net is not None else False
    crops, transforms = crop_boxes(frames, boxes, frame_index=frame_index, size=runner.input_size)
    runner.batch_size = batch_size
    try:
        return PersonHeatmaps(runner(crops), transforms, runner.input_size)
    finally:
        if runner._net is not None:
            runner._net.train(was_training)
