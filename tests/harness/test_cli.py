"""Bad input to every command: exit 2, one line naming the key, no traceback, no MLflow run.

Each case runs the real CLI in this process and must answer before any work: no Ray, no
output folder, no MLflow run. The table covers the kinds of bad input a hostile user tried:
unreadable or malformed files, out-of-range and non-finite numbers, unwritable paths,
unreachable outside systems.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import ray

from harness.cli import main
from tests.harness.conftest import REPO, tiny_scenario, write_yaml


def _scenario(tmp: Path, **changes) -> str:
    path = write_yaml(tmp / "s.yaml", tiny_scenario(**changes))
    path.write_text(path.read_text().replace("'@@'", "[[14:00, 15:00]]"))  # raw YAML
    return str(path)


def _text(tmp: Path, name: str, data: bytes | str) -> str:
    path = tmp / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def _file(tmp: Path) -> str:
    return _text(tmp, "a-file", "x")


def _results_dir(tmp: Path, text: str) -> str:
    folder = tmp / "run"
    folder.mkdir()
    (folder / "results.json").write_text(text)
    return str(folder)


def _run_folder(tmp: Path, *, results: Any = None, evidence: Any = None, raw: str = "") -> str:
    """A run folder: the report tests' results.json (or ``results``) and evidence.json
    (``evidence``, or the text ``raw``)."""
    from tests.harness.outputs.test_report import _results

    folder = tmp / "run"
    folder.mkdir(exist_ok=True)
    data = _results() if results is None else results
    (folder / "results.json").write_text(json.dumps(data))
    if raw or evidence is not None:
        (folder / "evidence.json").write_text(raw or json.dumps(evidence))
    return str(folder)


ESCAPE = "x/../../../ESCAPED"
"""A shift that would climb out of the run folder from ``decisions/d7-x``."""


def _escape(tmp: Path, *, planted: bool) -> str:
    """A run folder whose results and evidence name the shift :data:`ESCAPE` (with the
    ``decisions/`` entry that lets the climb resolve when ``planted``)."""
    from tests.harness.outputs.test_report import EVIDENCE, _results

    results = _results()
    results["shifts"][0]["shift"] = ESCAPE
    folder = _run_folder(tmp, results=results, evidence=[{**EVIDENCE, "shift": ESCAPE}])
    if planted:
        (tmp / "run" / "decisions" / "d7-x").mkdir(parents=True)
    return folder


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "fifo.yaml")
    return str(tmp / "fifo.yaml")


LAUGHS = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)
"""The 'billion laughs': 9 ** 10 values from a few hundred bytes."""
ALIAS_BOMB = "b: &b [" + ", ".join(["1"] * 1000) + "]\nc: [" + ", ".join(["*b"] * 2000) + "]\n"
"""Many aliases of one long list: two million values from 14 KB."""


def _weights_without(tmp: Path, key: str) -> str:
    """A copy of the shipped keypoint weights whose sidecar lacks ``key``."""
    import shutil

    from core.perception import onnx_path, sidecar_path
    from harness.weights import DEFAULT_KEYPOINT_WEIGHTS

    for source in (DEFAULT_KEYPOINT_WEIGHTS, onnx_path(DEFAULT_KEYPOINT_WEIGHTS)):
        shutil.copy(source, tmp / source.name)
    weights = tmp / DEFAULT_KEYPOINT_WEIGHTS.name
    sidecar = json.loads(sidecar_path(DEFAULT_KEYPOINT_WEIGHTS).read_text())
    del sidecar[key]
    sidecar_path(weights).write_text(json.dumps(sidecar))
    return str(weights)


def _garbage_checkpoint(tmp: Path) -> str:
    out = tmp / "net"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"\x80\x04garbage" * 50)
    return str(out)


def _fifo_evidence(tmp: Path) -> str:
    folder = _run_folder(tmp)
    os.mkfifo(tmp / "run" / "evidence.json")
    return folder


def _changed(path: str, value: Any, *, evidence: bool = False) -> Callable[[Path], str]:
    """A run folder whose results.json (or evidence.json) has ``value`` at the dotted ``path``."""
    from tests.harness.outputs.test_report import EVIDENCE, _results

    def make(tmp: Path) -> str:
        data = copy.deepcopy([EVIDENCE] if evidence else _results())
        *keys, last = path.split(".")
        node = data
        for key in keys:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[last] = value
        if evidence:
            return _run_folder(tmp, evidence=data)
        return _run_folder(tmp, results=data)

    return make


LINE = {"posts": 4, "correlation": "chain"}
CASES = [
    # run: the scenario file
    ("run-missing-file", lambda t: ["run", str(t / "nope.yaml"), "--out", "o"], "nope.yaml"),
    ("run-folder", lambda t: ["run", str(t), "--out", "o"], "is a folder"),
    ("run-not-utf8", lambda t: ["run", _text(t, "b.yaml", b"name: \xff\xfe\n"), "--out", "o"],
     "not UTF-8"),
    ("run-deep-yaml", lambda t: ["run", _text(t, "d.yaml", "a: " + "[" * 5000 + "]" * 5000),
                                 "--out", "o"], "nesting deeper"),
    ("run-duplicate-key", lambda t: ["run", _text(t, "k.yaml", "name: a\nname: b\n"),
                                     "--out", "o"], "key 'name' appears twice"),
    ("run-not-a-mapping", lambda t: ["run", _text(t, "l.yaml", "- 1\n"), "--out", "o"],
     "expected a mapping"),
    ("run-posts-huge", lambda t: ["run", _scenario(t, line={"posts": 10**9}), "--out", "o"],
     "line.posts"),
    ("run-length-huge", lambda t: ["run", _scenario(t, shifts={"length_s": 1e12}), "--out", "o"],
     "shifts.length_s"),
    ("run-history-huge", lambda t: ["run", _scenario(t, days={"history": 10**9}), "--out", "o"],
     "days.history"),
    ("run-fault-rate-huge", lambda t: ["run", _scenario(t, equipment={"fault_rate": 1e9}),
                                       "--out", "o"], "equipment.fault_rate"),
    ("run-per-post-huge", lambda t: ["run", _scenario(t, workers={"per_post": 10**6}),
                                     "--out", "o"], "workers.per_post"),
    ("run-dev-zero", lambda t: ["run", "/dev/zero", "--out", "o"], "not a regular file"),
    ("run-fifo", lambda t: ["run", _fifo(t), "--out", "o"], "not a regular file"),
    ("run-billion-laughs", lambda t: ["run", _text(t, "l.yaml", LAUGHS), "--out", "o"],
     "alias bomb"),
    ("run-alias-bomb", lambda t: ["run", _text(t, "b.yaml", ALIAS_BOMB), "--out", "o"],
     "alias bomb"),
    ("run-alias-cycle", lambda t: ["run", _text(t, "c.yaml", "a: &x [1, *x]\n"), "--out", "o"],
     "inside the value it names"),
    ("run-seed-400-digits", lambda t: ["run", _scenario(t, seed=10**400), "--out", "o"],
     "seed"),
    ("run-unknown-key", lambda t: ["run", _scenario(t, lines=LINE), "--out", "o"], "lines"),
    # issue 29: inputs no schema expected, named by their key
    ("run-seed-5000-digits", lambda t: ["run", _text(t, "h.yaml", "seed: " + "9" * 5000),
                                        "--out", "o"],
     "seed: expected a number, got an integer of 5000 digits"),
    ("run-deep-int", lambda t: ["run", _text(t, "h.yaml", "shifts: {breaks: [[0, " + "9" * 5000
                                             + "]]}"), "--out", "o"], "shifts.breaks[0][1]:"),
    ("run-list-key", lambda t: ["run", _text(t, "k.yaml", "name: x\n[a, b]: 1\n"), "--out", "o"],
     "the top level: a key at line 2 is a list"),
    ("run-mapping-key", lambda t: ["run", _text(t, "k.yaml", "line: {posts: 3, {a: 1}: 2}\n"),
                                   "--out", "o"], "line: a key at line 1 is a mapping"),
    ("run-base-60", lambda t: ["run", _scenario(t, shifts={"breaks": "@@"}), "--out", "o"],
     "reads as a base-60 number"),
    ("run-name-newline", lambda t: ["run", _scenario(t, name="a\nb"), "--out", "o"],
     "name: expected a name of 1 to 100 letters"),
    ("run-name-climbs", lambda t: ["run", _scenario(t, name="../../x"), "--out", "o"],
     "got '../../x'"),
    ("run-name-600", lambda t: ["run", _scenario(t, name="n" * 600), "--out", "o"],
     "got 600 characters"),
    ("run-per-day-float", lambda t: ["run", _scenario(t, shifts={"per_day": 2.0}), "--out", "o"],
     "shifts.per_day: expected a valid integer, got 2.0"),
    ("run-params-5000-digits", lambda t: ["run", _scenario(t), "--out", "o", "--params",
                                          _text(t, "p.yaml", "eps: " + "9" * 5000)],
     "eps: expected a number, got an integer of 5000 digits"),
    # run: options
    ("run-out-is-file", lambda t: ["run", _scenario(t), "--out", _file(t)], "--out"),
    ("run-out-under-file", lambda t: ["run", _scenario(t), "--out", _file(t) + "/x"], "--out"),
    ("run-out-read-only", lambda t: ["run", _scenario(t), "--out", "/proc/hh/out"], "--out"),
    # paths the OS would refuse deep in a command ("File name too long"), or that are no path
    ("run-out-empty", lambda t: ["run", _scenario(t), "--out", ""], "got an empty one"),
    ("run-out-name-300", lambda t: ["run", _scenario(t), "--out", "n" * 300],
     "names of at most 255, got 300 bytes"),
    ("run-out-path-6000", lambda t: ["run", _scenario(t), "--out", "/".join(["d" * 200] * 30)],
     "at most 4096 bytes"),
    ("run-out-newline", lambda t: ["run", _scenario(t), "--out", "a\nb"], "control characters"),
    ("run-cache-name-300", lambda t: ["run", _scenario(t), "--out", "o", "--cache", "n" * 300],
     "'--cache'"),
    ("report-source-5000", lambda t: ["report", "9" * 5000], "'SOURCE'"),
    ("ptrain-out-empty", lambda t: ["perception", "train", "--out", ""], "got an empty one"),
    ("run-cache-is-file", lambda t: ["run", _scenario(t), "--out", "o", "--cache", _file(t)],
     "--cache"),
    ("run-workers-0", lambda t: ["run", _scenario(t), "--out", "o", "--workers", "0"],
     "--workers"),
    ("run-workers-huge", lambda t: ["run", _scenario(t), "--out", "o", "--workers", "100000"],
     "--workers"),
    ("run-workers-text", lambda t: ["run", _scenario(t), "--out", "o", "--workers", "two"],
     "--workers"),
    ("run-timeout-nan", lambda t: ["run", _scenario(t), "--out", "o", "--timeout", "nan"],
     "--timeout"),
    ("run-timeout-0", lambda t: ["run", _scenario(t), "--out", "o", "--timeout", "0"],
     "--timeout"),
    ("run-fidelity", lambda t: ["run", _scenario(t), "--out", "o", "--fidelity", "pixels"],
     "--fidelity"),
    ("run-history-fidelity", lambda t: ["run", _scenario(t), "--out", "o",
                                        "--history-fidelity", "video"], "--history-fidelity"),
    ("run-pixel-days-negative", lambda t: ["run", _scenario(t), "--out", "o", "--pixel-days",
                                           "-1"], "--pixel-days"),
    ("run-pixel-days-too-many", lambda t: ["run", _scenario(t), "--out", "o", "--pixel-days",
                                           "99"], "--pixel-days must be at most"),
    ("run-pixel-days-all-pixel", lambda t: ["run", _scenario(t), "--out", "o", "--pixel-days",
                                            "1", "--fidelity", "pixel"], "--pixel-days applies"),
    ("run-params-missing", lambda t: ["run", _scenario(t), "--out", "o", "--params", "no.yaml"],
     "no.yaml"),
    ("run-params-bad", lambda t: ["run", _scenario(t), "--out", "o", "--params",
                                  _text(t, "p.yaml", "lam: 2\n")], "ModelParams.lam"),
    ("run-params-dev-zero", lambda t: ["run", _scenario(t), "--out", "o", "--params",
                                       "/dev/zero"], "not a regular file"),
    ("run-params-400-digits", lambda t: ["run", _scenario(t), "--out", "o", "--params",
                                         _text(t, "p.yaml", "tau_D: 1" + "0" * 400)],
     "tau_D: expected a number, got an integer of 401 digits"),
    ("run-graders-superscript", lambda t: ["run", _scenario(t), "--out", "o", "--graders",
                                           "²=1"], "--graders"),
    ("run-graders-400-digits", lambda t: ["run", _scenario(t), "--out", "o", "--graders",
                                          "1=" + "9" * 400], "--graders"),
    ("run-weights-no-metadata", lambda t: ["run", _scenario(t), "--out", "o", "--fidelity",
                                           "pixel", "--keypoint-weights",
                                           _weights_without(t, "metadata")], "`metadata`"),
    ("run-timeout-huge", lambda t: ["run", _scenario(t), "--out", "o", "--timeout", "1e300"],
     "--timeout"),
    ("run-graders", lambda t: ["run", _scenario(t), "--out", "o", "--graders", "best"],
     "--graders"),
    ("run-weights-missing", lambda t: ["run", _scenario(t), "--out", "o", "--fidelity", "pixel",
                                       "--keypoint-weights", "w.safetensors"], "w.safetensors"),
    ("run-address-bad", lambda t: ["run", _scenario(t), "--out", "o", "--address", "nohost"],
     "--address"),
    ("run-address-closed", lambda t: ["run", _scenario(t), "--out", "o", "--address",
                                      "127.0.0.1:9"], "cannot reach the Ray cluster"),
    ("run-unknown-option", lambda t: ["run", _scenario(t), "--out", "o", "--fast"], "--fast"),
    # stress
    ("stress-posts-0", lambda t: ["stress", "--posts", "0", "--days", "1"], "--posts"),
    ("stress-posts-huge", lambda t: ["stress", "--posts", "1000000000", "--days", "1"],
     "--posts"),
    ("stress-posts-float", lambda t: ["stress", "--posts", "1e9", "--days", "1"], "--posts"),
    ("stress-days-missing", lambda t: ["stress", "--posts", "2"], "--days"),
    ("stress-per-post-0", lambda t: ["stress", "--posts", "2", "--days", "1",
                                     "--workers-per-post", "0"], "--workers-per-post"),
    ("stress-length-huge", lambda t: ["stress", "--posts", "2", "--days", "1", "--length-s",
                                      "1000000"], "--length-s"),
    ("stress-out-file", lambda t: ["stress", "--posts", "2", "--days", "1", "--out", _file(t)],
     "--out"),
    # report
    ("report-missing", lambda t: ["report", str(t / "nothing-here")], "nothing-here"),
    ("report-missing-path", lambda t: ["report", "../../nowhere"], "no run folder, and not"),
    ("report-empty-folder", lambda t: ["report", str(t)], "holds no results.json"),
    ("report-bad-json", lambda t: ["report", _results_dir(t, "{not json")], "not valid JSON"),
    ("report-not-results", lambda t: ["report", _results_dir(t, "[1, 2]")],
     "not a results.json"),
    ("report-escape-planted", lambda t: ["report", _escape(t, planted=True)],
     "shifts.0.shift: String should match pattern"),
    ("report-escape", lambda t: ["report", _escape(t, planted=False)], "shifts.0.shift"),
    ("report-escape-evidence-only", lambda t: ["report", _changed("0.shift", ESCAPE,
                                               evidence=True)(t)], "0.shift: String should"),
    ("report-evidence-garbage", lambda t: ["report", _run_folder(t, raw="\x00garbage")],
     "evidence file"),
    ("report-evidence-truncated", lambda t: ["report", _run_folder(t, raw='[{"worker": "b"')],
     "not valid JSON"),
    ("report-evidence-empty-entry", lambda t: ["report", _run_folder(t, evidence=[{}])],
     "0.worker: Field required"),
    ("report-evidence-mapping", lambda t: ["report", _run_folder(t, evidence={"a": 1})],
     "is not an evidence.json"),
    ("report-evidence-no-history", lambda t: ["report", _changed("0.history", {"Z": []},
                                              evidence=True)(t)], "0.history.Y: Field required"),
    ("report-evidence-no-bins", lambda t: ["report", _changed("0.bins", {}, evidence=True)(t)],
     "0.bins.t_min: Field required"),
    ("report-evidence-stranger", lambda t: ["report", _changed("0.worker", "zed",
                                            evidence=True)(t)], "no worker-shift of the run"),
    ("report-evidence-fifo", lambda t: ["report", _fifo_evidence(t)], "not a regular file"),
    ("report-level-99", lambda t: ["report", _changed("shifts.0.posts.0.level", 99)(t)],
     "shifts.0.posts.0.level"),
    ("report-cause-off-set", lambda t: ["report", _changed("shifts.0.posts.0.set", [1])(t)],
     "root_causes[0].post 2 is not in the hazard set [1]"),
    ("report-hazard-post-99", lambda t: ["report", _changed(
        "shifts.0.root_causes.0.hazard_post", 99)(t)], "shifts.0: root_causes[0].hazard_post 99 is not"),
    ("report-hazard-post-not-hazard", lambda t: ["report", _changed(
        "shifts.0.posts.0.hazard", False)(t)], "hazard_post 1 is not a hazard post"),
    ("report-f1-text", lambda t: ["report", _changed("metrics.root_cause", {"f1": "x"})(t)],
     "root_cause.f1 (root-cause F1 (worker level)) must be a number"),
    ("report-seed-text", lambda t: ["report", _changed("seed", "5")(t)], "seed"),
    ("report-params-bad", lambda t: ["report", _changed("params", {"tau_D": "x"})(t)],
     "ModelParams.tau_D"),
    ("report-worker-path", lambda t: ["report", _run_folder(t), "--worker", "../../etc/passwd",
                                      "--out", "o"], "--worker must be an id"),
    ("report-out-file", lambda t: ["report", _results_dir(t, json.dumps(
        {"scenario": "x", "params": {}, "shifts": [], "metrics": {}})), "--out", _file(t)],
     "--out"),
    # tune
    ("tune-trials-0", lambda t: ["tune", _scenario(t), "--out", "o", "--trials", "0"],
     "--trials"),
    ("tune-seed-negative", lambda t: ["tune", _scenario(t), "--out", "o", "--seed", "-1"],
     "--seed"),
    ("tune-objective", lambda t: ["tune", _scenario(t), "--out", "o", "--objective", "f1"],
     "unknown objective"),
    ("tune-range", lambda t: ["tune", _scenario(t), "--out", "o", "--range", "tau_D=1"],
     "--range"),
    ("tune-range-nan", lambda t: ["tune", _scenario(t), "--out", "o", "--range", "tau_D=nan:1"],
     "--range"),
    ("tune-tunable", lambda t: ["tune", _scenario(t), "--out", "o", "--tune", "tau_X"],
     "did you mean 'tau_"),
    ("tune-holdout", lambda t: ["tune", _scenario(t), "--out", "o", "--holdout-days", "9"],
     "--holdout-days"),
    ("tune-holdout-word", lambda t: ["tune", _scenario(t), "--out", "o", "--holdout-days",
                                     "most"], "expected auto or a whole number, got 'most'"),
    ("tune-max-holdout-fixed", lambda t: ["tune", _scenario(t), "--out", "o", "--holdout-days",
                                          "1", "--max-holdout-days", "9"], "--max-holdout-days"),
    ("tune-storage-folder", lambda t: ["tune", _scenario(t), "--out", "o", "--storage", str(t)],
     "--storage"),
    ("tune-storage-device", lambda t: ["tune", _scenario(t), "--out", "o", "--storage",
                                       "/dev/zero"], "not a regular file"),
    ("tune-storage-url", lambda t: ["tune", _scenario(t), "--out", "o", "--storage",
                                    "nosuchdb://x"], "cannot be opened"),
    ("tune-trials-huge", lambda t: ["tune", _scenario(t), "--out", "o", "--trials",
                                    "1000000000"], "--trials"),
    ("tune-batch-huge", lambda t: ["tune", _scenario(t), "--out", "o", "--batch-size",
                                   "1000000000"], "--batch-size"),
    ("tune-seed-400-digits", lambda t: ["tune", _scenario(t), "--out", "o", "--seed",
                                        "9" * 400], "--seed"),
    ("tune-batch-0", lambda t: ["tune", _scenario(t), "--out", "o", "--batch-size", "0"],
     "--batch-size"),
    ("tune-study-empty", lambda t: ["tune", _scenario(t), "--out", "o", "--study", ""],
     "--study must be a name of 1 to 200 printable characters"),
    ("tune-study-newline", lambda t: ["tune", _scenario(t), "--out", "o", "--study", "a\nb"],
     "--study must be"),
    ("tune-window-past-history", lambda t: ["tune", _scenario(t), "--out", "o", "--range",
                                            "history_window_days=10:500"],
     "reaches past the 6 days of history before the first evaluated day"),
    ("tune-storage-long-name", lambda t: ["tune", _scenario(t), "--out", "o", "--storage",
                                          "n" * 300 + ".journal"], "names of at most 255"),
    ("tune-storage-newline", lambda t: ["tune", _scenario(t), "--out", "o", "--storage",
                                        "a\nb.journal"], "without control characters"),
    ("tune-storage-in-memory", lambda t: ["tune", _scenario(t), "--out", "o", "--storage",
                                          "sqlite://"], "in-memory SQLite database"),
    ("tune-tunable-twice", lambda t: ["tune", _scenario(t), "--out", "o", "--tune",
                                      "tau_D,tau_Y,tau_D"], "got tau_D more than once"),
    # train
    ("train-posts", lambda t: ["train", _scenario(t), "--out", "o", "--posts", "0,9"],
     "--posts"),
    ("train-epochs", lambda t: ["train", _scenario(t), "--out", "o", "--epochs", "0"],
     "--epochs"),
    ("train-posts-twice", lambda t: ["train", _scenario(t), "--out", "o", "--posts", "1,1"],
     "--posts names post 1 more than once"),
    ("train-posts-5000-digits", lambda t: ["train", _scenario(t), "--out", "o", "--posts",
                                           "9" * 5000], "--posts must be 'all' or post numbers"),
    ("train-device", lambda t: ["train", _scenario(t), "--out", "o", "--device", "tpu"],
     "--device"),
    ("train-augment-huge", lambda t: ["train", _scenario(t), "--out", "o", "--augment",
                                      "1000000000"], "--augment"),
    ("train-trials-huge", lambda t: ["train", _scenario(t), "--out", "o", "--trials",
                                     "1000000000"], "--trials"),
    ("train-cuda", lambda t: ["train", _scenario(t), "--out", "o", "--device", "cuda"],
     "CUDA"),
    # perception
    ("ptrain-steps", lambda t: ["perception", "train", "--out", "o", "--steps", "0"], "--steps"),
    ("ptrain-batch", lambda t: ["perception", "train", "--out", "o", "--batch-size", "-3"],
     "--batch-size"),
    ("ptrain-threads", lambda t: ["perception", "train", "--out", "o", "--threads", "0"],
     "--threads"),
    ("ptrain-channels-huge", lambda t: ["perception", "train", "--out", "o", "--channels",
                                        "100000,100000,100000"], "--channels"),
    ("ptrain-batch-huge", lambda t: ["perception", "train", "--out", "o", "--batch-size",
                                     "1000000000"], "--batch-size"),
    ("ptrain-threads-huge", lambda t: ["perception", "train", "--out", "o", "--threads",
                                       "100000"], "--threads"),
    ("ptrain-data-workers-huge", lambda t: ["perception", "train", "--out", "o",
                                            "--data-workers", "100000"], "--data-workers"),
    ("ptrain-garbage-checkpoint", lambda t: ["perception", "train", "--out",
                                             _garbage_checkpoint(t), "--steps", "1"],
     "cannot be resumed (UnpicklingError"),
    ("ptrain-out-file", lambda t: ["perception", "train", "--out", _file(t)], "--out"),
    ("peval-frames", lambda t: ["perception", "eval", "--out", "o", "--frames", "0"],
     "--frames"),
    ("peval-frames-huge", lambda t: ["perception", "eval", "--out", "o", "--frames",
                                     "1000000000"], "--frames"),
    ("peval-frames-1", lambda t: ["perception", "eval", "--out", "o", "--frames", "1"],
     "--frames"),
    ("peval-weights-no-metadata", lambda t: ["perception", "eval", "--out", "o", "--weights",
                                             _weights_without(t, "metadata")], "`metadata`"),
    ("peval-length-nan", lambda t: ["perception", "eval", "--out", "o", "--length-s", "nan"],
     "--length-s"),
    ("peval-grading-seconds", lambda t: ["perception", "eval", "--out", "o",
                                         "--grading-seconds", "0"], "--grading-seconds"),
    ("peval-weights-missing", lambda t: ["perception", "eval", "--out", "o", "--weights",
                                         "none.safetensors"], "none.safetensors"),
    ("peval-weights-garbage", lambda t: ["perception", "eval", "--out", "o", "--weights",
                                         _text(t, "w.safetensors", b"\x00garbage" * 100)],
     "w.safetensors"),
    ("peval-out-file", lambda t: ["perception", "eval", "--out", _file(t)], "--out"),
    # records fit
    ("fit-not-records", lambda t: ["records", "fit", str(t), "--out", "t.yaml"],
     "is not a records folder"),
    ("fit-out-not-yaml", lambda t: ["records", "fit", str(t), "--out", "o"], "ending .yaml"),
    ("fit-out-under-file", lambda t: ["records", "fit", str(t), "--out",
                                      _file(t) + "/t.yaml"], "is a file, not a folder"),
    ("fit-seed", lambda t: ["records", "fit", str(t), "--out", "t.yaml", "--seed", "-1"],
     "--seed"),
    ("fit-workers", lambda t: ["records", "fit", str(t), "--out", "t.yaml", "--workers", "0"],
     "--workers"),
    ("unknown-command", lambda t: ["runn", "x"], "Did you mean 'run'"),
]  # fmt: skip


def _runs(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("select count(*) from runs").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.mark.parametrize(("name", "argv", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(name, argv, expected, tmp_path, capsys):
    args = argv(tmp_path)
    code = main(args)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (name, out, err)
    assert len(lines) == 1, lines
    assert "Traceback" not in err and expected in lines[0], lines[0]
    assert lines[0].startswith("hazard-harness"), lines[0]
    assert not ray.is_initialized()
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.rglob("*ESCAPED*")) and not list(tmp_path.rglob("report.html"))
    assert _runs(tmp_path / "mlflow.db") == 0


def _garbage_db(tmp: Path) -> str:
    (tmp / "g.db").write_bytes(b"not a database" * 100)
    return f"sqlite:///{tmp / 'g.db'}"


TRACKING_URIS = [
    ("gopher", lambda t: "gopher://x", "MLFLOW_TRACKING_URI 'gopher://x': expected http(s)://"),
    ("sqlite-folder", lambda t: f"sqlite:///{t}", "is a folder; expected a SQLite file"),
    ("sqlite-garbage", _garbage_db, "is not a SQLite database"),
    ("sqlite-device", lambda t: "sqlite:////dev/zero", "is not a regular file"),
    ("sqlite-unwritable", lambda t: "sqlite:////proc/hh/mlflow.db", "cannot be written"),
    ("file-proc", lambda t: "file:///proc/mlruns", "cannot be written"),
    ("folder-under-file", lambda t: _file(t) + "/mlruns", "is a file, not a folder"),
    # issue 29: each once a traceback
    ("sqlite-one-slash", lambda t: "sqlite:/m.db", "'sqlite:/m.db': expected sqlite:///FILE"),
    ("sqlite-memory", lambda t: "sqlite://", "expected sqlite:///FILE"),
    ("http-malformed-host", lambda t: "http://exa mple:5000", "expected http(s)://HOST[:PORT]"),
    ("http-bad-ipv6", lambda t: "http://[::1", "expected http(s)://HOST[:PORT]"),
    ("http-port-out-of-range", lambda t: "http://127.0.0.1:99999", "a port in 1..65535"),
    (
        "postgresql-no-driver",
        lambda t: "postgresql://u:p@127.0.0.1:9/db",
        "its database driver 'psycopg' is not installed here: pip install psycopg[binary]",
    ),
    (
        "mysql-no-driver",
        lambda t: "mysql+pymysql://u@127.0.0.1:9/db",
        "its database driver 'pymysql' is not installed here: pip install PyMySQL",
    ),
    (
        "databricks-no-credentials",
        lambda t: "databricks",
        "no Databricks credentials: export DATABRICKS_HOST and DATABRICKS_TOKEN",
    ),
    ("databricks-profile", lambda t: "databricks://nosuch", "add a [nosuch] profile"),
    ("folder-store", lambda t: str(t / "mlruns"), "a folder store, which this MLflow keeps"),
    ("newline", lambda t: f"sqlite:///{t}/a\nb.db", "holds a control character"),
]


@pytest.mark.parametrize(("name", "uri", "expected"), TRACKING_URIS,
                         ids=[c[0] for c in TRACKING_URIS])  # fmt: skip
def test_a_tracking_uri_mlflow_cannot_use_is_refused_in_one_line(
    name, uri, expected, tmp_path, monkeypatch, capsys
):
    for variable in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri(tmp_path))
    code = main(["run", _scenario(tmp_path), "--out", "o", "--timeout", "2"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and expected in lines[0], lines
    assert not (tmp_path / "o").exists()


@pytest.mark.slow  # a wall-clock bound: out of the default suite
def test_unreachable_mlflow_server_is_reported_in_seconds(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    start = time.perf_counter()
    code = main(["run", _scenario(tmp_path), "--out", "o", "--timeout", "2"])
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - start < 10
    assert "MLFLOW_TRACKING_URI 'http://127.0.0.1:9'" in err
    assert "the MLflow tracking server does not answer http://127.0.0.1:9/health" in err
    assert len(err.strip().splitlines()) == 1


def test_a_web_server_that_is_not_mlflow_is_named_as_such(tmp_path, monkeypatch, capsys):
    """It answers /health (many servers do) but not MLflow's REST API: one line, in seconds."""
    import http.server
    import threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = self.path == "/health"
            self.send_response(200 if ok else 404)
            self.end_headers()
            self.wfile.write(b"OK" if ok else b"<html>not found</html>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{server.server_port}")
        code = main(["run", _scenario(tmp_path), "--out", "o", "--timeout", "3"])
    finally:
        server.shutdown()
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "answers /health but is not an MLflow tracking server (HTTP 404" in lines[0]


