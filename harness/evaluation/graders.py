"""Where the hazard levels come from: the per-post grading DNNs, by default.

``run --graders`` (a contract) takes:

- ``auto`` (default): the registered champions (alias ``champion``) when every post has one
  trained on this scenario (tag ``grading_key``), otherwise graders trained on demand with a
  fast fixed recipe (:data:`RECIPE`) on the scenario's own history shift changes, cached
  under ``CACHE/graders/<grading key>/`` like the history and logged to the run;
- ``champion``, ``latest`` or ``POST=VERSION,...`` (other posts: ``champion``): registered
  versions;
- ``truth``: the true levels (a perfect grader), for experiments that want one.

**The floor.** A registered grader is only used when its held-out macro-F1 clears its floor:
``max(--min-macro-f1 (0.5), the majority-class predictor's macro-F1 + 0.1)`` on the same
held-out examples (:func:`floor`; ``train`` records both in the version's tags). ``auto``
trains the recipe's graders instead of champions below it; ``champion`` refuses in one line
naming the post and the figure; an explicitly named version below it is used with a warning.

``results.json`` says which graders gave the levels and each post's held-out macro-F1
(:meth:`GraderPlan.describe`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

import core
import sim
from harness.runtime import storage
from harness.runtime.cache_keys import cache_key
from harness.runtime.errors import HarnessError

AUTO, TRUTH = "auto", "truth"
GRADING_CODE = (
    "core", "sim", "harness/evaluation/grading_data.py", "harness/evaluation/graders.py",
)  # fmt: skip
"""What makes a grader trained on demand: the packages and modules :func:`grading_key` hashes."""
RECIPE: dict[str, Any] = {
    "channels": 16,
    "depth": 3,
    "input_size": 64,
    "lr": 3e-3,
    "batch_size": 32,
    "epochs": 24,
    "augment": 4,
}
"""The on-demand grader's fixed recipe (``train`` searches it instead)."""
MIN_HISTORY_DAYS = 3
"""History days an on-demand grader needs (its data are split by day)."""
MIN_MACRO_F1 = 0.5
"""Default least held-out macro-F1 of a grader that may reach a run (``--min-macro-f1``)."""
FLOOR_MARGIN = 0.1
"""How far above the majority-class predictor's macro-F1 a grader must be."""
LOG = logging.getLogger(__name__)


def majority_macro_f1(labels: np.ndarray) -> float:
    """Macro-F1 of always predicting the most frequent of ``labels`` (on those labels)."""
    from core.perception import classification_scores

    labels = np.asarray(labels, dtype=np.int64)
    guess = np.full_like(labels, int(np.bincount(labels).argmax()))
    return classification_scores(labels, guess)["macro_f1"]


def floor(labels: np.ndarray, min_macro_f1: float = MIN_MACRO_F1) -> float:
    """The held-out macro-F1 a grader must reach on held-out ``labels`` (see the module doc)."""
    return max(float(min_macro_f1), majority_macro_f1(labels) + FLOOR_MARGIN)


SPEC_HELP = "auto | truth | champion | latest | POST=VERSION,..."


_NUMBER = re.compile(r"[0-9]{1,9}")
"""A post or a registry version in ``--graders`` (ASCII digits: ``'²'.isdigit()`` is true)."""


def parse_spec(spec: str, n_posts: int) -> str | dict[int, str]:
    """``auto``/``truth``, or the registry version asked per post 1..n.

    Raises:
        HarnessError: a malformed spec, naming ``--graders``.
    """
    from harness.adapters.mlflow_registry import CHAMPION, LATEST

    text = spec.strip()
    if text in (AUTO, TRUTH):
        return text
    versions = dict.fromkeys(range(1, n_posts + 1), CHAMPION)
    if text in (CHAMPION, LATEST):
        return dict.fromkeys(versions, text)
    for item in text.split(","):
        post, sep, version = (part.strip() for part in item.partition("="))
        if (
            not sep
            or not _NUMBER.fullmatch(post)
            or not 1 <= int(post) <= n_posts
            or not (_NUMBER.fullmatch(version) or version in (CHAMPION, LATEST))
        ):
            raise HarnessError(
                f"--graders must be {SPEC_HELP} with posts in 1..{n_posts} (e.g. '1=3,2=latest'),"
                f" got {spec!r}"
            )
        versions[int(post)] = version
    return versions


