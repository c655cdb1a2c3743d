"""The recommendation rule on hand-computed cases: figures that stay undefined, the exact
randomisation test against the sign test, the interval on defined replicates, the looks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.evaluation.results import CauseResult, PostResult, ShiftResult, WorkerResult
from harness.runtime.errors import HarnessError
from harness.tuning._rule import (
    ALPHA,
    Paired,
    day_counts,
    decide,
    figure,
    gain_interval,
    look,
    randomisation_p,
    schedule,
)

F1 = "root_cause.f1"
CAUGHT, MISSED, FALSE, NOTHING = (1, 0, 0), (0, 0, 1), (0, 1, 0), (0, 0, 0)
"""A day's (tp, fp, fn): a culprit named, a culprit missed, an innocent named, nothing."""


def _paired(a, b, name: str = F1) -> Paired:
    return Paired(name, np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))


def test_a_figure_without_a_denominator_is_undefined_not_zero():
    sums = np.array([NOTHING, MISSED, FALSE, (2, 1, 1)])
    f1 = figure(F1, sums)
    assert math.isnan(f1[0])  # no culprit, nothing named: undefined
    assert f1[1] == 0.0 and f1[2] == 0.0  # a miss or a false name: a real 0
    assert f1[3] == pytest.approx(4 / 6)  # 2 tp / (2 tp + fp + fn)
    precision = figure("root_cause.precision", sums)
    assert math.isnan(precision[1]) and precision[3] == pytest.approx(2 / 3)
    assert figure("equipment_attribution.accuracy", np.array([3, 4])) == pytest.approx(0.75)
    with pytest.raises(HarnessError, match=r"management\.auc"):
        figure("management.auc", sums)


def test_identical_sets_give_p_one_and_days_alike_show_nothing():
    alike = [CAUGHT, FALSE, MISSED, NOTHING]
    paired = _paired(alike, alike)
    assert randomisation_p(paired, seed=0)[0] == 1.0
    assert look(paired, min_gain=0.0, level=0.01, seed=0).verdict == "more"  # not yet
    found = look(paired, min_gain=0.0, level=0.01, seed=0, same=True)
    assert found.verdict == "start" and "are the start's" in found.reason
    decision = decide(paired, min_gain=0.0, seed=0, more=lambda n: 1 / 0, most_days=60,
                      same=True)  # fmt: skip
    assert decision.planned == (4,) and decision.verdict == "start"  # no day is made


def test_three_days_all_for_the_tuned_is_the_sign_test_one_eighth():
    # tuned names each day's culprit, the start misses it: T = 1 − 0. Swapping k of the 3 days
    # gives T = 2(3−k)/(6−k) − 2k/(k+3) < 1 for k > 0, so only the identity reaches T_obs.
    p, how = randomisation_p(_paired([CAUGHT] * 3, [MISSED] * 3), seed=0)
    assert p == pytest.approx(1 / 8) and how == "exact over 2^3 patterns"


def test_a_day_against_the_tuned_counts_by_hand():
    # 4 discordant days: 3 as above and one where the tuned names an innocent and the start
    # names nobody. T_obs = 2·3/(2·3 + 1) − 0 = 6/7. Of the 16 patterns, the identity and the
    # swap of day 4 alone (tuned (3, 0, 0): 1; start (0, 1, 3): 0; T = 1) reach 6/7; every
    # swap of a culprit day falls below (e.g. days 1 and 4: 4/5 − 2/5 = 0.4): p = 2/16.
    paired = _paired([CAUGHT, CAUGHT, CAUGHT, FALSE], [MISSED, MISSED, MISSED, NOTHING])
    assert paired.gain == pytest.approx(6 / 7)
    assert randomisation_p(paired, seed=0)[0] == pytest.approx(2 / 16)


def test_mixed_directions_match_the_exact_sign_test():
    # 4 days for the tuned, 1 for the start: T rises with the tuned side's tp, so p is the
    # sign test's P(X >= 4 | X ~ Bin(5, 1/2)) = (5 + 1) / 32.
    paired = _paired([CAUGHT] * 4 + [MISSED], [MISSED] * 4 + [CAUGHT])
    assert randomisation_p(paired, seed=0)[0] == pytest.approx(6 / 32)


def test_an_undefined_gain_shows_nothing():
    # no culprit on any day; the tuned names an innocent, the start nobody: start's F1 undefined
    paired = _paired([FALSE, NOTHING], [NOTHING, NOTHING])
    assert math.isnan(paired.gain) and randomisation_p(paired, seed=0)[0] == 1.0


def test_many_days_are_sampled_with_the_plus_one_correction():
    paired = _paired([CAUGHT] * 20, [MISSED] * 20)
    p, how = randomisation_p(paired, seed=3)
    assert how == "20000 random patterns of 20 days"
    assert p == pytest.approx(1 / 20_001, rel=0.5)  # only patterns with no swap reach T_obs
    assert randomisation_p(paired, seed=3)[0] == p  # seeded


