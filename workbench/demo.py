"""``workbench demo``: a store of simulated shop history, optional real footage, and a report.

The history is SIMULATED (see ``workbench.simulate``): it exists so that every
chart, notebook and dashboard has something to show before real footage exists.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from workbench.config import parse_config
from workbench.store import Store

DEMO_SETTINGS = {
    "timezone": "Asia/Kolkata",
    "cameras": [
        {"id": "counter", "name": "Till / counter"},
        {"id": "door", "name": "Front door"},
    ],
}


def build_demo(
    root: Path,
    video: Path | None = None,
    days: int = 28,
    out_dir: Path = Path("reports"),
    echo: Callable[[str], None] = print,
) -> Path:
    """Build the demo store at ``root`` and its daily report for yesterday; returns the report path."""
    from workbench.pipeline import ingest
    from workbench.report import run_report
    from workbench.simulate import simulate_shop

    config = parse_config({**DEMO_SETTINGS, "store": str(root)}, "demo settings")
    store = Store(root, config)
    store.ensure_writable()
    today = datetime.now(ZoneInfo(config.timezone)).date()
    counts = simulate_shop(store, days=days, end=today, seed=0, camera="counter")
    echo(
        f"simulated {days} days of shop history (SIMULATED data): {counts['visits']} visits, "
        f"{counts['customers']} customers, {counts['transactions']} transactions"
    )
    if video is not None:
        start = datetime.combine(today, time(10, 0), ZoneInfo(config.timezone))
        for r in ingest([video], "door", store, config, start=start, progress=True):
            echo(f"ingested {Path(r.path).name}: {r.frames} frames, {r.tracks} tracks")
    report_day: date = today - timedelta(days=1)
    path = run_report(store.root, kind="daily", date=report_day, out_dir=out_dir)
    echo("")
    echo(f"Demo store: {root}")
    echo(
        f"Manager dashboard:          .venv/bin/workbench dashboard --store {root}   (prints its URL)"
    )
    echo(f"Daily report for {report_day}: {path}")
    echo(
        "Open it in a browser, e.g.  python -m webbrowser -t " + str(Path(path).resolve().as_uri())
    )
    echo(f"Explore in JupyterLab:      .venv/bin/jupyter lab notebooks/   (store: {root})")
    echo(f"Query from the shell:       .venv/bin/workbench info --store {root}")
    return Path(path)
