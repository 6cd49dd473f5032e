"""Scheduled reports: run a report notebook with papermill and export it for people.

``run_report(store, "daily", date)`` executes ``notebooks/reports/daily.ipynb``
with that store and day, saves the executed notebook, and converts it to one
self-contained HTML file (code hidden, plotly.js inlined, no links to any CDN),
which it checks before returning its path. A report that would open blank or
fetch something from the internet is an error, not a file.

The kernel is always the Python running this code, with this package importable,
whatever kernels Jupyter has installed (see ``_kernel_manager_class``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from workbench.config import Config, load_config, parse_config
from workbench.offline_html import (
    ReportError,
    count_notebook_figures,
    notebook_to_html,
    verify_html,
)
from workbench.store import Store

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
REPORTS = {"daily": "reports/daily.ipynb"}
WINDOW_DAYS = 14  # the trend charts and top customers look back this many days
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

    store: Store
    day: Date
    start: Date  # first day of the WINDOW_DAYS window that ends on ``day``


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


def _day(value: str | Date | None, timezone: str) -> Date:
    if isinstance(value, Date):
        return value
    if not value:
        return datetime.now(ZoneInfo(timezone)).date() - timedelta(days=1)
    try:
        return Date.fromisoformat(value)
    except ValueError:
        raise ReportError(f"report date {value!r} is not a date; write it as YYYY-MM-DD") from None


def open_report(
    store: str | os.PathLike,
    date: str | Date | None = "",
    config: str | Config | None = "",
    timezone: str = "",
) -> ReportContext:
    """Open the store a report notebook reads, as its ``parameters`` cell describes it.

    ``date`` is YYYY-MM-DD, empty for yesterday (site time). ``config`` is a
    workbench.yml path, the settings as JSON (what ``run_report`` passes), or empty
    for the settings recorded in the store by its last writer. ``timezone``
    overrides the site timezone.
    """
    root = _existing_store(store)
    cfg = _config(config, root)
    if timezone:
        cfg = parse_config({**cfg.model_dump(), "timezone": timezone}, "timezone parameter")
    day = _day(date, cfg.timezone)
    return ReportContext(Store(root, cfg), day, day - timedelta(days=WINDOW_DAYS - 1))


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


def _kernel_manager_class() -> type:
    """A kernel manager that always starts this interpreter, with this package importable.

    Resolving a kernel by name would pick whatever ``python3`` kernelspec Jupyter
    finds first (a user-wide one may point at another Python), and a fresh venv
    may have none. So no kernelspec is looked up: the kernel is ``sys.executable
    -m ipykernel_launcher`` (ipykernel's own kernelspec for this interpreter), with the
    repository root prepended to PYTHONPATH.
    """
    from ipykernel.kernelspec import get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    # exactly what `ipykernel install` would write for this interpreter (argv starts
    # with sys.executable; metadata enables CurveZMQ transport encryption)
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    spec = KernelSpec(
        **get_kernel_dict(python_arguments=["-Xfrozen_modules=off"]),
        env={"PYTHONPATH": pythonpath},
    )

    class _ThisPythonSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return spec

    class ThisPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _this_python(self) -> KernelSpecManager:
            return _ThisPythonSpecs(data_dir=self.data_dir)

        @default("transport_encryption")
        def _encrypt_when_possible(self) -> str:
            import zmq

            return "auto" if zmq.has("curve") else "disabled"

    return ThisPythonKernelManager


def _execute(notebook: Path, output: Path, parameters: dict, timeout: float) -> None:
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=timeout,
            kernel_manager_class=_kernel_manager_class(),
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


def run_report(
    store_root: str | os.PathLike,
    kind: str = "daily",
    date: str | Date | None = None,
    out_dir: str | os.PathLike = "reports",
    *,
    config: Config | None = None,
    fmt: str = "html",
    timeout: float = 600,
) -> Path:
    """Produce the ``kind`` report of ``date`` (default: yesterday, site time) for a store.

    Writes ``<out_dir>/<kind>-<date>.ipynb`` (the executed notebook, kept for
    debugging) and ``<kind>-<date>.html``, and returns the HTML's path. ``config``
    defaults to the settings recorded in the store; its timezone decides what "a
    day" is. ``timeout`` bounds each notebook cell, in seconds.
    """
    import nbformat

    if fmt != "html":
        raise ReportError(f"report format {fmt!r} is not supported yet; use 'html'")
    notebook = report_notebook(kind)
    root = _existing_store(store_root)
    cfg = _config(config, root)
    day = _day(date, cfg.timezone)
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    executed = out / f"{kind}-{day.isoformat()}.ipynb"
    params = notebook_parameters(root, day, cfg)

    t0 = time.perf_counter()
    _execute(notebook, executed, params, timeout)
    t1 = time.perf_counter()
    nb = nbformat.read(executed, as_version=4)
    expected = count_notebook_figures(nb)
    html = notebook_to_html(nb, title=f"{kind.capitalize()} report {day.isoformat()}")
    stats = verify_html(html, expected)
    target = out / f"{kind}-{day.isoformat()}.html"
    _write_text(target, html)
    log.info(
        "%s report for %s: %d figures, %.1f MB, executed in %.1f s, exported in %.1f s -> %s",
        kind, day, stats["figures"], stats["bytes"] / 1e6, t1 - t0, time.perf_counter() - t1, target,
    )  # fmt: skip
    return target
