"""Look at a run's report as a person would: in a real headless Chromium.

Loads ``RUN_DIR/report.html``, follows the first link from a shift's table to a flagged
worker's evidence page, lets the page's scripts run, and checks that the decision and its
interactive figures rendered (Plotly draws ``svg.main-svg`` elements); screenshots both pages
into ``--out``. Exits 1 with the reason when something is missing.

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
    "--virtual-time-budget=10000",
)  # fmt: skip


def chromium() -> str:
    """The Chromium executable, or exit with how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium found: apt-get install chromium")


def browse(page: Path, *, profile: str, screenshot: Path | None = None) -> str:
    """The page's DOM after its scripts ran (and a screenshot of it)."""
    extra = [f"--screenshot={screenshot}", "--window-size=1300,2400"] if screenshot else []
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, "--dump-dom",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


def check(run_dir: Path, out: Path) -> list[str]:
    """What a person would miss on the report; empty when all is there."""
    out.mkdir(parents=True, exist_ok=True)
    problems = []
    with tempfile.TemporaryDirectory() as profile:
        dom = browse(run_dir / "report.html", profile=profile, screenshot=out / "report.png")
        if "Root causes by shift" not in dom:
            problems.append("report.html did not render its shift tables")
        links = re.findall(r'href="(decisions/[^"]+\.html)"', dom)
        if not links:
            return [*problems, "no link from a shift to a flagged worker's evidence page"]
        page = run_dir / links[0]
        dom = browse(page, profile=profile, screenshot=out / "decision.png")
        if "Why the model named this worker" not in dom:
            problems.append(f"{links[0]} does not say why the worker was named")
        plots = dom.count('class="main-svg"')
        if plots < 4:
            problems.append(f"{links[0]} rendered {plots} Plotly figures, expected >= 4")
    return problems


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
    print(f"report and a decision page render with their figures; screenshots in {args.out}")


if __name__ == "__main__":
    main()