def grading_key(scenario: sim.Scenario) -> str:
    """Cache key of a scenario's graders: what shapes their data, the recipe and the code
    (:mod:`harness.runtime.cache_keys`)."""
    content = scenario.model_dump(mode="json", exclude={"name", "fidelity"})
    content["days"].pop("evaluate", None)
    return cache_key({"scenario": content, "recipe": RECIPE}, *GRADING_CODE)


@dataclass(frozen=True)
class GraderPlan:
    """Which graders give the levels, resolved before any work."""

    source: Literal["truth", "registry", "on_demand"]
    """The true levels, registered versions, or graders trained on demand (cached)."""
    requested: str
    """The ``--graders`` value."""
    versions: dict[int, str] = field(default_factory=dict)
    """Registered version number per post (``registry``)."""
    key: str = ""
    """The scenario's grading key (``on_demand``: the cache folder)."""

    def describe(self) -> dict[str, Any]:
        """Provenance for ``results.json`` (registry versions are looked up again)."""
        out: dict[str, Any] = {"source": self.source, "requested": self.requested}
        if self.source == "registry":
            from harness.adapters.mlflow_registry import version_info

            out["posts"] = {str(p): version_info(p, v) for p, v in self.versions.items()}
        elif self.source == "on_demand":
            out["grading_key"] = self.key
            out["recipe"] = RECIPE
        return out


def plan(spec: str, scenario: sim.Scenario) -> GraderPlan:
    """Resolve ``--graders`` against the registry (MLflow must be reachable)."""
    from harness.adapters.mlflow_registry import (
        TAG_GRADING_KEY,
        champion,
        quality,
        resolve_versions,
    )

    asked = parse_spec(spec, scenario.n_posts)
    if asked == TRUTH:
        return GraderPlan("truth", spec)
    key = grading_key(scenario)
    if asked == AUTO:
        found = {p: champion(p) for p in range(1, scenario.n_posts + 1)}
        if all(v is not None and v.tags.get(TAG_GRADING_KEY) == key for v in found.values()):
            below = {p: quality(v) for p, v in found.items() if not quality(v)["clears"]}
            if not below:
                versions = {p: str(v.version) for p, v in found.items()}
                return GraderPlan("registry", spec, versions, key)
            for post, q in below.items():
                LOG.warning("post %d: %s; training the recipe's grader instead", post, q["why"])
        if scenario.days.history < MIN_HISTORY_DAYS:
            raise HarnessError(
                f"--graders auto trains graders on the history's shift changes and needs >= "
                f"{MIN_HISTORY_DAYS} history days (train / held-out), the scenario has "
                f"days.history = {scenario.days.history}: raise it, or use --graders truth"
            )
        return GraderPlan("on_demand", spec, key=key)
    if not isinstance(asked, dict):
        raise HarnessError(f"--graders must be {SPEC_HELP}, got {spec!r}")
    versions = resolve_versions(asked)
    for post, version in versions.items():
        q = quality(post, version)
        if q["clears"]:
            continue
        if asked[post] == "champion":
            raise HarnessError(
                f"--graders {spec}: post {post}'s champion: {q['why']}; train a better one "
                f"(hazard-harness train SCENARIO.yaml --out DIR --posts {post}) or use "
                "--graders auto"
            )
        LOG.warning("post %d: %s; used because it was named", post, q["why"])
    return GraderPlan("registry", spec, versions, key)


Levels = Callable[[sim.Scenario, int, str, tuple[sim.PostState, ...]], np.ndarray]


def true_levels(
    scenario: sim.Scenario, day: int, shift: str, states: tuple[sim.PostState, ...]
) -> np.ndarray:
    """The true levels (a perfect grader)."""
    return np.array([s.true_level for s in states])


