"""Where a network runs: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``."""

from __future__ import annotations

import torch

from core._errors import ModelInputError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """The torch device of a ``device`` setting, checked before any work.

    Raises:
        ModelInputError: an unknown setting, or ``"cuda"`` on a machine without a CUDA GPU.
    """
    if device not in DEVICES:
        raise ModelInputError(f"`device` must be one of {list(DEVICES)}, got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelInputError(
            "`device` is 'cuda' but no CUDA GPU is available to torch "
            f"(torch {torch.__version__}); use 'cpu' or 'auto'"
        )
    return torch.device(device)
