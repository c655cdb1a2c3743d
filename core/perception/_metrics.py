"""Perception metrics against ground truth: PCK, COCO keypoint AP (OKS), speed error."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from core._errors import ModelInputError
from core._types import KEYPOINTS, N_KEYPOINTS

OKS_SIGMAS = np.array(
    [
        0.079,
        0.079,
        0.079,
        0.072,
        0.062,
        0.079,
        0.072,
        0.062,
        0.107,
        0.087,
        0.089,
        0.107,
        0.087,
        0.089,
    ]
)
"""Per-keypoint OKS sigmas in ``core.KEYPOINTS`` order: COCO's for shoulders, elbows, wrists,
hips, knees and ankles; CrowdPose's 0.079 for head and neck (its 14-keypoint set has both)."""

_K = {name: i for i, name in enumerate(KEYPOINTS)}


def _check_points(name: str, value: np.ndarray) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    if a.ndim != 3 or a.shape[1:] != (N_KEYPOINTS, 2):
        raise ModelInputError(f"`{name}` must have shape (M, {N_KEYPOINTS}, 2), got {a.shape}")
    return a


def torso_length(keypoints: np.ndarray) -> np.ndarray:
    """``(M,)`` distance from the neck to the middle of the hips."""
    kp = _check_points("keypoints", keypoints)
    hips = (kp[:, _K["r_hip"]] + kp[:, _K["l_hip"]]) / 2
    return np.linalg.norm(kp[:, _K["neck"]] - hips, axis=1)


def pck(pred: np.ndarray, true: np.ndarray, torso_len: np.ndarray, thr: float = 0.2) -> float:
    """Fraction of keypoints within ``thr * torso_len`` of the truth (NaN predictions miss)."""
    p, t = _check_points("pred", pred), _check_points("true", true)
    length = np.broadcast_to(np.asarray(torso_len, dtype=np.float64), (len(t),))
    if p.shape != t.shape:
        raise ModelInputError(f"`pred` must have the shape of `true` {t.shape}, got {p.shape}")
    dist = np.linalg.norm(p - t, axis=-1)
    return float(np.mean(np.nan_to_num(dist, nan=np.inf) <= thr * length[:, None]))


def coco_keypoint_data(
    pred: np.ndarray,
    true: np.ndarray,
    *,
    scores: np.ndarray,
    image_ids: np.ndarray | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """COCO-format ground truth (dict) and detections (list) for keypoint evaluation.

    Every true person is fully visible (``v = 2``); its area is the area of its keypoints'
    bounding box. Each prediction carries its person's image id.
    """
    p, t = _check_points("pred", pred), _check_points("true", true)
    ids = np.arange(len(t)) if image_ids is None else np.asarray(image_ids)
    s = np.asarray(scores, dtype=np.float64)
    if p.shape != t.shape or s.shape != (len(t),) or ids.shape != (len(t),):
        raise ModelInputError(f"`pred`, `scores` and `image_ids` must match {len(t)} persons")
    images = [{"id": int(i)} for i in np.unique(ids)]
    annotations, detections = [], []
    for n, (gt, dt, img) in enumerate(zip(t, p, ids, strict=True)):
        lo, hi = gt.min(axis=0), gt.max(axis=0)
        w, h = hi - lo
        annotations.append(
            {
                "id": n + 1,
                "image_id": int(img),
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [float(lo[0]), float(lo[1]), float(w), float(h)],
                "area": float(w * h),
                "num_keypoints": N_KEYPOINTS,
                "keypoints": np.column_stack([gt, np.full(N_KEYPOINTS, 2.0)]).ravel().tolist(),
            }
        )
        detections.append(
            {
                "image_id": int(img),
                "category_id": 1,
                "score": float(s[n]),
                "keypoints": np.column_stack([np.nan_to_num(dt, nan=-1e6), np.ones(N_KEYPOINTS)])
                .ravel()
                .tolist(),
            }
        )
    gt_data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": list(KEYPOINTS), "skeleton": []}],
    }
    return gt_data, detections


def oks_ap(
    pred: np.ndarray,
    true: np.ndarray,
    *,
    scores: np.ndarray | None = None,
    image_ids: np.ndarray | None = None,
    sigmas: np.ndarray = OKS_SIGMAS,
) -> float:
    """COCO keypoint AP (OKS 0.50:0.95) by pycocotools, with :data:`OKS_SIGMAS`."""
    # Imported here: only this metric needs pycocotools.
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    s = np.ones(len(true)) if scores is None else scores
    gt_data, detections = coco_keypoint_data(pred, true, scores=s, image_ids=image_ids)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_data
        gt.createIndex()
        dt = gt.loadRes(detections)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def speed_median_rel_err(pred: np.ndarray, true: np.ndarray, min_speed: float = 5.0) -> float:
    """Median of ``|pred - true| / true`` over entries with ``true > min_speed`` (NaN if none)."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape:
        raise ModelInputError(f"`pred` must have the shape of `true` {t.shape}, got {p.shape}")
    keep = t > min_speed
    return float(np.median(np.abs(p[keep] - t[keep]) / t[keep])) if keep.any() else float("nan")
