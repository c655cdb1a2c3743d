"""Keypoint-network training on rendered frames.

Training data come from :mod:`sim.camera`: random poses (half kinematic,
:func:`sim.poses.sample_poses`, half the simulator's work cycle,
:func:`sim.poses.sample_work_poses`) of random-looking workers in random scenes with domain
randomisation, cropped around the detector stand-in's jittered boxes exactly as at
inference. Step ``k``'s batch depends only on ``(seed, k)``, so a resumed run equals an
uninterrupted one.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from core.perception import (
    HEATMAP_STRIDE,
    KeypointNet,
    KeypointRunner,
    crop_boxes,
    crop_to_heatmap,
    crops_to_tensor,
    infer_heatmaps,
    oks_ap,
    pck,
    render_heatmaps,
    resolve_device,
    save_model,
    seeded_torch,
    to_crop,
    torso_length,
)
from harness.evaluation.pixels import (
    BOX_JITTER,
)
from harness.runtime.errors import HarnessError
from harness.runtime.progress import progress_bar
from sim.camera import random_scene, render_frames
from sim.detection import detect_boxes
from sim.poses import sample_poses, sample_work_poses
from sim.seeding import stream
from sim.wear import random_appearance

WEIGHTS_NAME = "keypoint_net.safetensors"


CHECKPOINT_NAME = "checkpoint.pt"


EVAL_SEED_OFFSET = 1_000_003
"""Held-out evaluation frames use ``seed + EVAL_SEED_OFFSET``, never a training seed."""


HEATMAP_SIGMA = 1.5
"""Standard deviation of the target Gaussians, in heatmap pixels."""


DEFAULT_CHANNELS = (16, 32, 64, 128)
"""Channels per encoder stage of the shipped network (see harness/weights/README.md)."""


WORK_POSE_SHARE = 0.5
"""Share of training poses drawn from the simulator's own work cycle (the rest: kinematic)."""


_GROUPS = 4  # render calls per batch, each with its own scene and appearances


