"""Metrics: tiny hand-built shift results with hand-computed values (TrackEval style), and the
bootstrap checked against resampling the records themselves."""

from __future__ import annotations

import copy
import math

import numpy as np
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from harness.evaluation import bootstrap, cells, metrics
from harness.evaluation.results import shifts_from_json as typed
from harness.runtime.errors import HarnessError


def post(number, *, hazard=False, faults=(), culprits=(), level=0, true_level=0, D=0.0, true_D=0.0):
    return {
        "post": number, "level": level, "true_level": true_level, "D": D, "true_D": true_D,
        "hazard": hazard, "set": [number] if hazard else [], "faults": list(faults),
        "culprits": list(culprits), "equipment_cause": bool(faults) and not culprits,
    }  # fmt: skip


def worker(name, *, Z, Y, management, training, needs_management, needs_training):
    return {
        "worker": name, "post": 1, "Z": Z, "Y": Y, "management": management,
        "training": training, "checked": True, "profile": "normal",
        "needs_management": needs_management, "needs_training": needs_training,
    }  # fmt: skip


def shift(day, name, *, posts, workers, causes):
    flagged = {c[0] for c in causes}
    return {
        "day": day,
        "shift": name,
        "posts": posts,
        "workers": workers,
        "root_causes": [
            {"hazard_post": h, "post": h, "worker": w, "reasons": ["off_post"]} for h, w in causes
        ],
        "equipment_causes": [p["post"] for p in posts if p["hazard"] and p["post"] not in flagged],
    }


