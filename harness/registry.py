"""MLflow model-registry adapter for the per-post grading DNNs.

Layout: one registered model per post, ``grader-post-<i>``; each ``train`` registers a new
version, logged by a run of its own (the ``train`` run's child) with the model's metrics, its
confusion matrix (``confusion.json``) and best hyper-parameters. The model is an MLflow
``pyfunc`` whose artifact is the project's own weights format (safetensors + JSON sidecar,
:func:`core.perception.save_model`); ``predict({"diff": (N, H, W, 3) uint8, "env": (N, 3)})``
returns the levels, and an input example of that form is stored with it. Versions are
tagged with the scenario, seed and post. Only the driver talks to MLflow.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from core.perception import GradingNet, load_model, predict_levels, save_model
from harness._errors import HarnessError
from harness.tracking import tracking_uri

WEIGHTS_FILE = "grader.safetensors"
LATEST = "latest"


def model_name(post: int) -> str:
    """The registered model name of a post's grader."""
    return f"grader-post-{post}"


class GraderModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: difference images and raw environment vectors in, levels 0..4 out."""

    def load_context(self, context: Any) -> None:
        """Rebuild the network from the logged weights."""
        self.net, self.metadata = load_model(Path(context.artifacts["grader"]) / WEIGHTS_FILE)

    def predict(self, context, model_input, params=None):
        """Levels of ``{"diff": images, "env": vectors}``.

        Untyped on purpose: MLflow 3 would derive the signature from type hints; it comes
        from the logged input example instead.
        """
        return predict_levels(self.net, model_input["diff"], model_input["env"])


def log_grader(
    net: GradingNet,
    *,
    post: int,
    tags: dict[str, str],
    input_example: dict[str, np.ndarray],
    metadata: dict[str, Any],
) -> str:
    """Log ``net`` in the active run and register it as ``grader-post-<post>``; the version."""
    mlflow.set_tracking_uri(tracking_uri())
    with tempfile.TemporaryDirectory() as tmp:
        save_model(net, Path(tmp) / WEIGHTS_FILE, metadata=metadata)
        info = mlflow.pyfunc.log_model(
            name="grader",
            python_model=GraderModel(),
            artifacts={"grader": tmp},
            input_example=input_example,
            registered_model_name=model_name(post),
            pip_requirements=["torch", "safetensors", "numpy", "opencv-python-headless"],
        )
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in {**tags, "post": str(post)}.items():
        client.set_model_version_tag(model_name(post), version, key, value)
    return version


def parse_graders(spec: str, n_posts: int) -> dict[int, str]:
    """``latest`` or ``post=version,...`` (unnamed posts: latest) -> version per post 1..n."""
    versions = dict.fromkeys(range(1, n_posts + 1), LATEST)
    if spec == LATEST:
        return versions
    for item in spec.split(","):
        post, sep, version = item.partition("=")
        if (
            not sep
            or not post.strip().isdigit()
            or not 1 <= int(post) <= n_posts
            or not (version.strip().isdigit() or version.strip() == LATEST)
        ):
            raise HarnessError(
                f"--graders must be 'latest' or post=version pairs like '1=3,2=latest' with "
                f"posts in 1..{n_posts}, got {spec!r}"
            )
        versions[int(post)] = version.strip()
    return versions


def resolve_graders(versions: dict[int, str]) -> dict[int, str]:
    """Check that every post's registered version exists; ``latest`` becomes a number."""
    mlflow.set_tracking_uri(tracking_uri())
    client = MlflowClient()
    resolved = {}
    for post, version in versions.items():
        name = model_name(post)
        try:
            if version == LATEST:
                found = client.search_model_versions(f"name='{name}'")
                if not found:
                    raise MlflowException(f"no versions of {name}")
                resolved[post] = str(max(int(v.version) for v in found))
            else:
                resolved[post] = str(client.get_model_version(name, version).version)
        except MlflowException:
            raise HarnessError(
                f"registered model {name!r} version {version!r} not found at {tracking_uri()}: "
                f"train it with `hazard-harness train SCENARIO.yaml --out DIR --posts {post}`"
            ) from None
    return resolved


def load_graders(versions: dict[int, str]) -> dict[int, GradingNet]:
    """The networks of resolved registered versions, per post."""
    mlflow.set_tracking_uri(tracking_uri())
    return {
        post: mlflow.pyfunc.load_model(f"models:/{model_name(post)}/{version}")
        .unwrap_python_model()
        .net
        for post, version in versions.items()
    }
