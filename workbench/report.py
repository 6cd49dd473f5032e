"""Scheduled reports: run a report notebook with papermill and export it for people.

``run_report(store, "daily", date)`` executes ``notebooks/reports/daily.ipynb``
with that store and day, saves the executed notebook, and converts it to one
self-contained HTML file (code hidden, plotly.js inlined, no links to any CDN),
which it checks before returning its path. A report that would open blank or
fetch something from the internet is an error, not a file.

The kernel is always the Python running this code, with this package importable,
whatever kernels Jupyter has installed (see ``workbench.kernels``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from workbench import REPO_ROOT
from workbench.config import Config, load_config, parse_config
from workbench.offline_html import (
    ReportError,
    count_notebook_figures,
    notebook_to_html,
    verify_html,
)
from workbench.snapshot import Snapshot
from workbench.store import Store

log = logging.getLogger(__name__)

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORTS = {"daily": "reports/daily.ipynb", "weekly": "reports/weekly.ipynb"}
FORMATS = {"html": "text/html", "pdf": "application/pdf",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip
WINDOW_DAYS = 14  # the daily trend charts and top customers look back this many days
# The settings a report needs, passed into the notebook (which is saved beside the
# report): never camera sources (stream URLs can hold passwords) or alert channels.
REPORT_SETTINGS = {
    "timezone": True,
    "visits": True,
    "transactions": True,
    "cameras": {"__all__": {"id", "timezone", "name"}},
}


@dataclass
class ReportContext:
    """What a report notebook works on: the store, the report day and its look-back window."""

    store: Snapshot  # of the store: answers like a Store, faster
    day: Date  # the report's day; weekly: the week's Sunday
    start: Date  # daily: first day of the WINDOW_DAYS window that ends on ``day``; weekly: Monday


@dataclass
class ReportFiles:
    """What ``make_report`` produced: the files per format, and who it was emailed to."""

    kind: str
    start: Date  # the period the report covers
    day: Date
    files: dict[str, Path]
    emailed_to: list[str]


def period(kind: str, day: Date) -> tuple[Date, Date]:
    """The days a report of ``day`` covers: daily, the WINDOW_DAYS ending on it; weekly, its
    week, Monday to Sunday."""
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    return day - timedelta(days=WINDOW_DAYS - 1), day


def _config(config: str | Config | None, root: Path) -> Config:
    """Settings from a Config, JSON text or a workbench.yml path; else those the store recorded."""
    if isinstance(config, Config):
        return config
    text = (config or "").strip()
    if text.startswith("{"):
        return parse_config(json.loads(text), "config parameter")
    return load_config(text) if text else Store(root).config


def _existing_store(store: str | os.PathLike) -> Path:
    """The store folder; a relative path is tried from the working directory, then the repo root."""
    root = Path(store).expanduser()
    if not root.is_absolute() and not root.is_dir() and (REPO_ROOT / root).is_dir():
        root = REPO_ROOT / root  # a notebook opened in JupyterLab runs in notebooks/reports/
    root = root.resolve()
    if not root.is_dir():
        raise ReportError(
            f"store {root} does not exist; run an ingest (or `workbench demo`) first or fix --store"
        )
    return root


def _day(value: str | Date | None, timezone: str, kind: str = "daily") -> Date:
    """The date asked for; by default yesterday (daily) or a day of last week (weekly)."""
    if isinstance(value, Date):
        return value
    if not value:
        return datetime.now(ZoneInfo(timezone)).date() - timedelta(
            days=7 if kind == "weekly" else 1
        )
    try:
        return Date.fromisoformat(value)
    except ValueError:
        raise ReportError(f"report date {value!r} is not a date; write it as YYYY-MM-DD") from None


def open_report(
    store: str | os.PathLike,
    date: str | Date | None = "",
    config: str | Config | None = "",
    timezone: str = "",
    kind: str = "daily",
) -> ReportContext:
    """Open the store a report notebook reads, as its ``parameters`` cell describes it.

    ``date`` is YYYY-MM-DD, empty for yesterday (site time); ``kind="weekly"``: any
    day of the week, empty for last week. ``config`` is a
    workbench.yml path, the settings as JSON (what ``run_report`` passes), or empty
    for the settings recorded in the store by its last writer. ``timezone``
    overrides the site timezone.
    """
    root = _existing_store(store)
    cfg = _config(config, root)
    if timezone:
        cfg = parse_config({**cfg.model_dump(), "timezone": timezone}, "timezone parameter")
    start, day = period(kind, _day(date, cfg.timezone, kind))
    return ReportContext(Snapshot(Store(root, cfg)), day, start)


def report_notebook(kind: str) -> Path:
    """The notebook of a report kind (``daily``, ...)."""
    if kind not in REPORTS:
        raise ReportError(f"unknown report {kind!r}; choose one of: {', '.join(REPORTS)}")
    path = NOTEBOOKS_DIR / REPORTS[kind]
    if not path.exists():
        raise ReportError(
            f"report notebook {path} is missing; reports run from a checkout of the workbench "
            "repository (its notebooks/ folder is not part of the pip package)"
        )
    return path


def _execute(notebook: Path, output: Path, parameters: dict, timeout: float) -> None:
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from workbench.kernels import ThisPythonKernelManager

    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=timeout,
            iopub_timeout=60,  # outputs (plotly.js: 5 MB) can lag the reply on a busy machine
            kernel_manager_class=ThisPythonKernelManager,
            resources={"metadata": {"path": str(output.parent)}},  # kernel's working directory
        )
    except pm.PapermillExecutionError as exc:
        raise ReportError(
            f"the report notebook {notebook.name} failed at In [{exc.exec_count}]: {exc.ename}: "
            f"{exc.evalue}; the executed notebook with the traceback is {output}"
        ) from None
    except (DeadKernelError, CellTimeoutError) as exc:
        raise ReportError(f"the report notebook {notebook.name} did not finish: {exc}") from None


def notebook_parameters(store_root: Path, day: Date, config: Config) -> dict:
    """The values papermill writes into a report notebook's ``parameters`` cell."""
    settings = config.model_dump(mode="json", include=REPORT_SETTINGS)
    return {
        "store": str(store_root),
        "date": day.isoformat(),
        "config": json.dumps(settings),
        "timezone": "",
    }


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _stem(kind: str, start: Date, day: Date) -> str:
    return f"{kind}-{(start if kind == 'weekly' else day).isoformat()}"