def records():
    """Two days, three shifts, three posts; the hand work is in the comments of each test."""
    return [
        shift(
            1, "day",
            posts=[
                post(1, hazard=True, faults=["guard"], culprits=["w1"], true_level=3, D=0.0,
                     true_D=0.6),  # graded safe: the model's D misses it
                post(2, hazard=True, level=2, true_level=2, D=0.6, true_D=0.6),
                post(3, faults=["temperature_excursion"], level=1, true_level=1, D=0.3,
                     true_D=0.3),
            ],
            workers=[
                worker("w1", Z=0.5, Y=0.9, management=True, training=False,
                       needs_management=True, needs_training=False),
                worker("w2", Z=0.1, Y=0.6, management=False, training=True,
                       needs_management=False, needs_training=True),
                worker("w3", Z=0.05, Y=None, management=False, training=False,
                       needs_management=False, needs_training=False),
            ],
            causes=[(1, "w1"), (2, "w1")],  # D spread to post 2: one decision, two pairs
        ),
        shift(
            1, "night",
            posts=[
                post(1, hazard=True, faults=["rail"], level=3, true_level=3, D=0.8, true_D=0.8),
                post(2, hazard=True, faults=["cover"], culprits=["w5"], level=2, true_level=2,
                     D=0.6, true_D=0.6),
                post(3, faults=["sign"], culprits=["w6"], level=1, true_level=1, D=0.4,
                     true_D=0.4),
            ],
            workers=[
                worker("w5", Z=0.3, Y=0.7, management=True, training=True,
                       needs_management=True, needs_training=False),
                worker("w6", Z=0.1, Y=0.95, management=False, training=False,
                       needs_management=False, needs_training=True),
            ],
            causes=[(2, "w6")],
        ),
        shift(
            2, "day",
            posts=[
                post(1, hazard=True, faults=["guard"], culprits=["w1"], level=4, true_level=4,
                     D=0.8, true_D=0.8),
                post(2, level=0, true_level=0, D=0.2, true_D=0.2),
                post(3, hazard=True, level=0, true_level=0, D=0.6, true_D=0.2),
            ],
            workers=[
                worker("w1", Z=0.15, Y=0.85, management=False, training=False,
                       needs_management=True, needs_training=False),
                worker("w3", Z=0.4, Y=0.5, management=True, training=True,
                       needs_management=False, needs_training=True),
            ],
            causes=[(3, "w3")],
        ),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def hand():
    return metrics.run_metrics(typed(records()), tau_D=0.5, replicates=200, seed=1)


def test_root_cause_by_hand(hand):
    # named vs culprits per shift: {w1} vs {w1}; {w6} vs {w5, w6}; {w3} vs {w1}
    rc = hand["root_cause"]
    assert (rc["tp"], rc["fp"], rc["fn"]) == (2, 1, 2)
    assert rc["precision"] == 2 / 3 and rc["recall"] == 2 / 4
    assert rc["f1"] == pytest.approx(4 / 7)


def test_root_cause_pairs_count_a_spread_decision_twice(hand):
    # pairs: {(1,w1),(2,w1)} vs {(1,w1)}; {(2,w6)} vs {(2,w5),(3,w6)}; {(3,w3)} vs {(1,w1)}
    pairs = hand["root_cause_pairs"]
    assert (pairs["tp"], pairs["fp"], pairs["fn"]) == (1, 3, 3)
    assert pairs["precision"] == pairs["recall"] == pairs["f1"] == 0.25


def test_faults_explained_by_hand(hand):
    # worker faults: day 1 post 1 (w1, named there), night post 2 (w5, w6 named instead),
    # night post 3 (w6, not a hazard post), day 2 post 1 (w1, not named)
    assert hand["faults_explained"]["explained"] == 1
    assert hand["faults_explained"]["total"] == 4
    assert hand["faults_explained"]["value"] == 0.25


def test_equipment_attribution_by_hand(hand):
    # hazard posts with a fault: day 1 post 1 (workers/worker), night post 1 (equipment/
    # equipment), night post 2 (workers/worker), day 2 post 1 (equipment/worker: wrong)
    assert hand["equipment_attribution"]["n"] == 4
    assert hand["equipment_attribution"]["accuracy"] == 0.75


def test_worker_flags_by_hand(hand):
    management, training = hand["management"], hand["training"]
    # management: tp w1, w5; fp w3 (day 2); fn w1 (day 2)
    assert management["precision"] == management["recall"] == management["f1"] == 2 / 3
    # Z of the 3 needing management (.5, .3, .15) against the 4 others (.1, .05, .1, .4):
    # 4 + 3 + 3 of 12 pairs ranked right
    assert management["auc"] == pytest.approx(10 / 12)
    # training: tp w2, w3; fp w5; fn w6
    assert training["precision"] == training["recall"] == training["f1"] == 2 / 3
    # −Y, w3's undefined Y left out: positives (−.6, −.95, −.5) vs (−.9, −.7, −.85): 3+0+3 of 9
    assert training["auc"] == pytest.approx(6 / 9)
    rows = [w for rec in records() for w in rec["workers"]]
    for name, label in (("management", "needs_management"), ("training", "needs_training")):
        expected = precision_recall_fscore_support(
            [w[label] for w in rows], [w[name] for w in rows], average="binary"
        )[:3]
        assert [hand[name][k] for k in ("precision", "recall", "f1")] == pytest.approx(expected)


def test_levels_and_detection_by_hand(hand):
    confusion = np.array(hand["level_confusion"])
    assert confusion[3, 0] == 1 and confusion[0, 3] == 0  # true major graded safe
    assert confusion.sum() == 9 and np.trace(confusion) == 8
    assert hand["level_accuracy"] == 8 / 9
    # D > 0.5 vs true_D > 0.5: day 1 fn tp tn, night tp tp tn, day 2 tp tn fp
    assert hand["hazard_detection"] == {"tp": 4, "fp": 1, "fn": 1, "tn": 3}
    assert hand["worker_shifts"] == 7 and hand["post_shifts"] == 9


def test_schema_and_intervals(hand):
    for name in metrics.HEADLINE:
        ci = metrics.interval(hand, name)
        group, key = name.split(".")
        assert ci is not None and ci[0] <= ci[1], name
        assert all(isinstance(v, float) for v in ci)
        assert isinstance(hand[group][key], float)
    assert hand["root_cause"]["ci95"] == hand["root_cause"]["f1_ci95"]
    assert hand["management"]["ci95"] == hand["management"]["f1_ci95"]
    assert set(hand["root_cause"]) == {
        "precision", "recall", "f1", "tp", "fp", "fn", "ci95", "precision_ci95",
        "recall_ci95", "f1_ci95",
    }  # fmt: skip
    assert set(hand["faults_explained"]) == {"value", "explained", "total", "ci95"}
    assert set(hand["equipment_attribution"]) == {"accuracy", "n", "ci95"}
    assert set(hand["training"]) == {
        "precision", "recall", "f1", "auc", "ci95", "f1_ci95", "auc_ci95",
    }  # fmt: skip
    assert hand["bootstrap"] == {
        "replicates": 200, "seed": 1, "days": 2, "people": 5, "resampled": "days and people",
    }  # fmt: skip


def test_root_cause_recomputed_from_records_is_exactly_the_reported_figure():
    rng = np.random.default_rng(5)
    shifts = []
    for day in range(1, 6):
        for name in ("day", "night"):
            people = [f"w{k}" for k in range(6)]
            culprits = [w for w in people if rng.random() < 0.3]
            named = [w for w in people if rng.random() < 0.3]
            shifts.append(
                shift(
                    day, name,
                    posts=[post(1, hazard=True, faults=["guard"] * len(culprits),
                                culprits=culprits)],
                    workers=[worker(w, Z=float(rng.random()), Y=float(rng.random()),
                                    management=False, training=False,
                                    needs_management=bool(rng.random() < 0.5),
                                    needs_training=bool(rng.random() < 0.5)) for w in people],
                    causes=[(1, w) for w in named],
                )
            )  # fmt: skip
    m = metrics.run_metrics(typed(shifts), tau_D=0.5, replicates=0)
    tp = fp = fn = 0
    for rec in shifts:
        named = {c["worker"] for c in rec["root_causes"]}
        truth = {w for p in rec["posts"] for w in p["culprits"]}
        tp, fp, fn = tp + len(named & truth), fp + len(named - truth), fn + len(truth - named)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert (m["root_cause"]["tp"], m["root_cause"]["fp"], m["root_cause"]["fn"]) == (tp, fp, fn)
    assert m["root_cause"]["precision"] == precision and m["root_cause"]["recall"] == recall
    assert m["root_cause"]["f1"] == 2 * precision * recall / (precision + recall)
    assert m["root_cause"]["ci95"] is None  # no replicates asked for


def test_fault_culprits_count_each_fault_once_when_the_record_has_them():
    recs = records()
    night = recs[1]["posts"][1]
    night["culprits"] = ["w5", "w6"]
    night["fault_culprits"] = [["w5", "w6"], ["w5"], []]  # a joint fault, w5's, an equipment one
    m = metrics.run_metrics(typed(recs), tau_D=0.5, replicates=0)
    # the joint fault is explained (w6 named at post 2), w5's alone is not: 2 of 5
    assert (m["faults_explained"]["explained"], m["faults_explained"]["total"]) == (2, 5)


def test_undefined_figures_have_no_interval():
    recs = [records()[0]]
    for w in recs[0]["workers"]:
        w["needs_training"] = False  # one class only: no AUC
    for p in recs[0]["posts"]:
        p["faults"], p["culprits"] = [], []
    m = metrics.run_metrics(typed(recs), tau_D=0.5, replicates=50, people=False)
    assert math.isnan(m["training"]["auc"]) and m["training"]["auc_ci95"] is None
    assert math.isnan(m["faults_explained"]["value"]) and m["faults_explained"]["ci95"] is None
    assert m["equipment_attribution"]["n"] == 0 and m["equipment_attribution"]["ci95"] is None
    # one day: every replicate is that day, so defined intervals are a point
    assert m["management"]["auc_ci95"] == [m["management"]["auc"]] * 2


def _resampled(shifts, weights):
    """The records with day g repeated weights[g] times (each copy its own day)."""
    days = sorted({rec["day"] for rec in shifts})
    out = []
    for g, day in enumerate(days):
        for copy_k in range(int(weights[g])):
            for rec in shifts:
                if rec["day"] == day:
                    out.append({**copy.deepcopy(rec), "day": 1000 * g + copy_k + 1})
    return out


@settings(max_examples=25, deadline=None)
@given(weights=st.lists(st.integers(0, 3), min_size=2, max_size=2).filter(lambda w: sum(w) > 0))
def test_a_replicate_equals_the_figures_of_the_resampled_records(weights):
    table = cells.cell_table(typed(records()))
    resampled = cells.cell_table(typed(_resampled(records(), weights)))
    ones = np.ones((1, len(resampled.cell_day)))
    people = np.ones((1, len(table.people) + 1))
    weighted = table.weights(np.array([weights], dtype=float), people)
    for name in cells.FIGURES:
        got = cells.figure_values(table, name, weighted)[0]
        expected = cells.figure_values(resampled, name, ones)[0]
        if math.isnan(expected):
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(expected, abs=1e-12), name


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.0]), st.booleans(), st.integers(0, 3)),
        min_size=2,
        max_size=40,
    ),
    weights=st.lists(st.integers(0, 4), min_size=4, max_size=4),
)
def test_weighted_auc_equals_scikit_learn_with_day_weights_as_sample_weights(rows, weights):
    scores = np.array([r[0] for r in rows])
    labels = np.array([r[1] for r in rows])
    day = np.array([r[2] for r in rows])
    w = np.array(weights, dtype=float)
    table = cells.ranking(scores, labels, day)
    got = cells.weighted_auc(table, w[None, :])[0]
    sample_weight = w[day]
    if len(set(labels[sample_weight > 0])) < 2:
        assert math.isnan(got)
    else:
        expected = roc_auc_score(labels, scores, sample_weight=sample_weight)
        assert got == pytest.approx(expected, abs=1e-12)


