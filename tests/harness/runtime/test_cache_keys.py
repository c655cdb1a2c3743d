"""The one cache key: editing any file that shapes a cache changes that cache's key."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

import sim
from harness.adapters.mlflow_tracking import TAG_SOURCE, source_version
from harness.evaluation.graders import GRADING_CODE, grading_key
from harness.evaluation.history import HISTORY_CODE, history_key
from harness.records._format import MANIFEST
from harness.records._ingest import INGEST_CODE, ingest_key
from harness.runtime import cache_keys
from harness.runtime.cache_keys import cache_key, source_files
from harness.runtime.storage import location
from tests.harness.conftest import REPO, TINY


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the three packages, so that edits never touch the checkout."""
    root = tmp_path_factory.mktemp("tree")
    for package in ("core", "sim", "harness"):
        shutil.copytree(REPO / package, root / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    return root


@pytest.fixture
def at(tree: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cache_keys, "ROOT", tree)
    return tree


def _each_edit_changes(key, parts: tuple[str, ...]) -> list[str]:
    """Relative paths of the files under ``parts`` whose one-byte edit leaves ``key()`` alone."""
    before = key()
    unchanged = []
    for path in source_files(*parts):
        original = path.read_bytes()
        path.write_bytes(original + b" ")
        try:
            if key() == before:
                unchanged.append(str(path.relative_to(cache_keys.ROOT)))
        finally:
            path.write_bytes(original)
    assert key() == before
    return unchanged


def test_history_key_sees_every_file_that_makes_the_history(at: Path) -> None:
    scenario = sim.Scenario.model_validate(TINY)
    names = {p.relative_to(at).as_posix() for p in source_files(*HISTORY_CODE)}
    # the two files the old key missed: a data table and code below core/perception/
    assert "sim/speed_error.json" in names
    assert any(n.startswith("core/perception/") for n in names)
    assert _each_edit_changes(lambda: history_key(scenario), HISTORY_CODE) == []


def test_records_key_ignores_what_does_not_make_records(at: Path) -> None:
    scenario = sim.Scenario.model_validate(TINY)
    before = history_key(scenario)
    report = at / "harness" / "outputs" / "run_report.py"
    report.write_bytes(report.read_bytes() + b" ")
    assert history_key(scenario) == before
    changed = sim.Scenario.model_validate({**TINY, "name": "other", "fidelity": "pixel"})
    assert history_key(changed) == before  # neither shapes a stored day
    longer = sim.Scenario.model_validate({**TINY, "days": {**TINY["days"], "history": 7}})
    assert history_key(longer) != before


def test_grading_key_sees_every_file_that_makes_graders(at: Path) -> None:
    scenario = sim.Scenario.model_validate(TINY)
    assert _each_edit_changes(lambda: grading_key(scenario), GRADING_CODE) == []


def test_ingest_key_sees_the_code_and_the_folder(at: Path, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / MANIFEST).write_text("{}")
    m = SimpleNamespace(folder=location(folder))
    memo = location(tmp_path / "digests.json")
    assert _each_edit_changes(lambda: ingest_key(m, memo), INGEST_CODE) == []
    before = ingest_key(m, memo)
    (folder / "seconds.parquet").write_bytes(b"x")
    assert ingest_key(m, memo) != before


def test_ingest_key_is_the_content_not_the_size_and_time(tmp_path: Path) -> None:
    """A records file edited in place, same size, its time set back: a new key."""
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / MANIFEST).write_text("{}")
    m = SimpleNamespace(folder=location(folder))
    memo = location(tmp_path / "digests.json")
    table = folder / "seconds.parquet"
    table.write_bytes(b"abc")
    stat = table.stat()
    before = ingest_key(m, memo)
    assert ingest_key(m, memo) == before  # unchanged: the same key (its digest remembered)
    table.write_bytes(b"abd")  # one byte changed in place
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the old time put back
    assert table.stat().st_size == stat.st_size and table.stat().st_mtime_ns == stat.st_mtime_ns
    assert ingest_key(m, memo) != before


@pytest.mark.parametrize("name", [
    "harness/outputs/templates/report.html.j2", "harness/weights/keypoint_net.json",
    "core/perception/_motion.py", "sim/speed_error.json",
])  # fmt: skip
def test_source_hash_sees_data_and_code_deep_in_the_packages(at: Path, name: str) -> None:
    version = source_version.__wrapped__  # (cached once a process)
    before = version()[TAG_SOURCE]
    path = at / name
    path.write_bytes(path.read_bytes() + b" ")
    assert version()[TAG_SOURCE] != before


def test_a_missing_part_is_an_error_not_a_smaller_key(at: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"harness/gone\.py"):
        cache_key({}, "core", "harness/gone.py")


def test_key_is_content_and_order_independent_of_dict_order(at: Path) -> None:
    assert cache_key({"a": 1, "b": 2}, "sim") == cache_key({"b": 2, "a": 1}, "sim")
    assert cache_key({"a": 1}, "sim") != cache_key({"a": 2}, "sim")
