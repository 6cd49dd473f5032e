"""What ``workbench info`` shows: versions, the store, its tables."""

from __future__ import annotations

import platform
from importlib import metadata

from workbench.schema import EVENTS
from workbench.store import Store

PACKAGES = [
    "workbench",
    "opencv-contrib-python-headless",
    "dlib-bin",
    "face_recognition_models",
    "duckdb",
    "pandas",
    "pyarrow",
    "papermill",
    "voila",
]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def store_info(store: Store) -> dict[str, dict]:
    versions = {"python": platform.python_version(), **{p: _version(p) for p in PACKAGES}}
    size = store.size_bytes()
    where = {
        "path": str(store.root.resolve()),
        "exists": store.root.exists(),
        "size": f"{size / 1e6:.1f} MB",
        "files": len(store.event_files()),
        "timezone": store.config.timezone,
    }
    rows = {}
    if store.root.exists():
        for table in [*EVENTS, "visits", "customers"]:
            rows[table] = int(store.query(f'SELECT count(*) AS n FROM "{table}"')["n"].iloc[0])
        runs = store.current_runs()
        rows["runs (current)"] = len(runs)
        bad = runs[runs["status"] != "complete"]
        for _, r in bad.iterrows():
            rows[f"run {r.run_id}"] = f"{r.status}: {r.source} {r.message or ''}".strip()
    return {"versions": versions, "store": where, "tables": rows}