def test_ranking_leaves_out_undefined_scores():
    table = cells.ranking(
        np.array([0.9, 0.1, np.nan, 0.2]), np.array([True, False, True, False]),
        np.array([0, 0, 1, 1]),
    )  # fmt: skip
    np.testing.assert_array_equal(table.cells, [0, 1, 0])  # ascending: 0.1, 0.2, 0.9
    np.testing.assert_array_equal(table.positive, [False, False, True])
    assert cells.weighted_auc(table, np.ones((1, 2)))[0] == 1.0
    assert (
        cells.weighted_auc(table, np.array([[0.0, 1.0]]))[0]
        != cells.weighted_auc(table, np.array([[0.0, 1.0]]))[0]
    )  # only negatives left: NaN


def test_day_weights_are_seeded_multinomial_draws():
    w = bootstrap.day_weights(5, replicates=300, seed=3)
    assert w.shape == (300, 5) and np.all(w.sum(axis=1) == 5)
    np.testing.assert_array_equal(w, bootstrap.day_weights(5, replicates=300, seed=3))
    assert not np.array_equal(w, bootstrap.day_weights(5, replicates=300, seed=4))
    assert abs(w.mean() - 1.0) < 0.1


def test_intervals_are_reproducible_and_cover_the_figure():
    a = metrics.run_metrics(typed(records()), tau_D=0.5, replicates=300, seed=2, people=False)
    b = metrics.run_metrics(typed(records()), tau_D=0.5, replicates=300, seed=2, people=False)
    assert a == b
    low, high = a["root_cause"]["f1_ci95"]
    # day 1 alone: tp 2, fp 0, fn 1 (f1 0.8); day 2 alone: tp 0 (f1 0): the figure lies between
    assert 0.0 <= low <= a["root_cause"]["f1"] <= high <= 0.8
    # people drawn too: a replicate of w1 and w6 alone names every culprit it holds (F1 1)
    both = metrics.run_metrics(typed(records()), tau_D=0.5, replicates=300, seed=2)
    assert both["root_cause"]["f1_ci95"][1] == 1.0


