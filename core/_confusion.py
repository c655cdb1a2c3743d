"""The project's one confusion matrix, with one orientation: rows = truth, columns = prediction."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core._checks import as_array, check_ints
from core._errors import ModelInputError
from core._types import LEVEL_NAMES


def confusion_matrix(
    true: np.ndarray | Sequence[int],
    predicted: np.ndarray | Sequence[int],
    *,
    n_classes: int = len(LEVEL_NAMES),
) -> np.ndarray:
    """Counts ``C[i, j]`` of the samples whose true class is i and predicted class is j.

    Rows are the truth, columns the prediction: scikit-learn's orientation
    (``sklearn.metrics.confusion_matrix(true, predicted, labels=range(n_classes))``), and the
    only one in the project (hazard levels of a run, grading evaluation, report plots).

    Args:
        true: ``(N,)`` true classes in ``0..n_classes-1`` (hazard levels by default).
        predicted: ``(N,)`` predicted classes, same range.
        n_classes: number of classes (5 hazard levels by default).

    Returns:
        ``(n_classes, n_classes)`` int64 counts.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise ModelInputError(f"`n_classes` must be an int >= 1, got {n_classes!r}")
    if n_classes < 1:
        raise ModelInputError(f"`n_classes` must be an int >= 1, got {n_classes!r}")
    t = as_array("true", true, ndim=1)
    p = as_array("predicted", predicted, ndim=1)
    if t.shape != p.shape:
        raise ModelInputError(
            f"`true` and `predicted` must have one length, got {t.shape[0]} and {p.shape[0]}"
        )
    if t.size == 0:
        return np.zeros((n_classes, n_classes), dtype=np.int64)
    t = check_ints("true", t, n_classes - 1, "classes")
    p = check_ints("predicted", p, n_classes - 1, "classes")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
