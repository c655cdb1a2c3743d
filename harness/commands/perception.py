"""``hazard-harness perception train|eval``: the keypoint network trained
(:mod:`harness.training.keypoints`) and the pixel path measured
(:mod:`harness.training.perception_quality`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core import ModelInputError
from core.perception import keypoint_runner
from harness.adapters.mlflow_tracking import log_metrics, tracked_run
from harness.commands import preflight
from harness.commands.context import CommandContext, command_context
from harness.evaluation.pixels import check_keypoint_weights
from harness.runtime import settings, staging
from harness.runtime.errors import HarnessError
from harness.training.keypoints import check_resumable, train_keypoints
from harness.training.perception_quality import evaluate_perception
from harness.weights import DEFAULT_KEYPOINT_WEIGHTS


@contextlib.contextmanager
def _tracked(
    out: Path, what: str, *, seed: int, params: dict[str, Any], staged: bool = True
) -> Iterator[CommandContext]:
    """``perception <what>``'s command context (see :func:`command_context`), its MLflow run
    started."""
    with command_context(out, staged=staged) as ctx:
        ctx.track(tracked_run(experiment="hazard-harness/perception",
                              run_name=f"perception-{what}-seed{seed}", params=params,
                              command=f"perception {what}"))  # fmt: skip
        yield ctx


def train_command(
    out: Path,
    *,
    steps: int,
    seed: int,
    batch_size: int,
    channels: tuple[int, ...],
    threads: int,
    data_workers: int,
    resume: bool,
    device: str,
    progress: bool,
) -> dict[str, Any]:
    """``perception train``: checks, then :func:`train_keypoints` in ``out`` (its checkpoint
    lets the next run resume, so ``out`` is not staged), tracked in MLflow; interrupts end it
    cleanly."""
    preflight.check_writable(out, option="--out")
    settings.torch_device(device)
    if resume:
        check_resumable(out, seed=seed, steps=steps, batch_size=batch_size, channels=channels)
    preflight.check_tracking(settings.connect_timeout(None))
    params = {"steps": steps, "seed": seed, "batch_size": batch_size, "channels": list(channels),
              "threads": threads, "data_workers": data_workers, "resume": resume}  # fmt: skip
    with _tracked(out, "train", seed=seed, params=params, staged=False):
        metadata = train_keypoints(
            out, steps=steps, seed=seed, batch_size=batch_size, channels=channels,
            threads=threads, data_workers=data_workers, device=device, resume=resume,
            progress=progress,
        )  # fmt: skip
        log_metrics({"final_loss": metadata["final_loss"], "keypoints": metadata["metrics"]})
    return metadata


def eval_command(
    out: Path,
    *,
    weights: Path | None,
    seed: int,
    posts: int,
    length_s: float,
    frames: int,
    grading_days: int,
    grading_seconds: float,
    runtime: str,
    device: str,
    timeout: float | None,
) -> dict[str, Any]:
    """``perception eval``: checks, then :func:`evaluate_perception` into ``out``, tracked."""
    weights = weights or DEFAULT_KEYPOINT_WEIGHTS
    preflight.check_writable(out, option="--out")
    settings.torch_device(device)
    check_keypoint_weights(weights)
    try:
        keypoint_runner(weights, runtime=runtime, device=device)
    except ModelInputError as exc:
        raise HarnessError(f"keypoint weights {str(weights)!r}: {exc}") from None
    preflight.check_tracking(settings.connect_timeout(timeout))
    params = {
        "weights": str(weights),
        "seed": seed,
        "posts": posts,
        "length_s": length_s,
        "frames": frames,
        "grading_days": grading_days,
        "grading_seconds": grading_seconds,
        "runtime": runtime,
    }
    with _tracked(out, "eval", seed=seed, params=params) as ctx:
        table = evaluate_perception(
            weights,
            seed=seed,
            posts=posts,
            length_s=length_s,
            frames=frames,
            grading_days=grading_days,
            grading_seconds=grading_seconds,
            runtime=runtime,
            device=device,
        )
        staging.write_json(ctx.stage / "perception.json", table)
        log_metrics({k: v for k, v in table.items() if isinstance(v, float)})
    return table