def test_intervals_are_percentiles_of_the_defined_replicates():
    recs = records()
    recs[2]["workers"][0]["needs_training"] = True  # day 2: nobody without the need
    m = metrics.run_metrics(typed(recs), tau_D=0.5, replicates=300, seed=4)
    table = cells.cell_table(typed(recs))
    weights = table.weights(
        bootstrap.day_weights(2, replicates=300, seed=4),
        bootstrap.person_weights(len(table.people), replicates=300, seed=4),
    )
    auc = cells.figure_values(table, "training.auc", weights)
    assert np.isnan(auc).any()  # replicates of day 2 alone have one class
    expected = np.percentile(auc[~np.isnan(auc)], [2.5, 97.5])
    assert m["training"]["auc_ci95"] == [float(v) for v in expected]
    f1 = cells.figure_values(table, "root_cause.f1", weights)
    assert m["root_cause"]["ci95"] == [float(v) for v in np.percentile(f1, [2.5, 97.5])]


def test_paired_difference_of_the_same_records_is_zero():
    out = metrics.paired_difference(typed(records()), typed(records()), replicates=100)
    assert set(out) == set(metrics.HEADLINE)
    assert out["root_cause.f1"] == {
        "a": pytest.approx(4 / 7), "b": pytest.approx(4 / 7), "difference": 0.0,
        "ci95": [0.0, 0.0],
    }  # fmt: skip