@dataclass(frozen=True)
class GraderLevels:
    """Levels from each post's grading DNN on the shift change's photo and environment."""

    nets: dict[int, Any]
    """The grader of every post."""

    def __call__(
        self, scenario: sim.Scenario, day: int, shift: str, states: tuple[sim.PostState, ...]
    ) -> np.ndarray:
        """Predicted level of every post, in post order."""
        from core.perception import predict_levels
        from harness.evaluation.grading_data import shift_change_diff

        return np.array(
            [
                predict_levels(
                    self.nets[s.post],
                    shift_change_diff(scenario, s, day=day, shift=shift)[None],
                    s.environment[None],
                )[0]
                for s in states
            ]
        )


def train_recipe_grader(
    scenario: sim.Scenario, post: int, real_states: dict[tuple[int, str], sim.PostState]
) -> dict[str, Any]:
    """Task: one post's grader by :data:`RECIPE`, trained on all but the last fifth of the
    history days and scored on that held-out fifth (real and augmented shift changes)."""
    import torch

    from harness.evaluation.grading_data import held_out_grader

    torch.set_num_threads(1)
    recipe = dict(RECIPE)
    trained = held_out_grader(scenario, post, real_states, rounds=recipe.pop("augment"), **recipe)
    return {
        "post": post,
        "config": trained.net.config,
        "state": {k: v.numpy().copy() for k, v in trained.net.state_dict().items()},
        "test": trained.test,
        "test_real": trained.test_real,
    }


def on_demand(
    scenario: sim.Scenario,
    cache_dir: storage.Location,
    key: str,
    *,
    max_in_flight: int,
    progress: bool,
) -> tuple[dict[int, Any], dict[str, Any]]:
    """The scenario's recipe graders: cached ones loaded, missing ones trained on Ray.

    Returns the networks per post and their held-out scores (to log and report).
    """
    from core.perception import GradingNet, build_model, dump_model
    from harness.adapters.ray_cluster import map_unordered
    from harness.evaluation.grading_data import history_shift_states

    folder = storage.location(cache_dir) / "graders" / key
    paths = {p: folder / f"post-{p}.safetensors" for p in range(1, scenario.n_posts + 1)}
    nets, scores = {}, {}
    for post, path in paths.items():
        sidecar = folder / f"post-{post}.json"
        if path.is_file() and sidecar.is_file():
            try:
                nets[post], meta = build_model(
                    path.read_bytes(), sidecar.read_bytes(), where=path.uri
                )
                scores[str(post)] = meta["scores"]
            except (core.ModelInputError, KeyError, ValueError, OSError):
                path.delete()  # damaged: derived data, trained again
    missing = [p for p in paths if p not in nets]
    if missing:
        states = history_shift_states(
            scenario, missing, max_in_flight=max_in_flight, progress=progress
        )
        jobs = ((p, (scenario, p, states[p])) for p in missing)
        for post, r in map_unordered(
            train_recipe_grader, jobs, total=len(missing), max_in_flight=max_in_flight,
            desc="graders", progress=progress,
        ):  # fmt: skip
            import torch

            net = GradingNet(**r["config"])
            net.load_state_dict({k: torch.tensor(v) for k, v in r["state"].items()})
            net.eval()
            score = {k: r[k]["macro_f1"] for k in ("test", "test_real")}
            data, sidecar = dump_model(net, metadata={"recipe": RECIPE, "scores": score})
            # the sidecar last: a weights file without it is never loaded
            paths[post].write_bytes(data)
            (folder / f"post-{post}.json").write_text(json.dumps(sidecar, sort_keys=True))
            nets[post], scores[str(post)] = net, score
    return nets, dict(sorted(scores.items(), key=lambda item: int(item[0])))


def levels_source(
    plan_: GraderPlan,
    scenario: sim.Scenario,
    cache_dir: storage.Location,
    *,
    max_in_flight: int,
    progress: bool,
) -> tuple[Levels, dict[str, Any]]:
    """The grading of a plan (Ray running) and what ``results.json`` says of it."""
    provenance = plan_.describe()
    if plan_.source == "truth":
        return true_levels, provenance
    if plan_.source == "registry":
        from harness.adapters.mlflow_registry import load_graders

        return GraderLevels(load_graders(plan_.versions)), provenance
    nets, scores = on_demand(
        scenario, cache_dir, plan_.key, max_in_flight=max_in_flight, progress=progress
    )
    provenance["posts"] = scores
    return GraderLevels(nets), provenance
