"""Benchmark of a records folder streamed through the run pipeline: memory and rows/s.

1. A synthetic line (``--posts`` posts, one worker each, two shifts of ``--length-s`` at
   1 Hz, ``--history-days`` + ``--evaluate-days`` days) is exported as a records folder
   (``records export``'s code; not timed). An existing folder can be given instead.
2. On a local Ray with ``--workers`` workers, timed: the records are checked and stored post
   by post (:meth:`harness.records.Records.prepare`: one task per post reads only its rows),
   then scored against the rolling post databases (:func:`harness.evaluation.scoring.score_posts`)
   and decided on the driver, as ``run`` does (no MLflow, report or evidence).
3. A sampler thread reads the resident memory of this driver and of its Ray worker processes
   (``ray::…``) every 0.1 s: the peaks, beside the folder's size on disk and in memory (rows ×
   the bytes of a row's 14 speeds, area and keys), show that the driver never holds the rows.
4. With ``--s3``, the same again with the records folder and the cache on object storage: a
   local S3 server (moto's, in its own process, started and stopped here) holds a copy of the
   folder (uploaded, not timed); the Ray tasks read their rows and write the store there
   themselves. Its rows/s are printed beside the local folder's, measured in the same process.

Run: PYTHONPATH=. python3 experiments/benchmarks/bench_records.py --posts 40 --history-days 10
     PYTHONPATH=. python3 experiments/benchmarks/bench_records.py --posts 8 --s3
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
sys.path.insert(0, str(ROOT))
ROW_BYTES = 14 * 4 + 2 + 4 * 3 + 16
"""A ``seconds`` row in memory: 14 float32 speeds, int16 area, int32 day/post/t, ids."""


@dataclass
class Config:
    posts: int = 40
    """Posts on the line (one worker per post and shift)."""
    history_days: int = 10
    """Days before the evaluated ones."""
    evaluate_days: int = 2
    """Evaluated days."""
    length_s: int = 3600
    """Shift length in seconds (1 Hz; two shifts a day)."""
    workers: int = 2
    """Ray workers."""
    folder: str = ""
    """An existing records folder to use instead of exporting one."""
    cache: str = ""
    """Where the ingested store goes (default: a temporary folder)."""
    s3: bool = False
    """Also time the folder and the cache on a local S3 server (moto's)."""


class Peaks:
    """Peak resident memory of this process and of its Ray worker processes, sampled."""

    def __init__(self, every_s: float = 0.1) -> None:
        import psutil

        self._me = psutil.Process()
        self.driver = self.worker = 0
        self._stop = threading.Event()
        self._every = every_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._every)

    def sample(self) -> None:
        import psutil

        self.driver = max(self.driver, self._me.memory_info().rss)
        for child in self._me.children(recursive=True):
            try:
                if child.name().startswith("ray::"):
                    self.worker = max(self.worker, child.memory_info().rss)
            except psutil.Error:
                continue

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def export(config: Config, folder: Path) -> None:
    import sim
    from harness.records import export_scenario

    scenario = sim.load_scenario({
        "name": f"bench-records-{config.posts}",
        "seed": 1,
        "line": {"posts": config.posts},
        "shifts": {"per_day": 2, "length_s": config.length_s},
        "days": {"history": config.history_days, "evaluate": config.evaluate_days},
        "workers": {"cast": [{"post": 1, "profile": "wanderer"}]},
        "equipment": {"fault_rate": 0.1},
    })  # fmt: skip
    export_scenario(scenario, folder)


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server in its own process on a free local port, the standard AWS variables
    pointing at it; yields ``s3://BUCKET`` of a new bucket."""
    import socket
    import subprocess

    import boto3

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench-secret", AWS_REGION="us-east-1")  # fmt: skip
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        for _ in range(100):
            try:
                client.create_bucket(Bucket="bench")
                break
            except Exception:  # the server is still starting
                time.sleep(0.1)
        yield "s3://bench"
    finally:
        server.terminate()
        server.wait(timeout=30)


