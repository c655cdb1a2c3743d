"""The per-post grading DNNs: each post's Optuna study, and its best network saved, logged,
registered and crowned champion only through the quality gate.

Data: :mod:`harness.evaluation.grading_data` (real history shift changes plus augmented ones from
the scenario's own generative model, split by day into train / validation / test).

**Parallelism: one Ray task per post, running that post's whole Optuna study**
(:func:`run_studies`). The post's examples are built once in the task and stay in memory for
every trial; trials of one post run in sequence, so the seeded TPE sampler proposes the same
trials on every run (parallel trials of one study would see each other's results in a
timing-dependent order). Posts are independent, so they fill the cores. Each study lives in
a journal file ``<journals>/post-<i>.journal`` (Optuna's file storage, safe for parallel
writers; on a cluster it must be shared storage); a new study starts it afresh.

**Search space** (:data:`SPACE`): ``channels`` in {8, 16, 32}, ``depth`` 2..4, ``lr``
log-uniform in [1e-3, 1e-2], ``batch_size`` in {16, 32, 64}, ``input_size`` in {32, 64};
``epochs`` is fixed by the budget.

**Pruning:** every epoch reports the validation macro-F1 (through ``train_grader``'s
``on_epoch`` hook); ``MedianPruner`` stops a trial below the median of earlier trials at the
same epoch, after 2 complete trials and a third of the epochs. A trial's value is its
validation macro-F1 after the last epoch; the best trial's network is kept in the task (no
retraining) and scored on the test days. Its child run in MLflow (:func:`register`) holds
its curves by epoch (``step``): ``train_loss`` every epoch, ``val_macro_f1`` at every
validation pass.

**Determinism:** trial ``k`` of post ``i`` trains with a seed derived from
``(scenario seed, i, k)`` and the sampler's seed from ``(scenario seed, i)``, one torch thread
per task: the same study gives the same weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import sim
from harness.adapters import optuna_storage, optuna_studies
from harness.adapters.mlflow_tracking import log_curves, log_dict, log_metrics, tracked_run
from harness.adapters.ray_cluster import map_unordered
from harness.evaluation.grading_data import GradingData, history_shift_states, post_examples
from sim.seeding import derived_seed


@dataclass(frozen=True)
class StudyBudget:
    """What one post's study may spend."""

    trials: int
    """Optuna trials."""
    epochs: int
    """Epochs per trial."""
    augment: int
    """Augmentation rounds of the post's examples."""
    eval_every: int = 2
    """Epochs between validation passes (the pruner's reports); the last epoch always."""


SPACE = {
    "channels": optuna_studies.categorical([8, 16, 32]),
    "depth": optuna_studies.int_range(2, 4),
    "lr": optuna_studies.float_range(1e-3, 1e-2, log=True),
    "batch_size": optuna_studies.categorical([16, 32, 64]),
    "input_size": optuna_studies.categorical([32, 64]),
}
"""The grading DNN's hyper-parameters a trial samples (in this order)."""


def run_studies(
    scenario: sim.Scenario,
    posts: Sequence[int],
    budget: StudyBudget,
    *,
    journals: Path,
    max_in_flight: int,
    progress: bool,
) -> dict[int, dict[str, Any]]:
    """Every post's study as one Ray task (:func:`post_study`), journals under ``journals``;
    the results by post."""
    states = history_shift_states(scenario, posts, max_in_flight=max_in_flight, progress=progress)
    jobs = (
        (post, (scenario, post, states[post], budget, str(journals / f"post-{post}.journal")))
        for post in posts
    )
    return dict(
        map_unordered(
            post_study,
            jobs,
            total=len(posts),
            max_in_flight=max_in_flight,
            desc="studies",
            progress=progress,
        )
    )


