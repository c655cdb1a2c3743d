"""The storage layer against a real S3 API (moto's server on a local port): locations, the
history store, staged outputs and the one-line errors of a bad endpoint, bucket, credentials
or prefix."""

from __future__ import annotations

import contextlib
import json
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import core
import sim
from harness.cli import main
from harness.evaluation.history import open_store
from harness.runtime import staging, storage
from harness.runtime.storage import MANIFEST, StorageError, location
from tests.harness.conftest import S3_SECRET, TINY, s3_env, write_yaml


def test_locations_parse_paths_and_uris_and_refuse_credentials(
    s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_env(monkeypatch, s3_server)
    local = location("runs/demo/")
    assert not local.remote and local.uri == "runs/demo" and (local / "x").uri == "runs/demo/x"
    s3 = location("s3://bucket/runs/demo")
    assert s3.remote and s3.path == "bucket/runs/demo" and s3.name == "demo"
    assert (s3 / "results.json").uri == "s3://bucket/runs/demo/results.json"
    assert s3.parent.uri == "s3://bucket/runs" and s3.relative("bucket/runs/demo/a/b") == "a/b"
    assert pickle.loads(pickle.dumps(s3)) == s3  # a Ray task gets the URI, builds its own
    with pytest.raises(StorageError, match="credentials do not go in a URI") as bad:
        location("s3://AKIAKEY:verysecret@bucket/x", what="--out")
    assert "verysecret" not in str(bad.value)
    with pytest.raises(StorageError, match="options after '\\?' are not taken"):
        location("s3://bucket/x?secret_key=verysecret")
    with pytest.raises(StorageError, match="scheme hdfs:// is not one of"):
        location("hdfs://namenode/x")


def test_files_round_trip_on_the_server(s3_bucket: str) -> None:
    root = location(f"{s3_bucket}/area")
    (root / "a/one.txt").write_text("one")
    (root / "b.bin").write_bytes(b"\x00\x01")
    assert (root / "a/one.txt").read_text() == "one" and (root / "a/one.txt").is_file()
    assert [c.name for c in root.children()] == ["a", "b.bin"]
    assert dict(storage.walk(root)) == {"a/one.txt": 3, "b.bin": 2}
    (root / "a").copy_to(root / "c")
    assert (root / "c/one.txt").read_text() == "one"
    (root / "a").delete()
    assert not (root / "a/one.txt").exists() and (root / "c").is_dir()


def test_history_store_on_the_server_checks_checksums_and_identity(s3_bucket: str) -> None:
    """Written and read on the store itself; a garbled file or one copied to another day is
    damaged there too, never used."""
    root = location(f"{s3_bucket}/cache/history/key1")
    store = open_store(root)
    rng = np.random.default_rng(0)
    record = core.WorkerShift("w1", 2, rng.integers(0, 3, 60).astype(np.int16),
                              rng.random((60, 14)).astype(np.float32))  # fmt: skip
    for day in (1, 2, 3):
        store.write(post=2, shift="day", day=day, records=[record])
    assert store.days(post=2, shift="day") == [1, 2, 3]
    got = store.read(post=2, shift="day", days=[2])
    np.testing.assert_array_equal(got.positions[0], record.positions)
    np.testing.assert_array_equal(got.speeds[0], record.speeds)
    day = root / "post=2/shift=day"
    (day / "day=1.parquet").copy_to(day / "day=2.parquet")  # copied: another day's file
    data = bytearray((day / "day=3.parquet").read_bytes())
    data[200:260] = bytes(60)  # garbled data pages
    (day / "day=3.parquet").write_bytes(bytes(data))
    assert store.damaged(post=2, shift="day") == [2, 3]
    with pytest.raises(sim.StoreError, match=r"day 1 of records 'key1', not .* day 2"):
        store.read(post=2, shift="day", days=[2])
    store.remove(post=2, shift="day", day=3)
    assert store.days(post=2, shift="day") == [1, 2]


def test_staged_output_on_the_server_publishes_a_manifest_last(s3_bucket: str) -> None:
    out = location(f"{s3_bucket}/runs/demo")
    with staging.staged(out) as stage:
        assert stage.remote and stage.parent == out.parent and stage.name.startswith(".demo.")
        (stage / "tables/a.parquet").write_bytes(b"1234")
        (stage / staging.RESULTS).write_text("{}")
        assert not out.exists()  # nothing where readers look until it is complete
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["files"] == {"results.json": 2, "tables/a.parquet": 4}
    assert [c.name for c in out.parent.children()] == ["demo"]  # the stage is gone
    with contextlib.suppress(RuntimeError), staging.staged(out) as stage:
        (stage / staging.RESULTS).write_text('{"new": 1}')
        raise RuntimeError("interrupted")
    assert (out / staging.RESULTS).read_text() == "{}"  # left as it was
    assert [c.name for c in out.parent.children()] == ["demo"]
    storage.check_complete(out, option="SOURCE")
    (out / "tables/a.parquet").write_bytes(b"12")
    with pytest.raises(StorageError, match=r"incomplete or altered output: tables/a.parquet is 2"):
        storage.check_complete(out, option="SOURCE")


def _refused(capsys: pytest.CaptureFixture[str], argv: list[str], *, within_s: float = 10) -> str:
    """The one line a command refuses ``argv`` with (exit 2, within seconds, no secret)."""
    start = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - start < within_s
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert S3_SECRET not in err
    return err


@contextlib.contextmanager
def _auth_on(endpoint: str) -> Iterator[None]:
    """The server checks credentials (IAM) inside the block: unknown keys are denied."""
    import requests

    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        yield
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10)