def timed(recorded: Any, cache: Any, config: Config, session: Any) -> dict[str, Any]:
    """Ingest, score and decide the records on Ray (started): seconds and memory peaks."""
    import core
    from harness.evaluation.decisions import decide_shifts
    from harness.evaluation.scoring import group_by_shift, score_posts

    params = core.ModelParams()
    with Peaks() as peaks:
        start = time.perf_counter()
        root, source = recorded.prepare(cache, max_in_flight=session.max_in_flight,
                                        progress=False)  # fmt: skip
        ingest_s = time.perf_counter() - start
        by_shift = group_by_shift(score_posts(
            recorded.scenario, root, params, max_in_flight=session.max_in_flight,
            progress=False, source=source,
        ))  # fmt: skip
        levels_of, _ = recorded.levels_source("auto")
        shifts = decide_shifts(recorded.scenario, by_shift, params, levels_of=levels_of,
                               states_of=recorded.states)  # fmt: skip
        total_s = time.perf_counter() - start
    task_peak = max(ps.peak_rss for post in by_shift.values() for ps in post.values())
    return {"ingest_s": ingest_s, "total_s": total_s, "shifts": len(shifts),
            "driver": peaks.driver, "worker": max(peaks.worker, task_peak)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Config):
        kind = {"type": type(f.default)} if f.type != "bool" else {"action": "store_true"}
        parser.add_argument(f"--{f.name.replace('_', '-')}", default=f.default, **kind)
    config = Config(**vars(parser.parse_args()))
    work = Path(tempfile.mkdtemp(prefix="bench-records-"))
    folder = Path(config.folder) if config.folder else work / "records"
    if not config.folder:
        start = time.perf_counter()
        export(config, folder)
        print(f"exported {folder} in {time.perf_counter() - start:.1f} s", file=sys.stderr)

    from harness import records
    from harness.adapters.ray_cluster import ray_session, warm_workers
    from harness.runtime.storage import location, walk

    recorded = records.load(folder)
    m = recorded.manifest
    rows = sum(pq.ParquetFile(p.open_input()).metadata.num_rows for p in m.seconds_files())
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    cache = Path(config.cache) if config.cache else work / "cache"
    with contextlib.ExitStack() as stack:
        bucket = stack.enter_context(s3_server()) if config.s3 else None
        session = stack.enter_context(ray_session(address=None, workers=config.workers, timeout=10))
        warm_workers(config.workers, module="harness.records")
        local = timed(recorded, cache, config, session)
        if bucket is not None:
            remote = location(f"{bucket}/records")
            for name, _ in walk(location(str(folder))):
                (remote / name).write_bytes((folder / name).read_bytes())
            on_s3 = timed(records.load(remote), f"{bucket}/cache", config, session)
    ingest_s, total_s = local["ingest_s"], local["total_s"]
    report = {
        "posts": m.posts,
        "days": m.days,
        "shifts_per_day": len(m.shifts),
        "T": m.T,
        "workers": config.workers,
        "rows": rows,
        "folder_disk_MB": round(disk / 2**20, 1),
        "rows_in_memory_MB": round(rows * ROW_BYTES / 2**20, 1),
        "ingest_s": round(ingest_s, 2),
        "ingest_rows_per_s": round(rows / ingest_s),
        "total_s": round(total_s, 2),
        "rows_per_s": round(rows / total_s),
        "evaluated_shifts": local["shifts"],
        "driver_peak_MB": round(local["driver"] / 2**20, 1),
        "worker_peak_MB": round(local["worker"] / 2**20, 1),
    }
    if config.s3:
        report["s3"] = {
            "ingest_rows_per_s": round(rows / on_s3["ingest_s"]),
            "rows_per_s": round(rows / on_s3["total_s"]),
            "vs_local_folder": round(local["total_s"] / on_s3["total_s"], 2),
            "driver_peak_MB": round(on_s3["driver"] / 2**20, 1),
            "same_shifts": on_s3["shifts"] == local["shifts"],
        }
    shutil.rmtree(work, ignore_errors=True)  # what this script made (exported folder, store)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
