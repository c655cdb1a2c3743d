"""Look at a run's report as a person would: in a real headless Chromium, offline.

Opens the report, clicks the first link from a shift's table to a flagged worker's evidence
(an anchor of the same page), lets the page's scripts run, and checks that the evidence says
why the worker was named and that its interactive figures rendered (Plotly draws
``svg.main-svg`` elements); screenshots the report and the evidence into ``--out``. Two
places, the same page:

- ``RUN_DIR``: ``RUN_DIR/report.html`` from disk;
- ``--mlflow-run RUN_ID``: MLflow's own artifact view of the run's ``report.html`` on the
  tracking server ``MLFLOW_TRACKING_URI`` (MLflow shows an HTML artifact alone, in a
  sandboxed frame: links to other files and scripts loaded by path do not work there).

The browser reaches nothing but loopback (every other request goes to a closed proxy port)
and any request the report makes beyond the page is a problem. Exits 1 with the reasons when
something is missing. Talks to Chromium over its DevTools pipe (no extra package).

Needs Chromium (Debian: ``apt-get install chromium``).

Run: ``python3 experiments/check_report_in_browser.py runs/demo --out runs/demo-screens`` or
``MLFLOW_TRACKING_URI=http://127.0.0.1:5000 python3 experiments/check_report_in_browser.py
--mlflow-run RUN_ID``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--proxy-server=127.0.0.1:9",  # offline: all but loopback and file: goes to a closed port
    # MLflow's sandboxed frame in the page's process, so the check can read it
    "--disable-site-isolation-trials", "--disable-features=IsolateSandboxedIframes",
)  # fmt: skip
WAIT_S = 60.0
"""Longest wait for a page or a figure to appear (a deadline, not a pace)."""

PICK_LINK = """(() => {
  const shifts = document.getElementById("shifts");
  if (!shifts) return null;
  const link = [...document.querySelectorAll('a[href^="#e-"]')].find(
    (a) => shifts.compareDocumentPosition(a) & Node.DOCUMENT_POSITION_FOLLOWING);
  if (!link) return "";
  link.click();
  return link.getAttribute("href");
})()"""
EVIDENCE_STATE = """((id) => {
  const section = document.getElementById(id);
  if (!section) return null;
  const box = section.getBoundingClientRect();
  return {shown: box.top < innerHeight && box.bottom > 0,
          named: section.innerText.includes("Why the model named"),
          plots: section.querySelectorAll("svg.main-svg").length};
})(%s)"""


def chromium() -> str:
    """The Chromium executable, or exit with how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium found: apt-get install chromium")


