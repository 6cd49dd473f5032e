"""How fast the manager dashboard and the daily report are, measured as a user meets them.

    python benchmarks/dashboard_speed.py --store data/demo [--opens 3] [--report]

Starts `workbench dashboard` on the store, opens it in headless Chromium (Debian's
/usr/bin/chromium through Playwright) and times:

* open: from navigating to the URL until the dashboard is usable: every chart drawn
  (plotly SVG present) and the KPI cards shown; each open takes the preheated kernel
  (Voila's pool) and the pool starts the next one;
* filter: from picking another camera until the redraw it causes is drawn;

then, with --report, the wall time of `workbench report daily --format html,pdf,xlsx`
(papermill + nbconvert + Chromium PDF + Excel). Prints one line per measure and a
JSON summary. Targets (issue 7): open < 8 s, filter < 3 s, report < 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip
DRAWN = """document.querySelectorAll('.wb-dashboard .js-plotly-plot .main-svg').length >= 4
           && document.querySelectorAll('.wb-card').length == 7"""


def start_server(store: str) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "workbench.cli", "dashboard", "--store", store, "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        found = re.search(r"https?://\S+", line)
        if found:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, found.group(0)
    raise SystemExit(f"the dashboard did not start (exit {proc.wait()})")


def renders(page) -> int:
    return int(page.eval_on_selector(
        ".wb-dashboard", "e => [...e.classList].find(c => c.startsWith('wb-render-')).slice(10)"
    ))  # fmt: skip


def measure_dashboard(url: str, opens: int) -> dict:
    from playwright.sync_api import sync_playwright

    result = {"open_s": [], "filter_s": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for i in range(opens):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            page.goto(url, wait_until="commit")
            page.wait_for_function(DRAWN, timeout=300_000)
            result["open_s"].append(time.perf_counter() - t0)
            labels = page.eval_on_selector(
                ".wb-dashboard select", "s => [...s.options].map(o => o.text)"
            )
            for label in labels[1:2] + labels[:1]:  # one camera, then all cameras again
                n = renders(page)
                t0 = time.perf_counter()
                page.select_option(".wb-dashboard select", label=label)
                page.wait_for_selector(f".wb-dashboard.wb-render-{n + 1}", timeout=120_000)
                page.wait_for_function(DRAWN, timeout=120_000)
                result["filter_s"].append(time.perf_counter() - t0)
            print(f"open {i + 1}: {result['open_s'][-1]:.1f} s; filter changes: "
                  + ", ".join(f"{s:.1f} s" for s in result["filter_s"][-2:]), flush=True)  # fmt: skip
            page.close()
        browser.close()
    return result


def measure_report(store: str) -> float:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "workbench.cli", "report", "daily", "--store", store,
                        "--format", "html,pdf,xlsx", "--out", out], check=True)  # fmt: skip
        took = time.perf_counter() - t0
    print(f"daily report html+pdf+xlsx: {took:.1f} s", flush=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="data/demo")
    parser.add_argument("--opens", type=int, default=3)
    parser.add_argument("--settle", type=float, default=30,
                        help="seconds to let the server ready its preheated kernel first")  # fmt: skip
    parser.add_argument("--report", action="store_true", help="also time the daily report")
    args = parser.parse_args()
    summary = {"load_avg_before": os.getloadavg()[0], "cpus": os.cpu_count()}
    proc, url = start_server(str(Path(args.store).resolve()))
    time.sleep(args.settle)
    try:
        times = measure_dashboard(url, args.opens)
    finally:
        proc.terminate()
        proc.wait(30)
    summary.update({k: round(median(v), 2) for k, v in times.items()})
    summary.update({k + "_all": [round(x, 2) for x in v] for k, v in times.items()})
    if args.report:
        summary["report_s"] = round(measure_report(args.store), 1)
    summary["load_avg_after"] = os.getloadavg()[0]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
