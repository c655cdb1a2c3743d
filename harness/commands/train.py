"""``hazard-harness train``: one grading DNN per post, searched by Optuna on Ray, registered.

The studies, the registration and the quality gate are :mod:`harness.training.graders`'s;
this command checks its inputs, runs them in one command context (staging, the MLflow run,
the Ray session) and writes ``OUT/train.json``, ``OUT/studies/post-<i>.journal`` and
``OUT/graders/post-<i>.safetensors`` (+ JSON sidecar).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sim
from harness.adapters.mlflow_tracking import tracked_run
from harness.commands import preflight
from harness.commands.context import command_context
from harness.runtime import interrupts, settings, staging
from harness.runtime.errors import HarnessError
from harness.runtime.inputs import check_count, check_fraction, load_scenario_file
from harness.training.graders import StudyBudget, register, run_studies

LOG = logging.getLogger("harness.commands.train")


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``train`` needs, checked before any work starts."""

    scenario_path: Path
    """The scenario YAML file."""
    scenario: sim.Scenario
    """The validated scenario."""
    out_dir: Path
    """Where train.json, the studies and the weights go."""
    posts: tuple[int, ...]
    """Posts to train, 1-based."""
    compute: preflight.Compute
    """Where the Ray work runs."""
    budget: StudyBudget
    """What each post's study may spend (augmentation rounds: extra simulated shift changes
    per history shift change)."""
    device: str = "cpu"
    """Torch device of the training (resolved from ``--device``)."""
    min_macro_f1: float = 0.5
    """The least held-out macro-F1 a version needs to become champion (see
    :func:`harness.evaluation.graders.floor`)."""


def parse_posts(text: str, n_posts: int) -> tuple[int, ...]:
    """``all`` or comma-separated post numbers in ``1..n_posts``, each once (sorted)."""
    if text == "all":
        return tuple(range(1, n_posts + 1))
    items = [t.strip() for t in text.split(",")]
    if not all(re.fullmatch(r"[0-9]{1,6}", t) and 1 <= int(t) <= n_posts for t in items):
        raise HarnessError(
            f"--posts must be 'all' or post numbers in 1..{n_posts} like '1,3,5', got {text!r:.80}"
        )
    posts = [int(t) for t in items]
    twice = sorted({p for p in posts if posts.count(p) > 1})
    if twice:
        raise HarnessError(f"--posts names post {twice[0]} more than once, got {text!r:.80}")
    return tuple(sorted(posts))


def make_train_config(
    scenario_path: str | Path,
    out_dir: str | Path,
    *,
    posts: str = "all",
    trials: int = 10,
    epochs: int = 30,
    augment: int = 8,
    compute: preflight.ComputeOptions = preflight.ComputeOptions(),
    device: str = "auto",
    min_macro_f1: float = 0.5,
) -> TrainConfig:
    """Check every input of ``train`` before any work; raises :class:`HarnessError`."""
    min_macro_f1 = check_fraction("min-macro-f1", min_macro_f1)
    scenario = load_scenario_file(scenario_path)
    for name, value, low in (("trials", trials, 1), ("epochs", epochs, 1), ("augment", augment, 0)):
        check_count(name, value, low=low)
    if scenario.days.history < 3:
        raise HarnessError(
            f"train needs >= 3 history days (train / validation / test), got "
            f"{scenario.days.history}: raise days.history in the scenario"
        )
    chosen = parse_posts(posts, scenario.n_posts)
    resolved_device = settings.torch_device(device)
    out, where = preflight.checked(out_dir, compute)
    return TrainConfig(
        scenario_path=Path(scenario_path),
        scenario=scenario,
        out_dir=out,
        posts=chosen,
        compute=where,
        budget=StudyBudget(trials=trials, epochs=epochs, augment=augment),
        device=resolved_device,
        min_macro_f1=min_macro_f1,
    )


def train(config: TrainConfig) -> dict[str, Any]:
    """Run the per-post studies on Ray, register the best graders, write ``train.json``.

    Everything goes to a stage folder first (studies, weights, ``train.json``) and moves
    into ``--out`` only when complete; an interrupt leaves ``--out`` as it was.
    """
    scenario, c = config.scenario, config.compute
    started = time.perf_counter()
    budget = config.budget
    params = {"scenario": scenario.name, "seed": scenario.seed, "posts": list(config.posts),
              **asdict(budget)}  # fmt: skip
    with command_context(config.out_dir) as ctx:
        run_id = ctx.track(
            tracked_run(
                experiment=f"hazard-harness/{scenario.name}",
                run_name=f"train-{scenario.name}-seed{scenario.seed}",
                params=params,
                command="train",
            )
        )
        journals = ctx.stage / "studies"
        journals.mkdir()
        with c.ray() as session:
            results = run_studies(
                scenario, config.posts, budget, journals=journals,
                max_in_flight=session.max_in_flight, progress=c.progress,
            )  # fmt: skip
        summary: dict[str, Any] = {
            "scenario": scenario.name,
            "seed": scenario.seed,
            "mlflow_run_id": run_id,
            **asdict(budget),
            "posts": {},
        }
        interrupts.checkpoint("registering")
        for post in config.posts:
            entry = register(
                results[post], scenario=scenario, graders=ctx.stage / "graders",
                parent_run_id=run_id, min_macro_f1=config.min_macro_f1,
            )  # fmt: skip
            gate = entry["champion"]
            if gate["decision"] == "below_floor":
                LOG.warning(
                    "post %d: version %s has held-out macro-F1 %.3f, below the floor %.3f: "
                    "registered, not champion (run --graders auto will not use it)",
                    post, entry["registered_version"], gate["new_macro_f1"], gate["floor"],
                )  # fmt: skip
            summary["posts"][str(post)] = entry
        summary["wall_s"] = time.perf_counter() - started
        staging.write_json(ctx.stage / "train.json", summary)
    return summary
