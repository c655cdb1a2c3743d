"""Weights on disk: the sha256 in the sidecar is verified on load; ONNX graph and runtimes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core import ModelInputError
from core.perception import (
    GradingNet,
    KeypointNet,
    keypoint_runner,
    load_model,
    load_onnx,
    onnx_path,
    resolve_device,
    save_model,
    sidecar_path,
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "net.safetensors"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        save_model(KeypointNet(input_size=32, channels=(4, 8)), path, metadata={"a": 1}, onnx=True)
    return path


def _copy(saved: Path, tmp_path: Path) -> Path:
    for f in (saved, sidecar_path(saved), onnx_path(saved)):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return tmp_path / saved.name


def test_the_sidecar_records_the_sha256_of_both_files(saved: Path) -> None:
    import hashlib

    sidecar = json.loads(sidecar_path(saved).read_text())
    assert sidecar["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert sidecar["onnx"]["sha256"] == hashlib.sha256(onnx_path(saved).read_bytes()).hexdigest()
    net, metadata = load_model(saved)
    assert isinstance(net, KeypointNet) and metadata == {"a": 1}


@pytest.mark.parametrize("offset", [0, 100, -1])
def test_a_flipped_byte_is_refused_naming_the_file(
    saved: Path, tmp_path: Path, offset: int
) -> None:
    path = _copy(saved, tmp_path)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelInputError, match=r"net\.safetensors does not match the sha256"):
        load_model(path)


def test_a_truncated_file_is_refused(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ModelInputError, match="truncated, garbled or replaced"):
        load_model(path)


def test_a_garbage_file_with_its_matching_hash_is_a_clear_error(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"not a safetensors file at all" * 10)
    sidecar = {"architecture": "KeypointNet", "config": {"input_size": 32, "channels": [4, 8]},
               "metadata": {}, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}  # fmt: skip
    sidecar_path(path).write_text(json.dumps(sidecar))
    with pytest.raises(ModelInputError, match=r"junk\.safetensors does not fit KeypointNet"):
        load_model(path)


def test_a_missing_or_broken_sidecar_is_refused(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    sidecar_path(path).unlink()
    with pytest.raises(ModelInputError, match=r"sidecar .*net\.json missing"):
        load_model(path)
    sidecar_path(path).write_text("{not json")
    with pytest.raises(ModelInputError, match="not valid JSON"):
        load_model(path)
    sidecar_path(path).write_text(json.dumps({"architecture": "KeypointNet", "config": {}}))
    with pytest.raises(ModelInputError, match="sha256"):
        load_model(path)


def test_a_garbled_onnx_graph_is_refused(saved: Path, tmp_path: Path) -> None:
    path = _copy(saved, tmp_path)
    graph = onnx_path(path)
    graph.write_bytes(graph.read_bytes()[:-7] + b"garbage")
    with pytest.raises(ModelInputError, match=r"net\.onnx does not match the sha256"):
        load_onnx(path)
    with pytest.raises(ModelInputError, match="does not match"):
        keypoint_runner(path, runtime="onnxruntime", device="cpu")


def test_onnx_runtime_and_torch_give_the_same_heatmaps(saved: Path) -> None:
    crops = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    fast = keypoint_runner(saved, runtime="onnxruntime", device="cpu")
    slow = keypoint_runner(saved, runtime="torch", device="cpu")
    assert (fast.runtime, slow.runtime) == ("onnxruntime", "torch")
    np.testing.assert_allclose(fast(crops), slow(crops), atol=1e-4)
    assert keypoint_runner(saved, runtime="auto", device="cpu").runtime == "onnxruntime"


def test_weights_without_a_graph_run_on_torch_unless_onnx_runtime_is_demanded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plain.safetensors"
    save_model(KeypointNet(input_size=32, channels=(4, 8)), path)
    assert keypoint_runner(path, device="cpu").runtime == "torch"
    with pytest.raises(ModelInputError, match="no ONNX graph"):
        keypoint_runner(path, runtime="onnxruntime", device="cpu")


def test_onnx_export_is_for_keypoint_nets_only(tmp_path: Path) -> None:
    with pytest.raises(ModelInputError, match="KeypointNet"):
        save_model(
            GradingNet(channels=2, depth=1, input_size=16), tmp_path / "g.safetensors", onnx=True
        )


def test_bad_device_and_runtime_settings_are_named() -> None:
    with pytest.raises(ModelInputError, match="`device` must be one of"):
        resolve_device("gpu")
    with pytest.raises(ModelInputError, match="`runtime` must be one of"):
        keypoint_runner(KeypointNet(input_size=32, channels=(4, 8)), runtime="tensorrt")
    if not torch.cuda.is_available():
        with pytest.raises(ModelInputError, match="no CUDA GPU"):
            resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"
