"""Compaction: fewer, bigger event files, and the derived tables rebuilt.

Ingest writes one small file per table, local day, camera and flush. ``compact`` merges
a partition's files per run, moves the days of closed months into
``<table>/month=YYYY-MM/camera=<id>/`` (one file per run; readers glob every folder), drops
files of superseded runs and stray temporary files, and rebuilds the derived tables
(``workbench.derived``), all under the store's writer lock.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from workbench.derived import build_derived
from workbench.schema import EVENT_TIME
from workbench.store import Store, _atomic_write, _now, write_parquet

# tables whose closed months `compact` merges into one folder per camera (not alerts:
# retention deletes those by day)
MONTHLY = ("sightings", "tracks", "transactions")
CLOSED_AFTER_DAYS = 2  # a month is closed this many days after it ends
ZSTD_LEVEL = 9  # merged files are written once and read often: compress harder


def _month_end(month: str) -> date:
    y, m = int(month[:4]), int(month[5:7])
    return date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)


def compact(store: Store, today: date | None = None) -> dict:
    """Merge small files per partition and run, drop superseded runs and stray temp files,
    then rebuild the derived tables that make the views fast; returns what was done.

    Days of a month that ended more than ``CLOSED_AFTER_DAYS`` before ``today`` (UTC)
    move into one file per run in ``<table>/month=YYYY-MM/camera=<id>/`` (for the
    tables in ``MONTHLY``): a year of 100 cameras is then 1,200 folders per table,
    not 36,500, which saves disk (every small file costs a footer and a block) and
    the time to list and open them. Derived tables are then built from the events.
    """
    stats = {"removed_superseded": 0, "merged_files": 0, "written_files": 0, "temp_files": 0}
    with store.writer_lock():
        stats["removed_superseded"] = store.drop_superseded()
        for tmp in store.root.glob("**/.*.tmp"):
            tmp.unlink(missing_ok=True)
            stats["temp_files"] += 1
        cutoff = (today or _now().date()) - timedelta(days=CLOSED_AFTER_DAYS)
        groups: dict[Path, list[Path]] = {}  # target folder -> files merged into it
        for f in store.event_files():
            part = f.parent
            table, period = part.parent.parent.name, part.parent.name
            month = period.removeprefix("date=")[:7]
            if table in MONTHLY and period.startswith("date=") and _month_end(month) < cutoff:
                groups.setdefault(part.parent.parent / f"month={month}" / part.name, []).append(f)
            else:
                groups.setdefault(part, []).append(f)
        moved = False
        for target, files in sorted(groups.items()):
            by_run: dict[str, list[Path]] = {}
            for f in files:  # daily files moving in, and the month's own files
                by_run.setdefault(f.name.rsplit("-", 1)[0], []).append(f)
            for run_id, run_files in by_run.items():
                if len(run_files) < 2 and run_files[0].parent == target:
                    continue
                moved |= any(f.parent != target for f in run_files)
                _merge_files(target, run_id, run_files)
                stats["merged_files"] += len(run_files)
                stats["written_files"] += 1
        for folder in {f.parent for fs in groups.values() for f in fs}:
            with contextlib.suppress(OSError):  # the days moved into their month
                folder.rmdir()
                folder.parent.rmdir()
        stats.update(build_derived(store, from_events=moved))
    return stats


def _merge_files(target: Path, run_id: str, files: list[Path]) -> None:
    """One file in ``target`` with the rows of ``files`` (one run), sorted by event time."""
    table_name = target.parent.parent.name
    table = pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    table = table.sort_by(EVENT_TIME[table_name])
    out = target / f"{run_id}-c{uuid.uuid4().hex[:5]}.parquet"
    _atomic_write(
        out,
        lambda p: write_parquet(table, p, level=ZSTD_LEVEL),
        journal=False,  # the same rows: nothing a reader sees changes
    )
    for f in files:
        f.unlink()