def test_bad_locations_exit_2_in_one_line(
    s3_bucket: str, s3_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    scenario = str(write_yaml(tmp_path / "tiny.yaml", TINY))
    err = _refused(capsys, ["records", "check", "s3://no-such-bucket/records"])
    assert "s3://no-such-bucket/records: the bucket 'no-such-bucket' does not exist" in err
    location(f"{s3_bucket}/other/notes.txt").write_text("not a run")
    err = _refused(capsys, ["run", scenario, "--out", f"{s3_bucket}/other"])
    assert f"--out {s3_bucket}/other holds 1 entries (notes.txt)" in err and "not an output" in err
    err = _refused(capsys, ["run", scenario, "--out", "o", "--cache", f"{s3_bucket}/other"])
    assert f"--cache {s3_bucket}/other holds notes.txt besides a cache" in err
    err = _refused(capsys, ["records", "check", f"{s3_bucket}/other"])
    assert "is not a records folder: it has no records.json" in err
    err = _refused(capsys, ["stress", "--posts", "1", "--days", "1", "--out", f"{s3_bucket}/x"])
    assert "takes a local path here; object storage (s3://…) is taken by run and tune" in err
    with _auth_on(s3_server):
        err = _refused(capsys, ["run", scenario, "--out", f"{s3_bucket}/runs/a"])
    assert f"--out {s3_bucket}/runs/a: access denied: check the credentials" in err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    err = _refused(capsys, ["run", scenario, "--out", "o", "--cache", f"{s3_bucket}/cache"])
    assert f"--cache {s3_bucket}/cache: cannot reach the endpoint http://127.0.0.1:9" in err
    assert not (tmp_path / "o").exists() and not Path(".hazard-cache").exists()


def test_records_export_and_check_on_the_server(
    s3_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A records folder written to and checked on object storage is the local one, file for
    file; nothing is written to a local folder."""
    small = {**TINY, "shifts": {**TINY["shifts"], "length_s": 120, "breaks": []}}
    scenario = str(write_yaml(tmp_path / "small.yaml", small))
    before = sorted(p.name for p in tmp_path.iterdir())
    uri = f"{s3_bucket}/records/small"
    assert main(["records", "export", scenario, "--out", uri]) == 0
    assert main(["records", "export", scenario, "--out", str(tmp_path / "local")]) == 0
    capsys.readouterr()
    checked = []
    for folder in (uri, str(tmp_path / "local")):
        assert main(["records", "check", folder, "--json"]) == 0
        checked.append(json.loads(capsys.readouterr().out))
    assert checked[0].pop("folder") == uri
    assert checked[0] == {k: v for k, v in checked[1].items() if k != "folder"}
    assert checked[0]["worker_shifts"] > 0
    remote = dict(storage.walk(location(uri)))
    local = {p.relative_to(tmp_path / "local").as_posix(): p
             for p in (tmp_path / "local").rglob("*") if p.is_file()}  # fmt: skip
    assert remote.pop(MANIFEST) > 0 and set(remote) == set(local)
    for name, path in local.items():
        assert (location(uri) / name).read_bytes() == path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "local"])
