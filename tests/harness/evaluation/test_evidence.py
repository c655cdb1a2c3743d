"""The evidence behind a worker-shift agrees with the model's own Z and Y."""

from __future__ import annotations

import numpy as np
import pytest

import core
from harness.evaluation.evidence import database_scores, runs, worker_evidence


def test_runs_encode_the_record_exactly():
    assert runs(np.array([3, 3, 0, 0, 0, 3]), rate_hz=1.0) == [[0, 2, 3], [2, 3, 0], [5, 1, 3]]
    assert runs(np.array([1, 1]), rate_hz=2.0) == [[0.0, 1.0, 1]]


def test_evidence_reproduces_z_and_y_and_sums_the_off_post_weight():
    rng = np.random.default_rng(0)
    T = 180
    history = rng.choice([0, 2, 2, 2, 3], size=(8, T))
    speeds = rng.gamma(2.0, 2.0, size=(8, T, core.N_KEYPOINTS))
    stats = core.history_stats(history, 2, 3, speeds)
    positions = np.where(np.arange(T) < 150, 2, 3)
    record = core.WorkerShift("w", 2, positions, rng.gamma(2.0, 2.0, size=(T, core.N_KEYPOINTS)))
    params = core.ModelParams()
    e = worker_evidence(stats, record, database_scores(stats, (history, speeds), params), params,
                        day=9, shift="day", rate_hz=1.0, database_days=(1, 8))  # fmt: skip
    assert e["Z"] == pytest.approx(core.onpost_state_batch(stats, positions[None])[0])
    assert e["Y"] == pytest.approx(core.proficiency_batch(stats, record.speeds[None], params)[0])
    off = stats.rho * (positions != stats.standard)
    assert sum(e["bins"]["off_post"]) == pytest.approx(off.sum())  # what Z's numerator sums
    assert e["offpost_minutes"] == pytest.approx(off.sum() / 60)
    assert len(e["bins"]["t_min"]) == 3 and e["dwell_s"] == [0.0, 0.0, 150.0, 30.0]
    assert len(e["history"]["Z"]) == 8 and e["database"] == {
        "records": 8, "days": [1, 8], "pool": "post",
    }  # fmt: skip
