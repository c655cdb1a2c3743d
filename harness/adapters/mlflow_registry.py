"""MLflow model-registry adapter for the per-post grading DNNs.

Layout: one registered model per post, ``grader-post-<i>``; each ``train`` registers a new
version, logged by a run of its own (the ``train`` run's child) with its metrics, confusion
matrix and hyper-parameters, and tagged with the scenario, seed, post and the scenario's
grading key (:func:`harness.evaluation.graders.grading_key`). The alias ``champion`` marks the
version ``run --graders auto|champion`` uses: ``train`` moves it only to a version that beats the
current champion on the post's held-out macro-F1 (the quality gate).

No pickle, either way: the model is logged as code (:mod:`harness.adapters.mlflow_models.grader`)
with
the project's safetensors weights as its artifact, and the harness loads a version by
downloading that artifact and reading it with :func:`core.perception.load_model` (content hash
verified), never through ``mlflow.pyfunc.load_model``. Elsewhere a version loads with
``mlflow.pyfunc.load_model`` and nothing but its logged requirements: the ``core`` package
travels with it (:func:`save_grader`). Only the driver talks to MLflow.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import yaml
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from core.perception import GradingNet, load_model, save_model
from harness.adapters.mlflow_models import grader as grader_code
from harness.adapters.mlflow_store import tracking_uri
from harness.adapters.mlflow_tracking import use_mlflow
from harness.runtime import interrupts
from harness.runtime.errors import HarnessError

CHAMPION = "champion"
LATEST = "latest"
TAG_GRADING_KEY = "grading_key"
TAG_MACRO_F1 = "held_out_macro_f1"
TAG_FLOOR = "floor"


def model_name(post: int) -> str:
    """The registered model name of a post's grader."""
    return f"grader-post-{post}"


def _client() -> MlflowClient:
    use_mlflow()
    return MlflowClient(tracking_uri())


GRADER_REQUIREMENTS = ("torch", "safetensors", "numpy", "opencv-python-headless")
"""What a registered grader needs besides MLflow, pinned to the training machine's versions."""


def grader_requirements() -> list[str]:
    """:data:`GRADER_REQUIREMENTS` pinned (``torch==2.13.0``; a local label like ``+cpu`` is
    dropped: pip matches it, and an index holds only the plain version)."""
    from importlib.metadata import version

    return [f"{name}=={version(name).split('+')[0]}" for name in GRADER_REQUIREMENTS]


def save_grader(net: GradingNet, folder: Path, *, input_example: dict[str, np.ndarray],
                metadata: dict[str, Any]) -> Path:  # fmt: skip
    """Write ``net`` as a self-contained MLflow pyfunc model in ``folder``.

    Self-contained: the model code (:mod:`harness.adapters.mlflow_models.grader`) and the ``core``
    package it imports travel inside (``code_paths``), the weights are safetensors, the
    requirements are pinned, and the MLmodel file names no path of this machine (MLflow
    records the model code's absolute path; only its file name is used to load it).
    """
    import core

    weights = folder.parent / f"{folder.name}-weights" / "grader"  # kept as artifacts/grader
    save_model(net, weights / grader_code.WEIGHTS_FILE, metadata=metadata)
    with warnings.catch_warnings():  # the signature comes from the input example
        warnings.filterwarnings("ignore", message=".*type hints to the `predict` method")
        mlflow.pyfunc.save_model(
            path=str(folder),
            python_model=grader_code.__file__,
            artifacts={"grader": str(weights)},
            code_paths=[str(Path(core.__file__).parent)],
            input_example=input_example,
            pip_requirements=grader_requirements(),
        )
    mlmodel = folder / "MLmodel"
    spec = yaml.safe_load(mlmodel.read_text())
    flavor = spec["flavors"]["python_function"]
    flavor["model_code_path"] = Path(flavor["model_code_path"]).name
    for artifact in flavor.get("artifacts", {}).values():
        artifact["uri"] = artifact["path"]
    mlmodel.write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder


def log_grader(
    net: GradingNet,
    *,
    post: int,
    tags: dict[str, str],
    input_example: dict[str, np.ndarray],
    metadata: dict[str, Any],
) -> str:
    """Log ``net`` in the active run (artifact ``grader``, see :func:`save_grader`) and register
    it as ``grader-post-<post>``; the version."""
    interrupts.checkpoint("registering")
    use_mlflow()
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_grader(net, Path(tmp) / "grader", input_example=input_example,
                             metadata=metadata)  # fmt: skip
        mlflow.log_artifacts(str(folder), "grader")
    run_id = mlflow.active_run().info.run_id
    version = str(mlflow.register_model(f"runs:/{run_id}/grader", model_name(post)).version)
    client = _client()
    for key, value in {**tags, "post": str(post)}.items():
        client.set_model_version_tag(model_name(post), version, key, value)
    return version


