"""Workbench: customer analytics from shop CCTV.

``import workbench as wb`` gives the names a notebook needs; nothing heavy is
imported until a name is used::

    store = wb.open_store("data/demo")
    store.query("SELECT * FROM visits")
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

# OpenMP threads (of any library built with it) sleep when idle instead of spinning: with
# the decode thread, people detection or other processes on the cores, spinning made
# libfacedetection's YuNet 15x slower (794 vs 54 ms a frame, measured under load). Read
# once, when OpenMP loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
REPO_ROOT = Path(__file__).resolve().parents[1]  # notebooks/ and models/ are found from here

_NAMES = {
    "Config": "workbench.config",
    "load_config": "workbench.config",
    "Store": "workbench.store",
    "RunWriter": "workbench.writer",
    "ingest": "workbench.pipeline",
    "open_source": "workbench.sources",
    "export_table": "workbench.export",
    "run_report": "workbench.report",
    "simulate_shop": "workbench.simulate",
    "WorkbenchError": "workbench.errors",
    "import_transactions": "workbench.transactions",
    "forecast_footfall": "workbench.forecast",
    "export_report": "workbench.excel",
}

__all__ = [
    "open_store",
    "Config",
    "load_config",
    "Store",
    "RunWriter",
    "ingest",
    "open_source",
    "export_table",
    "run_report",
    "simulate_shop",
    "WorkbenchError",
    "import_transactions",
    "forecast_footfall",
    "export_report",
]

if TYPE_CHECKING:  # pragma: no cover
    from workbench.config import Config, load_config
    from workbench.errors import WorkbenchError
    from workbench.excel import export_report
    from workbench.export import export_table
    from workbench.forecast import forecast_footfall
    from workbench.pipeline import ingest
    from workbench.report import run_report
    from workbench.simulate import simulate_shop
    from workbench.sources import open_source
    from workbench.store import Store
    from workbench.transactions import import_transactions
    from workbench.writer import RunWriter


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def open_store(path: str | None = None, config: str | None = None):
    """Open a store for reading: ``path``, else the one in the config file (or data/store)."""
    from workbench.config import load_config
    from workbench.store import Store

    if config is not None or path is None:
        cfg = load_config(config)
        return Store(path or cfg.store, cfg)
    return Store(path)
