"""Look at a run's report as a person would: in a real headless Chromium.

Loads ``RUN_DIR/report.html``, follows the first link from a shift's table to a flagged
worker's evidence section (an anchor of the same page), lets the page's scripts run, and
checks that the decision and its interactive figures rendered (Plotly draws ``svg.main-svg``
elements), with no network (the page is self-contained); screenshots both views into
``--out``. Exits 1 with the reason when something is missing.

Needs Chromium (Debian: ``apt-get install chromium``).

Run: ``python3 experiments/check_report_in_browser.py runs/demo --out runs/demo-screens``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=10000", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
)  # fmt: skip
"""Headless, and offline: every request but ``file:`` goes to a closed port."""


def chromium() -> str:
    """The Chromium executable, or exit with how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium found: apt-get install chromium")


def browse(page: Path, *, profile: str, anchor: str = "", screenshot: Path | None = None) -> str:
    """The page's DOM after its scripts ran, opened at ``anchor`` (and a screenshot of it)."""
    extra = [f"--screenshot={screenshot}", "--window-size=1300,2400"] if screenshot else []
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, "--dump-dom",
         page.resolve().as_uri() + anchor],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


def check(run_dir: Path, out: Path) -> list[str]:
    """What a person would miss on the report; empty when all is there."""
    out.mkdir(parents=True, exist_ok=True)
    problems = []
    with tempfile.TemporaryDirectory() as profile:
        report = run_dir / "report.html"
        dom = browse(report, profile=profile, screenshot=out / "report.png")
        if "Root causes by shift" not in dom:
            problems.append("report.html did not render its shift tables")
        shifts = dom[dom.find("Root causes by shift") :]
        links = re.findall(r'href="(#e-[^"]+)"', shifts)
        if not links:
            return [*problems, "no link from a shift to a flagged worker's evidence"]
        dom = browse(report, profile=profile, anchor=links[0], screenshot=out / "decision.png")
        section = _section(dom, links[0][1:])
        if "Why the model named this worker" not in section:
            problems.append(f"the evidence {links[0]} does not say why the worker was named")
        plots = section.count('class="main-svg"')
        if plots < 4:
            problems.append(f"the evidence {links[0]} drew {plots} Plotly figures, expected >= 4")
    return problems


def _section(dom: str, anchor: str) -> str:
    """The markup of the evidence section ``anchor`` in a dumped DOM ("" if absent)."""
    start = dom.find(f'id="{anchor}"')
    end = dom.find('<section class="evidence"', start + 1)
    return dom[start : end if end > 0 else len(dom)] if start >= 0 else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run's output folder (with report.html)")
    parser.add_argument("--out", type=Path, default=Path("runs/report-screens"))
    args = parser.parse_args()
    problems = check(args.run_dir, args.out)
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        sys.exit(1)
    print(f"report and a decision's evidence render with their figures; screenshots in {args.out}")


if __name__ == "__main__":
    main()
