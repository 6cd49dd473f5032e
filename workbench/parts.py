"""Recomputed parts of a store's state, kept on disk for the next reader process.

When files or edits changed since the derived build, the first connection of a process
recomputes what the build no longer vouches for (``workbench.views_visits``). Dashboards,
Voila kernels and API workers start new processes all the time: the parts are kept in
``derived/<build>/.parts/<state>/`` as Arrow files, so the next process with the same
state of the store (the same plan signature, settings and code) maps them instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from workbench.visits_sql import settings_key

if TYPE_CHECKING:
    from workbench.derived import Plan
    from workbench.store import Store

log = logging.getLogger(__name__)
PARTS_VERSION = 1  # of the parts' SQL: change it with the SQL


class Parts(dict):
    """The parts recomputed for one state of the store (name -> Arrow table), also kept in
    ``folder`` so that the next process (a dashboard kernel, an API worker) loads them
    instead of computing them again; a store it cannot write is only slower."""

    def __init__(self, folder: Path | None = None):
        super().__init__()
        self.folder = folder

    def load(self, name: str) -> bool:
        try:
            with pa.memory_map(str(self.folder / f"{name}.arrow")) as src:
                self[name] = pa.ipc.open_file(src).read_all()
            return True
        except (OSError, TypeError, pa.ArrowException):  # absent, removed meanwhile, or no folder
            return False

    def save(self, name: str) -> None:
        if self.folder is None:
            return
        path = self.folder / f"{name}.arrow"
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, self[name].schema) as w:
                w.write_table(self[name])
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("cannot keep %s for other readers: %s", name, exc)
            tmp.unlink(missing_ok=True)


def parts_folder(store: Store, plan: Plan) -> Path:
    """Where the parts of this state are kept: in the build, one folder per state (the three
    newest are kept; a build and its folders go together)."""
    key = json.dumps([PARTS_VERSION, settings_key(store.config), plan.signature(store)])
    root = plan.build / ".parts"
    folder = root / hashlib.sha1(key.encode()).hexdigest()[:16]
    if not folder.exists() and root.exists():
        for old in sorted(root.iterdir(), key=_mtime_or_zero)[:-2]:
            shutil.rmtree(old, ignore_errors=True)  # a reader on it keeps its mapped files
    return folder


def _mtime_or_zero(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def prepare(store: Store) -> None:
    """Recompute what changed since the derived build and keep it for the readers to come,
    so the process that changed the store pays for it, not the next dashboard to open:
    writers call it when they finish (an ingest, an import, an edit)."""
    store.connect().close()