def test_the_interval_leaves_out_replicates_without_a_culprit():
    # 2 culprit days (tuned names the culprit, the start misses it) and 3 empty days. The old
    # rule counted a resample of empty days as a gain of 0, so its interval began at 0; on the
    # defined replicates the gain is always 1. Share defined: 1 − (3/5)^5 = 0.922.
    paired = _paired([CAUGHT, CAUGHT, NOTHING, NOTHING, NOTHING], [MISSED, MISSED] + [NOTHING] * 3)
    ci, defined = gain_interval(paired, level=0.025, seed=1)
    assert ci == [1.0, 1.0]
    assert defined == pytest.approx(1 - 0.6**5, abs=0.02)


def test_a_look_recommends_only_with_the_test_and_the_bound():
    better = _paired([CAUGHT] * 10, [MISSED] * 10)
    assert look(better, min_gain=0.0, level=0.01, seed=0).verdict == "tuned"
    # the same days at the level of 5 looks cannot decide on 5 days (p >= 1/32 > 0.01)
    short = _paired([CAUGHT] * 5, [MISSED] * 5)
    found = look(short, min_gain=0.0, level=0.01, seed=0)
    assert found.verdict == "more" and found.p == pytest.approx(1 / 32)
    # tuned names one of each day's two culprits: gain 2·10 / (2·10 + 10) = 2/3 every resample
    half = _paired([(1, 0, 1)] * 10, [(0, 0, 2)] * 10)
    assert look(half, min_gain=0.6, level=0.01, seed=0).verdict == "tuned"
    beyond = look(half, min_gain=0.7, level=0.01, seed=0)  # shown below the margin: stop
    assert beyond.verdict == "start" and "upper bound +0.667 < 0.7" in beyond.reason
    worse = _paired([MISSED] * 6, [CAUGHT] * 6)
    assert look(worse, min_gain=0.0, level=0.01, seed=0).verdict == "start"


def test_the_looks_double_up_to_the_budget():
    assert schedule(5, 60) == (5, 10, 20, 40, 60)
    assert schedule(4, 60) == (4, 8, 16, 32, 60)
    assert schedule(60, 60) == (60,) and schedule(70, 60) == (70,)
    assert schedule(5, None) == (5,)


def test_decide_asks_for_more_days_at_each_planned_look():
    asked = []

    def more(n: int) -> Paired:
        asked.append(n)
        return _paired([CAUGHT] * n, [MISSED] * n)

    decision = decide(_paired([CAUGHT] * 4, [MISSED] * 4), min_gain=0.0, seed=0, more=more,
                      most_days=60)  # fmt: skip
    assert decision.planned == (4, 8, 16, 32, 60)
    assert asked == [8]  # 8 days of the tuned alone: p = 1/256 <= 0.05 / 5
    assert decision.verdict == "tuned" and len(decision.looks) == 2
    assert all(k.level == pytest.approx(ALPHA / 5) for k in decision.looks)


def test_decide_without_more_days_looks_once_at_alpha():
    decision = decide(_paired([CAUGHT] * 5, [MISSED] * 5), min_gain=0.0, seed=0)
    assert decision.planned == (5,) and decision.last.level == ALPHA
    assert decision.verdict == "tuned"  # p = 1/32 <= 0.05
    undecided = decide(_paired([CAUGHT] * 3, [MISSED] * 3), min_gain=0.0, seed=0)
    assert undecided.verdict == "start"
    assert undecided.stop_reason.endswith("not decided at 0.05; there are no more held-out days")


def _records(day: int, named: list[str], culprits: list[str]) -> ShiftResult:
    """A one-post shift whose hazard post names ``named`` and was faulted by ``culprits``."""
    people = sorted(set(named) | set(culprits) | {"w0"})
    return ShiftResult(
        day=day,
        shift="day",
        posts=(PostResult(post=1, level=3, D=0.6, hazard=True, set=(1,), true_level=3,
                          true_D=0.6, faults=("guard_missing",), culprits=tuple(culprits)),),
        workers=tuple(WorkerResult(worker=w, post=1, Z=0.0, Y=1.0, management=w in named,
                                   training=False, checked=True, needs_management=w in culprits,
                                   needs_training=False) for w in people),
        root_causes=tuple(CauseResult(hazard_post=1, post=1, worker=w, reasons=("off_post",))
                          for w in named),
    )  # fmt: skip


def test_day_counts_sum_each_days_cells():
    tuned = [_records(31, ["a"], ["a"]), _records(32, ["b"], []), _records(33, [], ["c"])]
    start = [_records(31, [], ["a"]), _records(32, [], []), _records(33, [], ["c"])]
    paired = day_counts(tuned, start, F1)
    assert paired.a.tolist() == [list(CAUGHT), list(FALSE), list(MISSED)]
    assert paired.b.tolist() == [list(MISSED), list(NOTHING), list(MISSED)]
    with pytest.raises(HarnessError, match="same days"):
        day_counts(tuned, start[:2], F1)


