"""ModelParams: MODEL.md defaults and validation."""

from __future__ import annotations

import pytest

from core import ModelInputError, ModelParams


def test_defaults_are_model_md():
    p = ModelParams()
    assert p.to_dict() == {
        "tau_D": 0.5, "lam": 0.5, "tau_P": 0.5, "direction": "out", "rho_min": 0.3,
        "eps": 1.0, "tau_Z": 0.2, "tau_Y": 0.8, "alpha": 0.05, "history_pool": "post",
        "history_window_days": 30, "proficiency_seconds": "all",
    }  # fmt: skip


def test_round_trip_through_dict():
    p = ModelParams(lam=0.2, direction="both", history_pool="post_shift", history_window_days=7)
    assert ModelParams.from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lam": 1.5}, "ModelParams.lam must be in [0.0, 1.0], got 1.5"),
        ({"lam": -0.1}, "ModelParams.lam"),
        ({"tau_P": 2.0}, "ModelParams.tau_P"),
        ({"tau_D": -1.0}, "ModelParams.tau_D"),
        ({"rho_min": 1.2}, "ModelParams.rho_min"),
        ({"tau_Z": -0.5}, "ModelParams.tau_Z"),
        ({"tau_Y": -0.5}, "ModelParams.tau_Y"),
        ({"alpha": 0.0}, "ModelParams.alpha must be in (0, 1], got 0.0"),
        ({"alpha": 1.01}, "ModelParams.alpha"),
        ({"eps": 0.0}, "ModelParams.eps must be > 0"),
        ({"direction": "in"}, "ModelParams.direction must be one of ('out', 'both'), got 'in'"),
        ({"tau_D": float("nan")}, "ModelParams.tau_D must be finite"),
        ({"lam": "0.5"}, "ModelParams.lam must be a number"),
        ({"lam": True}, "ModelParams.lam must be a number"),
        (
            {"history_pool": "shift"},
            "ModelParams.history_pool must be one of ('post', 'post_shift'), got 'shift'",
        ),
        ({"history_window_days": 0}, "ModelParams.history_window_days must be an int in 1..3650"),
        (
            {"history_window_days": 10**9},
            "history_window_days must be an int in 1..3650 (days), got 1000000000",
        ),
        ({"history_window_days": 7.5}, "ModelParams.history_window_days must be an int"),
        ({"history_window_days": True}, "ModelParams.history_window_days must be an int"),
    ],
)
def test_out_of_range_parameters_are_rejected(kwargs, message):
    with pytest.raises(ModelInputError) as info:
        ModelParams(**kwargs)
    assert message in str(info.value)


def test_unknown_key_from_dict():
    with pytest.raises(ModelInputError, match=r"unknown model parameter\(s\) \['tau_d'\]"):
        ModelParams.from_dict({"tau_d": 0.3})