def test_paired_difference_by_hand():
    better = records()
    better[2]["root_causes"] = [{"hazard_post": 1, "post": 1, "worker": "w1", "reasons": []}]
    out = metrics.paired_difference(
        typed(better), typed(records()), figures=["root_cause.recall"], replicates=400, seed=0
    )["root_cause.recall"]
    # the better model also names w1 on day 2: recall 3/4 against 2/4
    assert out["a"] == 0.75 and out["b"] == 0.5 and out["difference"] == 0.25
    low, high = out["ci95"]
    # a replicate without day 2 differs by 0; only day 2 twice: 2/2 − 0/2 = 1
    assert 0.0 <= low <= 0.25 <= high <= 1.0


def test_paired_records_must_cover_the_same_days():
    with pytest.raises(HarnessError, match=r"same days, got \[1, 2\] and \[1\]"):
        metrics.paired_difference(typed(records()), typed(records()[:2]))


def test_too_small_to_tell(hand):
    reasons = metrics.too_small_to_tell(hand)
    assert reasons[0] == "only 4 true culprits (fewer than 20)"
    assert reasons[1].startswith("root_cause.f1's 95 % interval [")
    assert metrics.too_small_to_tell(hand, min_culprits=4, max_half_width=1.0) == []
    no_interval = metrics.run_metrics(typed(records()), tau_D=0.5, replicates=0)
    assert "root_cause.f1 has no interval" in metrics.too_small_to_tell(no_interval)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda recs: recs[1].pop("posts"), "1.posts"),
        (lambda recs: recs[2]["workers"][0].pop("Z"), "2.workers.0.Z"),
        (lambda recs: recs[0]["posts"][2].update(hazard="yes"), "0.posts.2.hazard"),
        (lambda recs: recs[0]["root_causes"][0].update(worker="../x"), "0.root_causes.0.worker"),
    ],
)
def test_bad_records_are_rejected_with_the_key_named(mutate, where):
    recs = records()
    mutate(recs)
    with pytest.raises(pydantic.ValidationError) as caught:
        typed(recs)
    assert where in {".".join(map(str, e["loc"])) for e in caught.value.errors()}