def post_study(
    scenario: sim.Scenario,
    post: int,
    real_states: dict[tuple[int, str], sim.PostState],
    budget: StudyBudget,
    journal: str,
) -> dict[str, Any]:
    """Task: build the post's examples, run its Optuna study, return the best network's state.

    Returns:
        ``post``, ``params`` (best trial's), ``config`` (network), ``state`` (numpy arrays),
        ``val`` / ``test`` / ``test_real`` scores, ``trials`` (complete, pruned), example
        counts, and ``timings``: task wall, data, study wall and training-step seconds.
    """
    import torch

    from core.perception import evaluate_grader, train_grader

    started = time.perf_counter()
    torch.set_num_threads(1)
    data = post_examples(scenario, post, real_states, rounds=budget.augment)
    train, val, test = data.split(sorted({day for day, _ in real_states}))
    data_s = time.perf_counter() - started

    Path(journal).unlink(missing_ok=True)
    store = optuna_storage.open_storage(journal)
    study, _ = optuna_studies.create_study(
        name=f"grader-post-{post}",
        store=store,
        directions=["maximize"],
        seed=derived_seed(scenario.seed, post),
        metric_names=["val_macro_f1"],
        pruner=optuna_studies.median_pruner(startup_trials=2, warmup_steps=budget.epochs // 3),
    )
    best: dict[str, Any] = {"value": -1.0}
    spent = {"train_s": 0.0}

    def objective(trial: optuna_studies.Running) -> float:
        params = trial.params
        scores: list[float] = []
        evaluated: list[int] = []
        eval_s = 0.0

        def report(epoch: int, net: Any) -> None:
            nonlocal eval_s
            last = epoch == budget.epochs - 1
            if (epoch + 1) % budget.eval_every and not last:
                return
            t0 = time.perf_counter()
            scores.append(evaluate_grader(net, val.images, val.env, val.labels)["macro_f1"])
            evaluated.append(epoch)
            eval_s += time.perf_counter() - t0
            trial.report(scores[-1], epoch)  # raises to prune the trial

        t0 = time.perf_counter()
        try:
            net, history = train_grader(
                train.images, train.env, train.labels,
                seed=derived_seed(scenario.seed, post, trial.number),
                epochs=budget.epochs, on_epoch=report, **params,
            )  # fmt: skip
        finally:
            spent["train_s"] += time.perf_counter() - t0 - eval_s
        if scores[-1] > best["value"]:
            curves = {
                "train_loss": list(enumerate(history["loss"])),
                "val_macro_f1": list(zip(evaluated, scores, strict=True)),
            }
            best.update(value=scores[-1], net=net, params=params, trial=trial.number,
                        curves=curves)  # fmt: skip
        return scores[-1]

    study_started = time.perf_counter()
    optuna_studies.optimize_sequential(
        study, objective, distributions=SPACE, n_trials=budget.trials
    )
    store.record()
    study_s = time.perf_counter() - study_started
    net = best["net"]
    return {
        "post": post,
        "trial": best["trial"],
        "params": best["params"],
        "config": net.config,
        "state": {k: v.numpy().copy() for k, v in net.state_dict().items()},
        "val": {"macro_f1": best["value"]},
        "curves": best["curves"],
        "test": evaluate_grader(net, test.images, test.env, test.labels),
        "test_real": _real_scores(net, test),
        "trials": {
            "complete": optuna_studies.count(study, optuna_studies.COMPLETE),
            "pruned": optuna_studies.count(study, optuna_studies.PRUNED),
        },
        "examples": {
            "train": len(train.labels),
            "val": len(val.labels),
            "test": len(test.labels),
            "levels": np.bincount(data.labels, minlength=5).tolist(),
            "real_levels": np.bincount(data.labels[data.real], minlength=5).tolist(),
        },
        "input_example": {"diff": test.images[:2], "env": test.env[:2]},
        "test_set": {"images": test.images, "env": test.env, "labels": test.labels},
        "timings": {
            "task_s": time.perf_counter() - started,
            "data_s": data_s,
            "study_s": study_s,
            "train_s": spent["train_s"],
        },
    }


def _real_scores(net: Any, test: GradingData) -> dict[str, Any]:
    from core.perception import evaluate_grader

    real = test.subset(test.real)
    return evaluate_grader(net, real.images, real.env, real.labels)


def quality_gate(
    post: int, version: str, new_f1: float, test_set: dict[str, np.ndarray], bar: float
) -> dict[str, Any]:
    """Crown ``version`` champion only if its held-out macro-F1 clears the floor ``bar`` and
    beats the current champion on the same held-out examples; the decision and the scores."""
    from core.perception import evaluate_grader
    from harness.adapters.mlflow_registry import champion, crown, load_graders

    current = champion(post)
    scores = {"new_macro_f1": new_f1, "floor": bar}
    if new_f1 < bar:
        kept = None if current is None else str(current.version)
        return {"decision": "below_floor", "version": kept, **scores}
    if current is None:
        crown(post, version)
        return {"decision": "first", "version": version, **scores}
    net = load_graders({post: str(current.version)})[post]
    old_f1 = evaluate_grader(net, test_set["images"], test_set["env"], test_set["labels"])[
        "macro_f1"
    ]
    beats = new_f1 > old_f1
    if beats:
        crown(post, version)
    return {
        "decision": "crowned" if beats else "kept",
        "version": version if beats else str(current.version),
        **scores,
        "champion_macro_f1": old_f1,
    }


def register(
    result: dict[str, Any],
    *,
    scenario: sim.Scenario,
    graders: Path,
    parent_run_id: str | None,
    min_macro_f1: float,
) -> dict[str, Any]:
    """Save one post's best network to ``graders/post-<i>.safetensors``, log its child run,
    register it and pass it through :func:`quality_gate`.

    Returns:
        The post's entry of ``train.json``: ``registered_version``, ``champion`` (the gate's
        decision and scores) and the study's ``trial``, ``params``, scores, trial counts,
        example counts and timings.
    """
    import torch

    from core.perception import GradingNet, save_model
    from harness.adapters.mlflow_registry import (
        TAG_FLOOR,
        TAG_GRADING_KEY,
        TAG_MACRO_F1,
        log_grader,
    )
    from harness.evaluation.graders import floor, grading_key

    r, post = result, result["post"]
    net = GradingNet(**r["config"])
    net.load_state_dict({k: torch.tensor(v) for k, v in r["state"].items()})
    net.eval()
    metadata = {"scenario": scenario.name, "seed": scenario.seed, "post": post,
                "params": r["params"], "trial": r["trial"]}  # fmt: skip
    save_model(net, graders / f"post-{post}.safetensors", metadata=metadata)
    with tracked_run(
        experiment=f"hazard-harness/{scenario.name}",
        run_name=f"grader-post-{post}",
        params={"post": post, **r["params"]},
        command="train",
        parent_run_id=parent_run_id,
    ):
        log_metrics({k: r[k] for k in ("val", "test", "test_real", "trials", "timings")})
        log_curves(r["curves"])
        log_dict({"confusion": r["test"]["confusion"]}, "confusion.json")
        bar = floor(r["test_set"]["labels"], min_macro_f1)
        version = log_grader(
            net,
            post=post,
            tags={"scenario": scenario.name, "seed": str(scenario.seed),
                  TAG_GRADING_KEY: grading_key(scenario),
                  TAG_MACRO_F1: f"{r['test']['macro_f1']:.6f}", TAG_FLOOR: f"{bar:.6f}"},
            input_example=r["input_example"],
            metadata=metadata,
        )  # fmt: skip
        gate = quality_gate(post, version, r["test"]["macro_f1"], r["test_set"], bar)
        log_metrics({"champion": {k: v for k, v in gate.items()
                                  if k not in ("decision", "version")}})  # fmt: skip
    return {
        "registered_version": version,
        "champion": gate,
        **{k: r[k] for k in ("trial", "params", "val", "test", "test_real", "trials",
                             "examples", "timings")},
    }  # fmt: skip
