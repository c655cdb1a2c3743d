"""Metrics: tiny hand-built cases with hand-computed values (TrackEval style)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import metrics


def test_pair_counts_and_prf():
    predicted = [(1, "day", 3, "w3"), (1, "day", 4, "w3"), (2, "day", 1, "w1")]
    truth = [(1, "day", 3, "w3"), (2, "night", 5, "w5")]
    counts = metrics.pair_counts(predicted, truth)
    assert counts == {"tp": 1, "fp": 2, "fn": 1}
    prf = metrics.precision_recall_f1(**counts)
    assert prf["precision"] == pytest.approx(1 / 3)
    assert prf["recall"] == pytest.approx(1 / 2)
    assert prf["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_prf_zero_when_undefined():
    assert metrics.precision_recall_f1(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_binary_counts():
    c = metrics.binary_counts(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 1, 0, 1]))
    assert c == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),  # scikit-learn's doc example
        ([1, 2, 3], [0, 1, 1], 1.0),
        ([3, 2, 1], [0, 1, 1], 0.0),
        ([1, 1, 1, 1], [0, 1, 0, 1], 0.5),  # all tied
        ([0.5, 0.5, 0.9], [0, 1, 1], 0.75),  # one tie across classes counts one half
    ],
)
def test_roc_auc_by_hand(scores, labels, expected):
    assert metrics.roc_auc(np.array(scores), np.array(labels)) == pytest.approx(expected)


def test_roc_auc_undefined_with_one_class():
    assert math.isnan(metrics.roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


@given(st.lists(st.tuples(st.floats(-5, 5), st.booleans()), min_size=2, max_size=40))
def test_roc_auc_equals_pairwise_definition(rows):
    scores = np.array([r[0] for r in rows])
    labels = np.array([r[1] for r in rows])
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        return
    pairwise = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert metrics.roc_auc(scores, labels) == pytest.approx(pairwise)


def test_confusion_matrix():
    c = metrics.confusion_matrix([0, 1, 1, 2, 0], [0, 1, 2, 2, 0], 5)
    assert c[0, 0] == 2 and c[1, 1] == 1 and c[2, 1] == 1 and c[2, 2] == 1 and c.sum() == 5


def test_flag_scores_ignore_undefined_scores_in_auc():
    out = metrics.flag_scores(
        flags=np.array([1, 0, 0, 1]), labels=np.array([1, 0, 1, 0]),
        scores=np.array([0.9, 0.1, np.nan, 0.2]),
    )  # fmt: skip
    assert out["precision"] == pytest.approx(0.5) and out["recall"] == pytest.approx(0.5)
    assert out["auc"] == pytest.approx(1.0)  # 0.9 vs {0.1, 0.2}


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="one shape"):
        metrics.binary_counts(np.ones(2), np.ones(3))
