"""The grading DNN as an MLflow pyfunc model, logged as code ("models from code").

MLflow stores this file with the model instead of a cloudpickled object, so logging writes
no pickle. The weights are the project's safetensors file (with its JSON sidecar and hash),
loaded by :func:`core.perception.load_model`. The harness itself never goes through
``mlflow.pyfunc.load_model`` (which would run this file): it downloads the weights and loads
them with its own loader (:func:`harness.adapters.mlflow_registry.load_graders`).

``predict({"diff": (N, H, W, 3) uint8, "env": (N, 3)})`` returns the levels 0..4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow

WEIGHTS_FILE = "grader.safetensors"


class GraderModel(mlflow.pyfunc.PythonModel):
    """Difference images and raw environment vectors in, levels 0..4 out."""

    def load_context(self, context: Any) -> None:
        """Rebuild the network from the logged weights (hash verified)."""
        from core.perception import load_model

        self.net, self.metadata = load_model(Path(context.artifacts["grader"]) / WEIGHTS_FILE)

    def predict(self, context, model_input, params=None):
        """Levels of ``{"diff": images, "env": vectors}`` (untyped: the signature comes from the
        logged input example)."""
        from core.perception import predict_levels

        return predict_levels(self.net, model_input["diff"], model_input["env"])


mlflow.models.set_model(GraderModel())