def test_no_records_is_an_error():
    with pytest.raises(HarnessError, match="`shifts` must hold at least one shift record"):
        metrics.run_metrics([], tau_D=0.5)


def test_bad_figure_and_replicates_are_rejected():
    with pytest.raises(HarnessError, match=r"unknown figure 'root_cause\.auc'"):
        metrics.paired_difference(typed(records()), typed(records()), figures=["root_cause.auc"])
    with pytest.raises(HarnessError, match="`replicates` must be an int >= 0, got -1"):
        metrics.run_metrics(typed(records()), tau_D=0.5, replicates=-1)


def _two_wanderers(days: int) -> list[dict]:
    """Every day the same two wanderers: w1 always flagged, w2 never; and a normal worker."""
    out = []
    for day in range(1, days + 1):
        out.append(
            shift(
                day, "day",
                posts=[post(1)],
                workers=[
                    worker("w1", Z=0.5, Y=1.0, management=True, training=False,
                           needs_management=True, needs_training=False),
                    worker("w2", Z=0.1, Y=1.0, management=False, training=False,
                           needs_management=True, needs_training=False),
                    worker("w3", Z=0.0, Y=1.0, management=False, training=False,
                           needs_management=False, needs_training=False),
                ],
                causes=[],
            )
        )  # fmt: skip
    return out


def test_a_figure_on_two_people_gets_a_wide_interval():
    """Management F1 2/3 (tp 1, fn 1) every day: the day bootstrap sees no spread at all, the
    two-way one draws w1 twice (F1 1) or w2 twice (F1 0)."""
    recs = _two_wanderers(10)
    days_only = metrics.run_metrics(typed(recs), tau_D=0.5, replicates=400, seed=1, people=False)
    both = metrics.run_metrics(typed(recs), tau_D=0.5, replicates=400, seed=1)
    assert days_only["management"]["f1"] == pytest.approx(2 / 3)
    assert days_only["management"]["ci95"] == [pytest.approx(2 / 3)] * 2
    low, high = both["management"]["ci95"]
    assert low == 0.0 and high == 1.0
    assert both["bootstrap"]["people"] == 3 and both["bootstrap"]["resampled"] == "days and people"


def test_many_people_and_days_give_an_interval_close_to_the_day_only_one():
    """60 people over 40 days, outcomes driven by the day (every worker of a bad day missed):
    resampling people changes little, so the two intervals nearly agree."""
    rng = np.random.default_rng(0)
    recs = []
    for day in range(1, 41):
        caught = rng.random() < 0.7
        recs.append(
            shift(
                day, "day",
                posts=[post(1)],
                workers=[
                    worker(f"w{k}", Z=0.5, Y=1.0, management=bool(caught or k % 2),
                           training=False, needs_management=True, needs_training=False)
                    for k in range(60)
                ],
                causes=[],
            )
        )  # fmt: skip
    both = metrics.run_metrics(typed(recs), tau_D=0.5, replicates=1000, seed=2)
    days = metrics.run_metrics(typed(recs), tau_D=0.5, replicates=1000, seed=2, people=False)
    width_both = np.diff(both["management"]["ci95"])[0]
    width_days = np.diff(days["management"]["ci95"])[0]
    assert width_days > 0.05
    assert width_days <= width_both <= 1.3 * width_days


def test_paired_difference_resamples_people_too():
    """Tuned flags w2 as well: +1/3 recall on every day; only the people make it uncertain."""
    base = _two_wanderers(6)
    tuned = copy.deepcopy(base)
    for rec in tuned:
        rec["workers"][1]["management"] = True
    out = metrics.paired_difference(
        typed(tuned), typed(base), figures=["management.recall"], replicates=400, seed=0
    )["management.recall"]
    assert out["difference"] == pytest.approx(0.5)
    low, high = out["ci95"]
    assert low == 0.0 and high == 1.0  # w2 drawn twice: +1; w2 not drawn: 0
