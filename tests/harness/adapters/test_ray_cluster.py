"""The Ray adapter's arguments to ``ray.init`` (the real Ray runs in the run and cluster tests)."""

from __future__ import annotations

from pathlib import Path

from harness.adapters.ray_cluster import init_arguments


def test_no_address_starts_a_local_ray_of_its_own_never_a_found_cluster():
    kwargs = init_arguments(None, 2)
    assert kwargs["address"] == "local"  # Ray's auto-detection (address None/"auto") never runs
    assert kwargs["num_cpus"] == 2


def test_an_address_is_joined_with_the_projects_packages_and_no_local_resources():
    kwargs = init_arguments("head:6379", 4)
    assert kwargs["address"] == "head:6379"
    assert "num_cpus" not in kwargs  # Ray refuses resources when joining a cluster
    packages = kwargs["runtime_env"]["py_modules"]  # folders: a Ray client copies runtime_env
    assert all(isinstance(p, str) for p in packages)
    assert {Path(p).name for p in packages} == {"core", "sim", "harness"}