def test_ray_address_that_is_not_a_ray_cluster_is_named(tmp_path, capsys):
    import socket

    with socket.socket() as server:  # something listens, but it is not a Ray GCS
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = main(["run", _scenario(tmp_path), "--out", "o", "--address", f"127.0.0.1:{port}",
                     "--timeout", "2"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "does not answer as a Ray cluster's GCS" in err


def test_help_and_version_are_fast_and_import_nothing_heavy():
    code = (
        "import sys, time; t = time.perf_counter(); from harness.cli import main; "
        "rc = main(['--help']); assert rc == 0; "
        "heavy = [m for m in ('numpy', 'torch', 'ray', 'mlflow', 'optuna', 'cv2') "
        "if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[]"), done.stdout
    version = subprocess.run(
        [sys.executable, "-m", "harness.cli", "--version"], capture_output=True, text=True,
        cwd=REPO, timeout=60,
    )  # fmt: skip
    assert version.stdout.startswith("hazard-harness ")


def test_signal_paths_and_ray_tasks_never_import_torch():
    # torch is seconds of every Ray worker's start: only the pixel path may bring it
    code = (
        "import sys; import harness.commands.run, harness.commands.stress, harness.records, "
        "harness.evaluation.scoring, harness.evaluation.history; "
        "print([m for m in ('torch', 'cv2', 'onnxruntime') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_defaults_are_shown_in_help(capsys):
    assert main(["stress", "--help"]) == 0
    text = capsys.readouterr().out
    assert "[default: 28800;" in text and "HAZARD_HARNESS_CACHE" in text


@pytest.mark.slow
def test_a_piped_run_prints_no_progress_frames_and_no_library_notices(tmp_path):
    import os

    from tests.harness.conftest import TINY

    scenario = write_yaml(tmp_path / "tiny.yaml", TINY)
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "HAZARD_HARNESS_CACHE": str(tmp_path / "cache")}  # fmt: skip
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", "out",
         "--workers", "1", "--graders", "truth"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    console = done.stdout + done.stderr
    assert "\r" not in console and done.stderr == ""
    for notice in ("Token authentication", "View run", "INFO", "WARNING", "alembic"):
        assert notice not in console
    assert console.splitlines()[0].startswith("root-cause F1")
    log = (tmp_path / "out" / "harness.log").read_text()
    assert "Started a local Ray instance" in log  # Ray's notice went to the run's log file


def test_address_auto_with_a_stopped_clusters_address_file_is_named_in_seconds(
    tmp_path, monkeypatch, capsys
):
    """A ``ray start`` cluster that was stopped leaves its address file; Ray's own ``auto``
    hung 12 minutes on it, past --timeout and Ctrl-C."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}\n")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    for argv, env in ((["--address", "auto"], None), ([], "auto")):
        if env:
            monkeypatch.setenv("RAY_ADDRESS", env)
        code = main(["run", _scenario(tmp_path), "--out", "o", "--timeout", "2", *argv])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(lines) == 1, lines
        assert f"cannot reach the Ray cluster at '127.0.0.1:{port}'" in lines[0]
        assert "--address auto:" in lines[0] and "ray_current_cluster" in lines[0]
    (tmp_path / "ray" / "ray_current_cluster").unlink()
    assert main(["run", _scenario(tmp_path), "--out", "o", "--address", "auto"]) == 2
    assert "no Ray cluster was started on this host" in capsys.readouterr().err
    assert not ray.is_initialized()


def test_a_ray_client_address_that_is_no_client_server_is_named(tmp_path, capsys):
    import socket

    with socket.socket() as server:  # something listens, but it is not a Ray client server
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = main(["run", _scenario(tmp_path), "--out", "o", "--address",
                     f"ray://127.0.0.1:{port}", "--timeout", "2"])  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert "does not answer as a Ray client server" in lines[0]
