"""The manager dashboard: widgets over the store that keep themselves up to date.

``manager_dashboard()`` returns the whole page as one ipywidgets box; the Voila
notebook ``notebooks/dashboards/manager.ipynb`` only displays it, and
``workbench dashboard`` serves that notebook. What it shows, for a date range and a
camera (filters at the top; by default the last 14 days up to today, all cameras):

* the last day's key figures beside the same weekday a week before;
* visits per hour, people in the shop through the day and now, visits per day,
  a heat map (where people spend time, or busy times when there is no people counting);
* regulars, lapsed regulars, unpaid till records and repeat defaulters;
* the latest alerts with their key images.

Live: a background thread checks the store every ``poll_s`` seconds
(``dashboard_data.store_signature``, a few file times) and redraws when a writer
changed it, until ``stop()`` or the kernel's end. Under ``workbench dashboard`` a
kernel ends once its page has been closed for ``--idle-minutes``: Voila's culler
there counts idleness from the page's last connection, not the kernel's last
message, so a dashboard redrawing itself for nobody is still shut down
(``workbench.kernels.PageKernelManager``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from workbench import analytics, plotting
from workbench import dashboard_data as data
from workbench.config import config_path, load_config
from workbench.errors import StoreError, WorkbenchError
from workbench.snapshot import Snapshot
from workbench.store import Store

log = logging.getLogger(__name__)

STORE_ENV = "WORKBENCH_STORE"  # set by `workbench dashboard` for the kernels it starts
WINDOW_DAYS = 14
CURRENCY = "₹"
PANEL = {"flex": "1 1 460px", "min_width": "360px", "margin": "0 8px 8px 0"}  # a chart or table
STYLE = """<style>
.wb-kpis{display:flex;flex-wrap:wrap;gap:.6em}
.wb-card{min-width:8.5em;padding:.5em .8em;border:1px solid #d0d7de;border-radius:6px;
  font-family:sans-serif;background:#fff}
.wb-card .k{font-size:.8em;color:#57606a}.wb-card .v{font-size:1.6em;font-weight:600}
.wb-card .d{font-size:.8em}.wb-up{color:#1a7f37}.wb-down{color:#cf222e}
.wb-table{border-collapse:collapse;font-family:sans-serif;font-size:.85em;width:100%}
.wb-table th,.wb-table td{padding:.25em .5em;border-bottom:1px solid #eaeef2;text-align:left}
.wb-panel h4{font-family:sans-serif;margin:.4em 0}
.wb-alert{display:flex;gap:.6em;align-items:center;padding:.3em 0;border-bottom:1px solid #eaeef2;
  font-family:sans-serif;font-size:.85em}
.wb-alert img{width:64px;height:64px;object-fit:cover;border-radius:4px}
.wb-kind{padding:0 .4em;border-radius:4px;background:#ddf4ff;color:#0969da}
.wb-muted{color:#57606a;font-family:sans-serif;font-size:.85em}
</style>"""


def dashboard_store(path: str | os.PathLike | None = None) -> Store:
    """The store to show: ``path``, else ``$WORKBENCH_STORE``, else the config's store.

    With a config file in use (``$WORKBENCH_CONFIG`` or ./workbench.yml) its settings
    apply; without one, the settings recorded in the store do.
    """
    root = Path(path or os.environ.get(STORE_ENV) or load_config().store).expanduser()
    if not (root / "events").is_dir() and not (root / "state").is_dir():
        raise StoreError(
            f"{root} is not a workbench store; run `make demo` (store data/demo) or an ingest "
            "first, or pass the store's folder"
        )
    file = config_path()
    if file is None:
        return Store(root)
    cfg = load_config(file)
    cfg.store = root
    return Store(root, cfg)


def manager_dashboard(store: str | os.PathLike | Store | None = None, poll_s: float = 1.0):
    """The manager's dashboard as a widget, drawn now and kept live (see the module doc)."""
    board = ManagerDashboard(store if isinstance(store, Store) else dashboard_store(store), poll_s)
    board.start()
    return board.widget


class ManagerDashboard:
    """The widgets, the render of the store into them, and the live-update thread."""

    def __init__(self, store: Store, poll_s: float = 1.0):
        import ipywidgets as w

        self.store = store
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._signature: tuple = ()
        self.renders = 0  # redraws done
        today = self.today()
        self._follow_today = True  # the range ends today until someone picks another end
        self.start_date = w.DatePicker(description="From", value=today - timedelta(WINDOW_DAYS - 1))
        self.end_date = w.DatePicker(description="To", value=today)
        with Snapshot(store) as snap:
            options = [("All cameras", "")] + data.cameras(snap)
        self.camera = w.Dropdown(description="Camera", options=options, value="")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.status = w.HTML()
        self.kpis = w.HTML()
        self.charts = {name: w.Output(layout=w.Layout(**PANEL))
                       for name in ("hourly", "occupancy", "trend", "heat")}  # fmt: skip
        self.tables = {name: w.HTML(layout=w.Layout(**PANEL))
                       for name in ("regulars", "lapsed", "unpaid", "defaulters")}  # fmt: skip
        self.alerts = w.HTML()
        for picker in (self.start_date, self.end_date, self.camera):
            picker.observe(self._filter_changed, "value")
        self.refresh_button.on_click(lambda _: self.refresh())

        def row(*children):
            return w.HBox(list(children), layout=w.Layout(flex_flow="row wrap"))

        self.widget = w.VBox(
            [
                w.HTML(STYLE),
                row(self.start_date, self.end_date, self.camera, self.refresh_button),
                self.status,
                self.kpis,
                row(self.charts["hourly"], self.charts["occupancy"]),
                row(self.charts["trend"], self.charts["heat"]),
                row(self.tables["regulars"], self.tables["lapsed"]),
                row(self.tables["unpaid"], self.tables["defaulters"]),
                self.alerts,
            ]
        )
        self.widget.add_class("wb-dashboard")
        self.refresh()

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.store.config.timezone)).date()

    # ------------------------------------------------------------ rendering
    def refresh(self) -> None:
        """Redraw everything from the store as it is now; on failure keep what is shown."""
        with self._lock:
            t0 = time.perf_counter()
            self._signature = data.store_signature(self.store, self.today())
            start, end = self.start_date.value, self.end_date.value
            if start is None or end is None or start > end:
                self.status.value = (
                    "<span class='wb-muted'>Pick a From day on or before the To day.</span>"
                )
                return
            camera = self.camera.value or None
            try:
                with Snapshot(self.store) as snap:
                    self._render(snap, start, end, camera)
            except (WorkbenchError, duckdb.Error, OSError) as exc:
                log.exception("dashboard refresh failed")
                self.status.value = (
                    f"<span class='wb-down wb-muted'>Could not read the store ({escape(str(exc))[:300]}); "
                    "showing the last figures drawn. It retries when the store changes.</span>"
                )
                return
            took = time.perf_counter() - t0
            self.status.value = (
                f"<span class='wb-muted'>Updated {datetime.now():%H:%M:%S} in {took:.1f} s · "
                f"{escape(str(self.store.root))} · updates itself while the store changes</span>"
            )
            # the page's mark of a finished redraw (browser tests and benchmarks wait for it)
            self.widget.remove_class(f"wb-render-{self.renders}")
            self.renders += 1
            self.widget.add_class(f"wb-render-{self.renders}")

    def _render(self, snap: Snapshot, start: date, end: date, camera: str | None) -> None:
        before = end - timedelta(days=7)
        self.kpis.value = _kpi_html(data.kpis(snap, end, camera), end, before)
        hourly = plotting.hourly_compare_figure(
            analytics.hourly_traffic(snap, end, camera),
            analytics.hourly_traffic(snap, before, camera), end, before,
        )  # fmt: skip
        live = datetime.now().astimezone() if end == self.today() else None
        occ, source, now = data.occupancy(snap, end, camera, live)
        summary = analytics.daily_summary(snap, start, end, camera)
        cells = data.heat(snap, start, end, camera)
        heat = (plotting.heat_figure(cells) if len(cells)
                else plotting.busy_times_figure(data.busy_times(snap, start, end, camera)))  # fmt: skip
        figures = {
            "hourly": hourly,
            "occupancy": plotting.occupancy_figure(occ, source, now),
            "trend": plotting.compact(plotting.trend_figure(summary)),
            "heat": heat,
        }
        for name, fig in figures.items():
            self.charts[name].outputs = (plotting.output_bundle(fig),)
        span = f"{start:%d %b} – {end:%d %b}"
        self.tables["regulars"].value = _table(
            f"Regulars, {span}", analytics.top_customers(snap, start, end, n=10, camera=camera),
            ["customer_id", "label", "visits", "days_visited", "last_visit", "amount"],
            "no visits in this range")  # fmt: skip
        self.tables["lapsed"].value = _table(
            "Lapsed regulars (5+ visits, not seen for 14+ days)",
            analytics.lapsed_regulars(
                snap, days=14, min_visits=5, as_of=end, camera=camera, limit=10
            ),
            ["customer_id", "label", "visits", "last_seen", "days_away", "usual_gap_days"],
            "every regular came back recently")  # fmt: skip
        self.tables["unpaid"].value = _table(
            f"Unpaid, {span}", analytics.unpaid(snap, start, end, camera).head(10),
            ["timestamp", "customer_id", "amount"], "nothing unpaid")  # fmt: skip
        self.tables["defaulters"].value = _table(
            "Repeat defaulters (2+ unpaid, all time)",
            analytics.repeat_defaulters(snap, None, end, camera).head(10),
            ["customer_id", "label", "unpaid_count", "unpaid_amount", "last_unpaid"],
            "no repeat defaulters")  # fmt: skip
        self.alerts.value = _alerts_html(data.latest_alerts(snap, start, end, camera))

    def _filter_changed(self, change) -> None:
        if change["owner"] is self.end_date:
            self._follow_today = change["new"] == self.today()
        self.refresh()

    # ------------------------------------------------------------ live updates
    def start(self) -> None:
        """Start the live-update thread (once)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._live, name="dashboard-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _live(self) -> None:
        while not self._stop.wait(self.poll_s):
            today = self.today()
            if self._follow_today and self.end_date.value != today:  # midnight: a new day
                self.end_date.value, self.start_date.value = (
                    today,
                    today - timedelta(WINDOW_DAYS - 1),
                )
                continue  # the observers redrew it
            if data.store_signature(self.store, today) != self._signature:
                self.refresh()


def _money(v) -> str:
    return f"{CURRENCY}{v:,.0f}"


def _format(value, kind: str) -> str:
    if pd.isna(value):
        return "-"
    return {"count": f"{int(value):,}", "percent": f"{value:.0%}", "money": _money(value)}[kind]


def _kpi_html(kpis: pd.DataFrame, day: date, before: date) -> str:
    cards = []
    for r in kpis.itertuples():
        delta = "same as last week"
        if pd.notna(r.value) and pd.notna(r.last_week) and r.value != r.last_week:
            diff = r.value - r.last_week
            shown = f"{diff:+.0%}".replace("%", " pts") if r.kind == "percent" else (
                f"{diff:+,.0f}" if r.kind == "count" else f"{'+' if diff > 0 else '-'}{_money(abs(diff))}")  # fmt: skip
            good = diff > 0 if r.key != "unpaid_amount" else diff < 0
            delta = f"<span class='{'wb-up' if good else 'wb-down'}'>{'▲' if diff > 0 else '▼'} {shown}</span>"
        cards.append(
            f"<div class='wb-card' data-kpi='{r.key}'><div class='k'>{escape(r.label)}</div>"
            f"<div class='v'>{_format(r.value, r.kind)}</div>"
            f"<div class='d'>{delta} <span class='wb-muted'>({_format(r.last_week, r.kind)})</span></div></div>"
        )
    title = f"{day:%A %d %b %Y} vs {before:%a %d %b}"
    return (
        f"<div class='wb-panel'><h4>{title}</h4><div class='wb-kpis'>{''.join(cards)}</div></div>"
    )


def _cell(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp | datetime):
        return pd.Timestamp(value).strftime("%d %b %H:%M")
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:,.1f}"
    return escape(str(value))


def _table(title: str, df: pd.DataFrame, columns: list[str], empty: str) -> str:
    head = f"<div class='wb-panel'><h4>{escape(title)}</h4>"
    if df.empty:
        return head + f"<div class='wb-muted'>{escape(empty)}</div></div>"
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>"
                   for r in df[columns].itertuples(index=False))  # fmt: skip
    header = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    return head + f"<table class='wb-table'><tr>{header}</tr>{rows}</table></div>"


def _alerts_html(alerts: pd.DataFrame) -> str:
    head = "<div class='wb-panel wb-alerts'><h4>Latest alerts</h4>"
    if alerts.empty:
        return head + "<div class='wb-muted'>No alerts in this range.</div></div>"
    items = []
    for a in alerts.itertuples():
        img = f"<img src='{a.image}' alt='key image'>" if a.image else ""
        who = f" · {escape(a.customer_id)}" if a.customer_id else ""
        items.append(
            f"<div class='wb-alert'>{img}<div><span class='wb-kind'>{escape(a.kind)}</span> "
            f"{_cell(a.local_ts)} · {escape(a.camera or 'site')}{who}<br>{escape(a.message or '')}</div></div>"
        )
    return head + "".join(items) + "</div>"