class Browser:
    """Headless Chromium driven over ``--remote-debugging-pipe`` (fds 3 and 4, JSON + NUL)."""

    def __init__(self, profile: str) -> None:
        to_chrome, self._send_fd = os.pipe()
        self._recv_fd, from_chrome = os.pipe()

        def pipes() -> None:  # in the child: its fd 3 reads commands, fd 4 writes replies
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome, from_chrome)]
            for fd, target in zip(high, (3, 4), strict=True):
                os.dup2(fd, target, inheritable=True)

        self.proc = subprocess.Popen(
            [chromium(), *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "--window-size=1300,1600", "about:blank"],
            preexec_fn=pipes, close_fds=False, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chrome)
        os.close(from_chrome)
        self._next = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        """End Chromium and every process it started, and wait until all are gone.

        Its helpers (zygote, renderers, GPU and network services) keep writing to the profile
        for a moment after the browser process dies; the profile is removed only after they
        exit (removing it earlier failed with "Directory not empty").
        """
        helpers = _descendants(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the browser's group
        self.proc.wait()
        for proc in helpers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _gone, alive = psutil.wait_procs(helpers, timeout=WAIT_S)
        os.close(self._send_fd)
        os.close(self._recv_fd)
        if alive:
            raise RuntimeError(f"Chromium's processes {[p.pid for p in alive]} did not exit")

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events are kept in ``events``)."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._send_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._recv_fd, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(text)

    def page(self) -> str:
        """A session on the browser's page, with page and network events on."""
        target = next(t for t in self.call("Target.getTargets")["targetInfos"]
                      if t["type"] == "page")  # fmt: skip
        session = self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        sid = session["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable", sid)
        return sid

    def evaluate(self, sid: str, expression: str, context: int | None = None) -> Any:
        params: dict[str, Any] = {"expression": expression, "returnByValue": True}
        if context is not None:
            params["contextId"] = context
        result = self.call("Runtime.evaluate", sid, **params)
        return result["result"].get("value")

    def wait(self, what: str, probe: Any) -> Any:
        """``probe()`` once it is truthy, or raise naming ``what`` after :data:`WAIT_S`."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"{what} did not appear within {WAIT_S:g} s")

    def screenshot(self, sid: str, path: Path) -> None:
        data = self.call("Page.captureScreenshot", sid, format="png")["data"]
        path.write_bytes(base64.b64decode(data))


def _report_frame(browser: Browser, sid: str, mlflow: bool) -> int | None:
    """The execution context holding the report: the page's own, or MLflow's frame's."""
    if not mlflow:
        return None

    def frame() -> str | None:
        tree = browser.call("Page.getFrameTree", sid)["frameTree"]
        stack = list(tree.get("childFrames", []))
        while stack:
            node = stack.pop()
            if node["frame"]["url"].startswith("blob:"):  # MLflow's HTML view
                return node["frame"]["id"]
            stack += node.get("childFrames", [])
        return None

    frame_id = browser.wait("MLflow's HTML artifact frame", frame)
    world = browser.call("Page.createIsolatedWorld", sid, frameId=frame_id, worldName="check")
    return world["executionContextId"]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def check(url: str, out: Path, *, mlflow: bool = False) -> list[str]:
    """What a person would miss on the report at ``url``; empty when all is there."""
    out.mkdir(parents=True, exist_ok=True)
    problems = []
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(profile)
        try:
            sid = browser.page()
            browser.call("Page.navigate", sid, url=url)
            browser.wait("the page", lambda: browser.evaluate(
                sid, "document.readyState === 'complete'"))  # fmt: skip
            context = _report_frame(browser, sid, mlflow)
            browser.wait("the report's shift tables", lambda: browser.evaluate(
                sid, "!!document.getElementById('shifts')", context))  # fmt: skip
            browser.screenshot(sid, out / "report.png")
            link = browser.evaluate(sid, PICK_LINK, context)
            if not link:
                return ["no link from a shift to a flagged worker's evidence"]
            probe = EVIDENCE_STATE % json.dumps(link[1:])
            try:
                state = browser.wait(
                    f"the evidence {link} with 4 figures",
                    lambda: (s := browser.evaluate(sid, probe, context)) and s["plots"] >= 4 and s,
                )
            except TimeoutError as exc:
                state = browser.evaluate(sid, probe, context) or {}
                problems.append(f"{exc} (state: {state})")
            if state and not state.get("shown"):
                problems.append(f"the link {link} did not bring its evidence into view: {state}")
            if state and not state.get("named"):
                problems.append(f"the evidence {link} does not say why the worker was named")
            browser.screenshot(sid, out / "decision.png")
            problems += _outside_requests(browser, url, mlflow)
        finally:
            browser.close()
    return problems


def _outside_requests(browser: Browser, url: str, mlflow: bool) -> list[str]:
    """Requests the report made beyond itself (MLflow's app may load its own files)."""
    frames = {e["params"]["frame"]["id"] for e in browser.events
              if e.get("method") == "Page.frameNavigated"
              and e["params"]["frame"]["url"].startswith("blob:")}  # fmt: skip
    problems = []
    for e in browser.events:
        if e.get("method") != "Network.requestWillBeSent":
            continue
        request, frame = e["params"]["request"]["url"], e["params"].get("frameId")
        if mlflow and frame not in frames:
            continue  # MLflow's own page
        if not mlflow and request.split("#")[0] == url.split("#")[0]:
            continue
        if not request.startswith(("data:", "blob:")):
            problems.append(f"the report requested {request}")
    return problems


def mlflow_url(run_id: str) -> str:
    """MLflow's artifact view of the run's report.html on the tracking server."""
    server = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not server.startswith(("http://", "https://")):
        sys.exit("--mlflow-run needs MLFLOW_TRACKING_URI=http://HOST:PORT (an mlflow server)")
    with urllib.request.urlopen(
        f"{server.rstrip('/')}/api/2.0/mlflow/runs/get?run_id={run_id}", timeout=30
    ) as answer:
        experiment = json.load(answer)["run"]["info"]["experiment_id"]
    return f"{server.rstrip('/')}/#/experiments/{experiment}/runs/{run_id}/artifactPath/report.html"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("run_dir", type=Path, nargs="?", help="a run's output folder")
    where.add_argument("--mlflow-run", metavar="RUN_ID", help="a run on the MLflow server")
    parser.add_argument("--out", type=Path, default=Path("runs/report-screens"))
    args = parser.parse_args()
    if args.mlflow_run:
        url, mlflow = mlflow_url(args.mlflow_run), True
    else:
        url, mlflow = (args.run_dir / "report.html").resolve().as_uri(), False
    problems = check(url, args.out, mlflow=mlflow)
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        sys.exit(1)
    print(f"report and a decision's evidence render with their figures; screenshots in {args.out}")


if __name__ == "__main__":
    main()