def rendered_people(
    rng: np.random.Generator, n: int, *, max_distractors: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rendered frames, each with one target worker and up to ``max_distractors`` more.

    Returns:
        ``(n, 240, 320, 3)`` frames and the ``(n, 1 + max_distractors, 14, 2)`` true keypoints
        of every worker slot, the target first (NaN: slot empty).
    """
    frames, people = [], []
    for size in np.diff(np.linspace(0, n, _GROUPS + 1).astype(int)):
        if size == 0:  # fewer frames than groups
            continue
        slots = 1 + max_distractors
        kp = sample_poses(size * slots, rng=rng)
        work = rng.random(size * slots) < WORK_POSE_SHARE
        kp[work] = sample_work_poses(int(work.sum()), rng=rng)
        kp = kp.reshape(size, slots, -1, 2)
        absent = rng.random((size, slots)) < 0.75
        absent[:, 0] = False
        kp[absent] = np.nan
        scene = random_scene(rng, n_equipment=int(rng.integers(0, 3)))
        looks = [random_appearance(rng) for _ in range(slots)]
        frames.append(render_frames(kp, appearances=looks, rng=rng, scene=scene))
        people.append(kp)
    return np.concatenate(frames), np.concatenate(people)


def keypoint_batch(
    rng: np.random.Generator, *, batch_size: int, input_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch from ``batch_size`` rendered frames: normalised crops
    ``(B, 3, S, S)`` and target heatmaps, one crop per worker in view (the target of each
    frame and every distractor, the others in the crop being its distractors)."""
    frames, people = rendered_people(rng, batch_size)
    frame_index, person = np.nonzero(~np.isnan(people[..., 0, 0]))
    kp = people[frame_index, person]
    boxes, _ = detect_boxes(kp, rng=rng, jitter=BOX_JITTER)
    crops, transforms = crop_boxes(frames, boxes, frame_index=frame_index, size=input_size)
    peaks = crop_to_heatmap(to_crop(kp, transforms, size=input_size))
    size = input_size // HEATMAP_STRIDE
    targets = render_heatmaps(peaks, size=(size, size), sigma=HEATMAP_SIGMA)
    return crops_to_tensor(crops), torch.from_numpy(targets)


class _Batches(torch.utils.data.Dataset):
    """Training step ``k``'s batch, from the generator keyed by ``(seed, k)`` alone."""

    def __init__(self, *, seed: int, start: int, steps: int, batch_size: int, input_size: int):
        self.seed, self.start, self.steps = seed, start, steps
        self.batch_size, self.input_size = batch_size, input_size

    def __len__(self) -> int:
        return self.steps - self.start

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = stream([self.seed, self.start + i])
        return keypoint_batch(rng, batch_size=self.batch_size, input_size=self.input_size)


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def heatmap_loss(net: KeypointNet, crops: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared heatmap error, scaled so that an all-zero prediction scores about 1."""
    return F.mse_loss(net(crops), targets) * (targets[0, 0].numel() / (math.pi * HEATMAP_SIGMA**2))


def evaluate_keypoints(
    net: KeypointNet | KeypointRunner, *, seed: int, n_frames: int = 512, batch_size: int = 256
) -> dict[str, float]:
    """PCK@0.2 torso and COCO keypoint AP on held-out rendered frames of ``seed``."""
    rng = stream(seed)
    frames, people = rendered_people(rng, n_frames)
    kp = people[:, 0]
    boxes, _ = detect_boxes(kp, rng=rng, jitter=BOX_JITTER)
    pred, conf = infer_heatmaps(net, frames, boxes, batch_size=batch_size).keypoints()
    return {
        "pck": pck(pred, kp, torso_length(kp)),
        "oks_ap": oks_ap(pred, kp, scores=conf.mean(axis=1)),
    }


def train_keypoints(
    out_dir: str | Path,
    *,
    steps: int,
    seed: int,
    batch_size: int = 32,
    lr: float = 3e-3,
    channels: tuple[int, ...] = DEFAULT_CHANNELS,
    input_size: int = 64,
    checkpoint_every: int = 100,
    eval_frames: int = 512,
    threads: int = 1,
    data_workers: int = 0,
    device: str = "auto",
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a :class:`KeypointNet` on rendered frames; save weights and metadata in ``out_dir``.

    Adam with a cosine learning-rate decay over ``steps``; a step's batch comes from
    ``batch_size`` rendered frames (one crop per worker in view). Every ``checkpoint_every``
    steps ``out_dir/checkpoint.pt`` holds model and optimizer state (tensors and plain
    numbers, loadable with ``torch.load(weights_only=True)``); with ``resume`` a run continues
    from it. At the end ``out_dir/keypoint_net.safetensors`` and its JSON sidecar are written,
    the metadata including held-out PCK and OKS AP on frames of ``seed + EVAL_SEED_OFFSET``.
    Step ``k``'s batch depends on ``(seed, k)`` only, so ``data_workers`` (processes that
    render batches ahead, one thread each) change the speed, not the result.

    Args:
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``; the saved weights
            load and run on CPU either way.

    Returns:
        The metadata written to the sidecar.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size),
                        ("checkpoint_every", checkpoint_every), ("threads", threads),
                        ("eval_frames", eval_frames)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an int >= 1, got {value!r}")
    if isinstance(data_workers, bool) or not isinstance(data_workers, int) or data_workers < 0:
        raise ValueError(f"`data_workers` must be an int >= 0, got {data_workers!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"`lr` must be a finite number > 0, got {lr!r}")
    torch_device = resolve_device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT_NAME
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    start_time = time.perf_counter()
    try:
        with seeded_torch(seed):
            net = KeypointNet(input_size=input_size, channels=channels).to(torch_device)
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            start, losses = 0, []
            run = _run_settings(seed=seed, steps=steps, batch_size=batch_size, lr=lr,
                                channels=channels, input_size=input_size)  # fmt: skip
            if resume and ckpt_path.is_file():
                start, losses = _resume(ckpt_path, net, opt, torch_device, run)
            net.train()
            batches = torch.utils.data.DataLoader(
                _Batches(seed=seed, start=start, steps=steps, batch_size=batch_size,
                         input_size=input_size),
                batch_size=None,
                num_workers=data_workers,
                worker_init_fn=_one_thread,
                prefetch_factor=4 if data_workers else None,
                # spawn, not fork: a fork of a process that runs threads (torch, OpenCV,
                # ONNX Runtime, Ray) can deadlock in the child.
                multiprocessing_context="spawn" if data_workers else None,
            )  # fmt: skip
            bar = progress_bar(total=steps, initial=start, enabled=progress, desc="keypoints")
            for step, (crops, targets) in enumerate(batches, start=start):
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
                loss = heatmap_loss(net, crops.to(torch_device), targets.to(torch_device))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
                if (step + 1) % checkpoint_every == 0 or step + 1 == steps:
                    torch.save(
                        {
                            "model": net.state_dict(),
                            "optimizer": opt.state_dict(),
                            "step": step + 1,
                            "losses": torch.tensor(losses),
                            "run": run,
                        },
                        ckpt_path,
                    )
            bar.close()
        net = net.cpu().eval()
        eval_seed = seed + EVAL_SEED_OFFSET
        metrics = evaluate_keypoints(net, seed=eval_seed, n_frames=eval_frames)
    finally:
        torch.set_num_threads(previous_threads)
    metadata = {
        "seed": seed,
        "data_seed": seed,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "heatmap_sigma": HEATMAP_SIGMA,
        "box_jitter": BOX_JITTER,
        "final_loss": float(np.mean(losses[-20:])),
        "eval_seed": eval_seed,
        "eval_frames": eval_frames,
        "metrics": metrics,
        "torch": torch.__version__,
        "device": str(torch_device),
        "train_seconds_this_run": time.perf_counter() - start_time,
    }
    save_model(net, out / WEIGHTS_NAME, metadata=metadata, onnx=True)
    return metadata


def _run_settings(
    *, seed: int, steps: int, batch_size: int, lr: float, channels: tuple[int, ...],
    input_size: int,
) -> dict[str, Any]:  # fmt: skip
    """What makes step ``k`` of a run: a checkpoint resumes only the run it was written by."""
    return {"seed": seed, "steps": steps, "batch_size": batch_size, "lr": float(lr),
            "channels": list(channels), "input_size": input_size}  # fmt: skip


def check_resumable(
    out_dir: str | Path,
    *,
    seed: int,
    steps: int,
    batch_size: int,
    channels: tuple[int, ...],
    lr: float = 3e-3,
    input_size: int = 64,
) -> None:
    """Before any work: a checkpoint in ``out_dir`` was written by this run (its settings)
    and loads into its network.

    Raises:
        HarnessError: as :func:`_resume` does, naming the checkpoint and the fix.
    """
    path = Path(out_dir) / CHECKPOINT_NAME
    if path.is_file():
        net = KeypointNet(input_size=input_size, channels=channels)
        run = _run_settings(seed=seed, steps=steps, batch_size=batch_size, lr=lr,
                            channels=channels, input_size=input_size)  # fmt: skip
        _resume(path, net, torch.optim.Adam(net.parameters()), torch.device("cpu"), run)


def _same_run(path: Path, written: Any, run: dict[str, Any], fix: str) -> None:
    """Refuse a checkpoint written by a run with other settings (or none recorded)."""
    if written == run:
        return
    if not isinstance(written, dict):
        why = "a harness that did not record its settings"
    else:
        differ = sorted(k for k in run if written.get(k) != run[k])
        was = ", ".join(f"{k} {written.get(k)}" for k in differ)
        why = f"{was}; this one: " + ", ".join(f"{k} {run[k]}" for k in differ)
    raise HarnessError(
        f"checkpoint {str(path)!r} was written by another training run ({why}): {fix}"
    )


def _resume(
    path: Path,
    net: KeypointNet,
    opt: torch.optim.Optimizer,
    device: torch.device,
    run: dict[str, Any],
) -> tuple[int, list[float]]:
    """Load the checkpoint ``path`` of the run ``run`` into ``net`` and ``opt``: the next step
    and the losses.

    Raises:
        HarnessError: a checkpoint that is not one of this run (garbage, truncated, another
            network, other settings: resuming it would mix two trainings), naming it and the fix.
    """
    fix = "pass the options it was written with, or --no-resume (or delete it) to start afresh"
    try:
        state = torch.load(path, weights_only=True, map_location=device)
        _same_run(path, state.get("run"), run, fix)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, losses = int(state["step"]), state["losses"].tolist()
    except HarnessError:
        raise
    except Exception as exc:  # torch.load and load_state_dict raise many types for a bad file
        detail = " ".join(str(exc).split())[:200]
        raise HarnessError(
            f"checkpoint {str(path)!r} cannot be resumed ({type(exc).__name__}: {detail}): {fix}"
        ) from None
    return start, losses