def run_report(
    store_root: str | os.PathLike,
    kind: str = "daily",
    date: str | Date | None = None,
    out_dir: str | os.PathLike = "reports",
    *,
    config: Config | None = None,
    timeout: float = 600,
) -> Path:
    """Produce the ``kind`` report's HTML for a store; returns its path.

    ``date``: the day (default: yesterday, site time); weekly: any day of the week
    (default: last week). Writes ``<out_dir>/<kind>-<day>.ipynb`` (the executed
    notebook, kept for debugging) and ``<kind>-<day>.html`` (weekly: named after
    the Monday). ``config`` defaults to the settings recorded in the store; its
    timezone decides what "a day" is. ``timeout`` bounds each notebook cell, in seconds.
    """
    import nbformat

    notebook = report_notebook(kind)
    root = _existing_store(store_root)
    cfg = _config(config, root)
    start, day = period(kind, _day(date, cfg.timezone, kind))
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    stem = _stem(kind, start, day)
    executed = out / f"{stem}.ipynb"
    params = notebook_parameters(root, day, cfg)

    t0 = time.perf_counter()
    _execute(notebook, executed, params, timeout)
    t1 = time.perf_counter()
    nb = nbformat.read(executed, as_version=4)
    expected = count_notebook_figures(nb)
    title = f"{kind.capitalize()} report " + (f"{start} to {day}" if kind == "weekly" else str(day))
    html = notebook_to_html(nb, title=title)
    stats = verify_html(html, expected)
    target = out / f"{stem}.html"
    _write_text(target, html)
    log.info(
        "%s report for %s: %d figures, %.1f MB, executed in %.1f s, exported in %.1f s -> %s",
        kind, day, stats["figures"], stats["bytes"] / 1e6, t1 - t0, time.perf_counter() - t1, target,
    )  # fmt: skip
    return target


