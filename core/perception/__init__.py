"""Perception (MODEL.md Steps 1 and 3): keypoints, motion, position and the grading DNN."""

from __future__ import annotations

from core.perception._crops import crop_boxes, crop_transforms, from_crop, to_crop
from core.perception._device import DEVICES, resolve_device
from core.perception._grading import (
    EnvScaler,
    GradingNet,
    classification_scores,
    difference_images,
    evaluate_grader,
    predict_levels,
    train_grader,
)
from core.perception._heatmaps import decode_heatmaps, render_heatmaps
from core.perception._keypoint_net import (
    HEATMAP_STRIDE,
    KeypointNet,
    PersonHeatmaps,
    crop_to_heatmap,
    crops_to_tensor,
    heatmap_to_crop,
)
from core.perception._metrics import (
    OKS_SIGMAS,
    coco_keypoint_data,
    oks_ap,
    pck,
    speed_median_rel_err,
    torso_length,
)
from core.perception._motion import (
    LK_BLEND,
    LK_GATE_PX,
    LK_MAX_LEVEL,
    LK_WIN_SIZE,
    KeypointTracker,
    keypoint_speeds,
    lk_track,
    to_gray,
)
from core.perception._position import (
    FloorAccumulator,
    accumulate_heatmaps,
    area_of,
    track_positions,
)
from core.perception._runtime import (
    RUNTIMES,
    KeypointRunner,
    infer_heatmaps,
    keypoint_runner,
)
from core.perception._seeding import seeded_torch
from core.perception._weights import (
    build_model,
    dump_model,
    load_model,
    load_onnx,
    onnx_path,
    save_model,
    sidecar_path,
)

__all__ = [
    "DEVICES",
    "HEATMAP_STRIDE",
    "LK_BLEND",
    "LK_GATE_PX",
    "LK_MAX_LEVEL",
    "LK_WIN_SIZE",
    "OKS_SIGMAS",
    "RUNTIMES",
    "EnvScaler",
    "FloorAccumulator",
    "GradingNet",
    "KeypointNet",
    "KeypointRunner",
    "KeypointTracker",
    "PersonHeatmaps",
    "accumulate_heatmaps",
    "area_of",
    "build_model",
    "classification_scores",
    "coco_keypoint_data",
    "crop_boxes",
    "crop_to_heatmap",
    "crop_transforms",
    "crops_to_tensor",
    "decode_heatmaps",
    "difference_images",
    "dump_model",
    "evaluate_grader",
    "from_crop",
    "heatmap_to_crop",
    "infer_heatmaps",
    "keypoint_runner",
    "keypoint_speeds",
    "lk_track",
    "load_model",
    "load_onnx",
    "oks_ap",
    "onnx_path",
    "pck",
    "predict_levels",
    "render_heatmaps",
    "resolve_device",
    "save_model",
    "seeded_torch",
    "sidecar_path",
    "speed_median_rel_err",
    "to_crop",
    "to_gray",
    "torso_length",
    "track_positions",
    "train_grader",
]