counts = st.lists(st.tuples(*(st.integers(0, 2) for _ in range(6))), min_size=1, max_size=9)


@settings(max_examples=150, deadline=None)
@given(counts)
def test_the_test_never_recommends_both_ways(days):
    """Swapping the two sets mirrors the randomisation distribution, so p(a, b) + p(b, a) >= 1:
    at most one direction can be significant; and p lies in [2^-m, 1]."""
    array = np.array(days, dtype=np.int64)
    a, b = array[:, :3], array[:, 3:]
    forward = randomisation_p(_paired(a, b), seed=0)[0]
    backward = randomisation_p(_paired(b, a), seed=0)[0]
    m = int(np.any(a != b, axis=1).sum())
    assert 2.0**-m - 1e-12 <= forward <= 1.0
    assert forward + backward >= 1.0 - 1e-12


def test_a_start_that_flags_nobody_or_everybody_is_named():
    import core
    from harness.tuning._choice import start_warning

    start = core.ModelParams(tau_Z=0.9, tau_Y=0.05)
    nobody = [_records(31, [], ["a"]), _records(32, [], [])]
    assert "flags nobody on the tuning days (0 of 3 worker-shifts" in start_warning(nobody, start)
    everybody = [_records(31, ["a", "w0"], ["a"])]
    assert "flags everybody" in start_warning(everybody, start)
    some = [_records(31, ["a"], ["a"])]
    assert start_warning(some, start) is None


def test_days_needed_projects_from_the_gain_and_its_spread():
    from harness.tuning._rule import days_needed

    # every day the same (tuned names the culprit, the start misses it): no spread, so the
    # exact test's floor of log2(1/0.05) -> 5 days
    assert days_needed(_paired([CAUGHT] * 3, [MISSED] * 3), min_gain=0.0) == 5
    assert days_needed(_paired([MISSED] * 3, [CAUGHT] * 3), min_gain=0.0) is None  # worse
    # tuned F1 4/6, start 2/4: gain 1/6. Per-day influences φ = (N_d − F·D_d)/D̄ of tuned minus
    # start: 17/18, 1/18, −10/18, −8/18, so se = sqrt(454/324)/4, and
    # n = 4·((z_.95 + z_.8)·se / (1/6))² = 77.97 -> 78 days
    noisy = _paired([CAUGHT, MISSED, CAUGHT, FALSE], [MISSED, MISSED, CAUGHT, NOTHING])
    assert days_needed(noisy, min_gain=0.0) == 78
    assert days_needed(noisy, min_gain=0.1) > 78  # a margin needs more


def _summary(paired: Paired, **config):
    from types import SimpleNamespace

    from harness.tuning._choice import held_out_summary
    from harness.tuning._holdout import HeldOut

    decision = decide(paired, min_gain=0.0, seed=0)
    assert decision.verdict == "start" and decision.last.verdict == "more"
    settings = {"records": object(), "max_holdout_days": None, "min_gain": 0.0, "cv": None}
    return held_out_summary(decision, HeldOut([]), paired, SimpleNamespace(**settings | config))


def test_an_undecided_records_folder_says_how_many_more_labelled_days():
    out = _summary(_paired([CAUGHT, MISSED, CAUGHT, FALSE], [MISSED, MISSED, CAUGHT, NOTHING]))
    assert out["holdout_days_added"] == 0 and out["holdout_more_days_needed"] == 78 - 4
    assert out["holdout_stop_reason"].endswith(
        "a records folder's held-out days are what was recorded: about 74 more labelled days "
        "would likely decide it (80 % power, were the gain and its spread to stay as seen)"
    )


def test_an_undefined_gain_does_not_claim_more_days_would_not_help():
    # no culprit on the held-out days, the tuned names an innocent and the start nobody
    out = _summary(_paired([FALSE, NOTHING], [NOTHING, NOTHING]))
    assert out["holdout_more_days_needed"] is None
    assert "undefined on them" in out["holdout_stop_reason"]
    assert "days with culprits are needed" in out["holdout_stop_reason"]
    assert "not expected" not in out["holdout_stop_reason"]


def test_with_cv_the_summary_says_the_cross_validation_decided():
    paired = _paired([CAUGHT, MISSED, CAUGHT, FALSE], [MISSED, MISSED, CAUGHT, NOTHING])
    out = _summary(paired, records=None, cv=3)
    assert out["holdout_stop_reason"].startswith("--cv: the cross-validation decides")
    assert "--holdout-days N" not in out["holdout_stop_reason"]
    assert "more evaluated days" in out["holdout_stop_reason"]
