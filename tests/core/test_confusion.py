"""The one confusion matrix: rows = truth, columns = prediction (scikit-learn's orientation)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix as sklearn_confusion

from core import ModelInputError, confusion_matrix


def test_asymmetric_case_by_hand():
    # Two true "major" (3) posts graded "safe" (0); one true "safe" post graded "minor" (1).
    true = [3, 3, 0, 2, 2]
    predicted = [0, 0, 1, 2, 2]
    c = confusion_matrix(true, predicted)
    assert c.shape == (5, 5) and c.sum() == 5
    assert c[3, 0] == 2 and c[0, 3] == 0  # row = true level 3, column = predicted 0
    assert c[0, 1] == 1 and c[1, 0] == 0
    assert c[2, 2] == 2
    np.testing.assert_array_equal(c.sum(axis=1), [1, 0, 2, 2, 0])  # true level counts


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=40),
)
def test_equals_scikit_learn(pairs):
    true = [t for t, _ in pairs]
    predicted = [p for _, p in pairs]
    np.testing.assert_array_equal(
        confusion_matrix(true, predicted, n_classes=4),
        sklearn_confusion(true, predicted, labels=range(4)),
    )


def test_no_samples_give_zeros():
    np.testing.assert_array_equal(confusion_matrix([], []), np.zeros((5, 5)))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0, 1], [0]), {}, "`true` and `predicted` must have one length, got 2 and 1"),
        (([0, 5], [0, 1]), {}, "`true` must hold classes in 0..4, got 5"),
        (([0, 1], [0, -1]), {}, "`predicted` must hold classes in 0..4, got -1"),
        (([0.5], [0]), {}, "`true` must hold integer classes"),
        (([0], [0]), {"n_classes": 0}, "`n_classes` must be an int >= 1"),
    ],
)
def test_bad_input_is_rejected(args, kwargs, message):
    with pytest.raises(ModelInputError) as info:
        confusion_matrix(*args, **kwargs)
    assert message in str(info.value)