def champion(post: int) -> Any | None:
    """The post's champion version (an MLflow ModelVersion), or None."""
    try:
        return _client().get_model_version_by_alias(model_name(post), CHAMPION)
    except MlflowException:
        return None


def crown(post: int, version: str) -> None:
    """Make ``version`` the post's champion."""
    _client().set_registered_model_alias(model_name(post), CHAMPION, version)


def resolve_versions(versions: dict[int, str]) -> dict[int, str]:
    """Registered version numbers of ``champion``/``latest``/numbers per post; all must exist.

    Raises:
        HarnessError: naming the model, the version asked and the command that trains it.
    """
    client = _client()
    resolved = {}
    for post, version in versions.items():
        name = model_name(post)
        try:
            if version == LATEST:
                found = client.search_model_versions(f"name='{name}'")
                if not found:
                    raise MlflowException(f"no versions of {name}")
                resolved[post] = str(max(int(v.version) for v in found))
            elif version == CHAMPION:
                resolved[post] = str(client.get_model_version_by_alias(name, CHAMPION).version)
            else:
                resolved[post] = str(client.get_model_version(name, version).version)
        except MlflowException:
            raise HarnessError(
                f"registered model {name!r} version {version!r} not found at {tracking_uri()}: "
                f"train it with `hazard-harness train SCENARIO.yaml --out DIR --posts {post}`"
            ) from None
    return resolved


def version_info(post: int, version: str) -> dict[str, Any]:
    """What ``results.json`` says of a registered version: model, version, aliases, tags, and
    its held-out macro-F1 against its floor."""
    found = _client().get_model_version(model_name(post), version)
    q = quality(found)
    return {
        "model": model_name(post),
        "version": str(found.version),
        "aliases": list(found.aliases),
        "scenario": found.tags.get("scenario"),
        TAG_GRADING_KEY: found.tags.get(TAG_GRADING_KEY),
        "macro_f1": q["macro_f1"],
        "floor": q["floor"],
    }


def quality(version: Any, number: str | None = None) -> dict[str, Any]:
    """A version's held-out macro-F1 against its floor (the tags ``train`` sets): ``macro_f1``,
    ``floor``, ``clears`` and, when it does not, ``why``.

    Args:
        version: a ModelVersion, or the post when ``number`` names the version.
    """
    if number is not None:
        version = _client().get_model_version(model_name(int(version)), number)
    label = f"{version.name} version {version.version}"
    try:
        f1, bar = float(version.tags[TAG_MACRO_F1]), float(version.tags[TAG_FLOOR])
    except (KeyError, ValueError):
        return {"macro_f1": None, "floor": None, "clears": False,
                "why": f"{label} has no recorded held-out macro-F1 and floor (trained before "
                       "the floor)"}  # fmt: skip
    out = {"macro_f1": f1, "floor": bar, "clears": f1 >= bar}
    if not out["clears"]:
        out["why"] = f"{label} has held-out macro-F1 {f1:.3f}, below its floor {bar:.3f}"
    return out


def load_graders(versions: dict[int, str]) -> dict[int, GradingNet]:
    """The networks of resolved registered versions, per post, loaded without unpickling.

    Each version's weights artifact is downloaded and read by :func:`core.perception.load_model`,
    which verifies its content hash.

    Raises:
        HarnessError: a version whose weights are missing or corrupt, naming it.
    """
    from core import ModelInputError

    nets = {}
    with tempfile.TemporaryDirectory() as tmp:
        for post, version in versions.items():
            uri = f"models:/{model_name(post)}/{version}"
            try:
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"{uri}/artifacts/grader", dst_path=str(Path(tmp) / str(post)),
                    tracking_uri=tracking_uri(),
                )  # fmt: skip
                net, _ = load_model(Path(local) / grader_code.WEIGHTS_FILE)
            except (MlflowException, OSError, ModelInputError, ValueError) as exc:
                raise HarnessError(f"grader {uri} cannot be loaded: {exc}") from None
            nets[post] = net
    return nets
