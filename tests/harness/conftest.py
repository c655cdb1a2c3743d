"""Shared fixtures for the harness tests: a tiny scenario, isolated MLflow and cache."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 5,
    "line": {"posts": 4, "correlation": "chain"},
    "shifts": {"per_day": 2, "length_s": 900, "rate_hz": 1.0, "breaks": [[400, 500]]},
    "days": {"history": 6, "evaluate": 3},
    "workers": {
        "per_post": 1,
        "cast": [
            {"post": 2, "shift": "day", "profile": "wanderer"},
            {"post": 3, "shift": "night", "profile": "novice"},
        ],
    },
    "equipment": {
        "fault_rate": 0.1,
        "faults": [{"post": 4, "day": 7, "shift": "day", "kind": "guard_missing"}],
    },
    "environment": {
        "temperature_c": {"mean": 24, "sd": 2},
        "humidity_pct": {"mean": 50, "sd": 8},
        "pressure_kpa": {"mean": 101.3, "sd": 0.4},
        "excursions": [{"post": 1, "day": 8, "shift": "night", "temperature_c": 45}],
    },
    "fidelity": "signal",
}


TUNE_TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 3,
    "line": {"posts": 3},
    "shifts": {"per_day": 1, "length_s": 900, "breaks": [[450, 500]]},
    "days": {"history": 4, "evaluate": 4},
    "workers": {"cast": [{"post": 2, "profile": "wanderer"}, {"post": 3, "profile": "novice"}]},
    "equipment": {"fault_rate": 0.3},
}
"""A one-shift line with four evaluated days: small enough for studies in tests."""


def tiny_scenario(**changes: Any) -> dict[str, Any]:
    """A deep copy of the tiny scenario with top-level sections replaced."""
    data = copy.deepcopy(TINY)
    data.update(changes)
    return data


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tiny_yaml(tmp_path: Path) -> Path:
    return write_yaml(tmp_path / "tiny.yaml", TINY)


@pytest.fixture
def tune_yaml(tmp_path: Path) -> Path:
    """:data:`TUNE_TINY` in the test's working folder."""
    return write_yaml(tmp_path / "tiny.yaml", TUNE_TINY)


def isolate(mp: pytest.MonkeyPatch, base: Path) -> Path:
    """Give ``base`` its own MLflow database, history cache and working folder (local Ray)."""
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
    mp.setenv("HAZARD_HARNESS_CACHE", str(base / "cache"))
    mp.delenv("RAY_ADDRESS", raising=False)
    mp.chdir(base)
    return base


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own MLflow database, history cache and working folder."""
    return isolate(monkeypatch, tmp_path)


def comparable(results: dict[str, Any]) -> dict[str, Any]:
    """results.json without what may differ between identical runs (timings, run ids)."""
    return {k: v for k, v in results.items() if k not in ("mlflow_run_id", "timings")}


@pytest.fixture(autouse=True, scope="session")
def ray_workers_import_this_checkout():
    """Ray workers import ``core``/``sim``/``harness`` from this checkout, like the driver."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_keypoint_weights() -> Path:
    """The shipped keypoint weights (harness/weights/README.md), so no test trains a network."""
    from harness.weights import DEFAULT_KEYPOINT_WEIGHTS

    return DEFAULT_KEYPOINT_WEIGHTS


S3_KEY_ID, S3_SECRET = "hazard-test-key", "hazard-test-secret-value"
"""The credentials the tests give the S3 server (it accepts any until auth is turned on)."""


@pytest.fixture(scope="session")
def s3_server() -> Any:
    """A real S3 API on a local port: moto's server, started and stopped here."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_env(mp: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point the standard AWS variables at ``endpoint`` (what a user of MinIO would set)."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        mp.delenv(name, raising=False)
    mp.setenv("AWS_ENDPOINT_URL", endpoint)
    mp.setenv("AWS_ACCESS_KEY_ID", S3_KEY_ID)
    mp.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    mp.setenv("AWS_REGION", "us-east-1")
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new empty bucket on the test server, the environment pointing at it: ``s3://NAME``."""
    import uuid

    import boto3

    s3_env(monkeypatch, s3_server)
    name = f"hh-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return f"s3://{name}"