def make_report(
    store_root: str | os.PathLike,
    kind: str = "daily",
    date: str | Date | None = None,
    out_dir: str | os.PathLike = "reports",
    *,
    config: Config | None = None,
    formats: Sequence[str] = ("html",),
    email: bool = False,
    timeout: float = 600,
) -> ReportFiles:
    """The report in each of ``formats`` (html, pdf, xlsx), optionally emailed.

    The PDF is the HTML printed by headless Chromium (``workbench.pdf``); the Excel
    workbook is ``workbench.excel.export_report`` of the report's period. With
    ``email``, the files go to ``alerts.email``'s recipients (``workbench.mail``),
    with the period's key figures in the message.
    """
    from workbench.excel import export_report
    from workbench.pdf import html_to_pdf

    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ReportError(f"report formats {unknown or '(none)'}: choose from {', '.join(FORMATS)}")
    root = _existing_store(store_root)
    cfg = _config(config, root)
    channel = cfg.alerts.email
    if email and channel is None:
        raise ReportError("--email needs an SMTP server: add alerts.email to workbench.yml "
                          "(host, port, security, username, to)")  # fmt: skip
    start, day = period(kind, _day(date, cfg.timezone, kind))
    out = Path(out_dir).expanduser().resolve()
    files: dict[str, Path] = {}
    if {"html", "pdf"} & set(formats):
        files["html"] = run_report(root, kind, day, out, config=cfg, timeout=timeout)
    if "pdf" in formats:
        files["pdf"] = html_to_pdf(files["html"], out / f"{_stem(kind, start, day)}.pdf")
    if "xlsx" in formats:
        files["xlsx"] = out / f"{_stem(kind, start, day)}.xlsx"
        export_report(Store(root, cfg), start, day, files["xlsx"])
    files = {f: files[f] for f in FORMATS if f in formats}
    made = ReportFiles(kind, start, day, files, [])
    if email:
        _email(made, Store(root, cfg), channel)
        made.emailed_to = list(channel.to)
    return made


def _email(made: ReportFiles, store: Store, channel) -> None:
    """Send the files, with the period's key figures as the message."""
    from html import escape

    from workbench.analytics import period_summary
    from workbench.mail import send_mail

    row = period_summary(
        store, "day" if made.kind == "daily" else "week", made.start, made.day
    ).iloc[-1]
    figures = {
        "Visits": f"{int(row['visits']):,}",
        "Customers": f"{int(row['unique_customers']):,}",
        "New / returning": f"{int(row['new_customers'])} / {int(row['returning_customers'])}",
        "Revenue": f"{row['revenue']:,.0f}",
        "Unpaid": f"{row['unpaid_amount']:,.0f}",
    }
    what = f"{made.kind.capitalize()} report, " + (
        f"week of {made.start:%d %b %Y}" if made.kind == "weekly" else f"{made.day:%a %d %b %Y}"
    )
    text = what + "\n\n" + "\n".join(f"{k}: {v}" for k, v in figures.items())
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td><b>{escape(v)}</b></td></tr>" for k, v in figures.items()
    )
    html = (f"<p>{escape(what)}</p><table>{rows}</table>"
            f"<p>Attached: {escape(', '.join(p.name for p in made.files.values()))}</p>")  # fmt: skip
    attachments = [(p.name, p.read_bytes(), FORMATS[f]) for f, p in made.files.items()]
    send_mail(channel, what, html, text=text, attachments=attachments)
