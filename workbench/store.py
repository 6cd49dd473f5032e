"""The event store: a directory of Parquet files that DuckDB reads.

Layout::

    store/
      events/<table>/date=YYYY-MM-DD/camera=<id>/<run_id>-<seq>.parquet   append-only
      events/<table>/month=YYYY-MM/camera=<id>/<run_id>-c<id>.parquet    closed months, by compact
      state/<table>.parquet        small mutable tables, rewritten whole
      state/meta.json              counters
      snapshots/<camera>/<date>/<name>.jpg

Promises:

* Every file is written under a hidden temporary name and ``os.replace``d into
  place, so a reader never sees half a file, and a killed writer leaves at most a
  stray temporary file (removed by ``compact``).
* Each ingest of a source is a *run*. Readers see only the newest run of each
  source, so re-ingesting replaces events instead of doubling them; the older
  run's files are deleted once the new run completes.
* Readers open an in-memory DuckDB connection with views over the globs; they
  never lock the store, and the single writer never waits for them.
* One writer process at a time holds ``store/.writer.lock``; short edits of the
  state tables (labels, merges) take ``state/.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.config import Config, parse_config
from workbench.errors import StoreError
from workbench.schema import EVENT_TIME, EVENTS, STATE, empty_select

if TYPE_CHECKING:
    from workbench.derived import Plan

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


# events/.journal: partitions about to change, one "<table>/date=.../camera=..." a line
JOURNAL = ".journal"


def _journal(events_dir: Path, partition: str) -> None:
    """Note that an event partition changes, before it does (see ``workbench.derived``)."""
    with open(events_dir / JOURNAL, "a", encoding="utf-8") as fh:
        fh.write(partition + "\n")


def _stat_key(path: Path) -> tuple[int, int] | None:
    """A file's mtime and size (None when absent or removed meanwhile)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _atomic_write(path: Path, write, journal: bool = True) -> None:
    """Write through ``write(tmp_path)`` to a hidden temp file, then rename into place.

    A rewrite of an event file (``events/<table>/date=.../camera=.../x.parquet``) is
    noted in the journal first, unless ``journal`` is False (content-preserving merges).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if journal and len(path.parts) > 4 and path.parents[3].name == "events":
            _journal(path.parents[3], "/".join(path.parts[-4:-1]))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(
            f"cannot write {path}: {exc.strerror or exc}; check free disk space and permissions"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_parquet(table: pa.Table, path: Path, level: int = 3) -> None:
    """Write an event file: zstd, with encodings that suit each column type (the floats of
    face boxes and scores split by byte, integers and times as deltas, strings in
    dictionaries); 40% smaller than zstd alone on sightings."""
    encoding = {}
    for f in table.schema:
        if pa.types.is_floating(f.type):
            encoding[f.name] = "BYTE_STREAM_SPLIT"
        elif pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type):
            encoding[f.name] = "DELTA_BINARY_PACKED"
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=level,
        use_dictionary=[f.name for f in table.schema if f.name not in encoding],
        column_encoding=encoding,
    )


def _nan_to_null(table: pa.Table) -> pa.Table:
    """Float NaNs as nulls (as pandas writes them), so SQL's averages skip them."""
    for i, field in enumerate(table.schema):
        if pa.types.is_floating(field.type):
            col = table.column(i)
            nan = pc.is_nan(col)
            if pc.any(nan).as_py():
                table = table.set_column(i, field, pc.if_else(nan, None, col))
    return table


def _to_table(df: pd.DataFrame | pa.Table, schema: pa.Schema) -> pa.Table:
    if isinstance(df, pa.Table):
        return df.select(schema.names).cast(schema)
    missing = [n for n in schema.names if n not in df.columns]
    if missing:
        raise StoreError(f"rows lack columns {missing}")
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)


class Store:
    """A store directory. Cheap to create; nothing is opened until used."""

    def __init__(self, root: str | os.PathLike, config: Config | None = None):
        self.root = Path(root)
        self.events_dir = self.root / "events"
        self.state_dir = self.root / "state"
        self.snapshots_dir = self.root / "snapshots"
        self.config = config or self._saved_config()
        self._journaled: set[tuple[str, str]] = set()  # (run, partition) already in the journal
        self._readers = threading.local()  # each thread's query connection (``_reader``)

    def _saved_config(self) -> Config:
        """Without a config file, readers use the settings the last writer recorded in the store."""
        saved = self.read_meta().get("settings", {})
        return parse_config({**saved, "store": str(self.root)}, f"{self.root}/state/meta.json")

    def remember_settings(self) -> None:
        """Record timezones and the visit gap in the store, so any reader computes days alike."""
        cfg = self.config
        settings = {
            "timezone": cfg.timezone,
            "cameras": [{"id": c.id, "timezone": c.timezone, "name": c.name} for c in cfg.cameras],
            "visits": cfg.visits.model_dump(),
            "transactions": cfg.transactions.model_dump(),
        }
        with self.state_lock():
            meta = self.read_meta()
            if meta.get("settings") != settings:
                meta["settings"] = settings
                self.write_meta(meta)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ---------------------------------------------------------------- set-up
    def ensure_writable(self) -> None:
        """Create the store folders, or raise StoreError saying why they cannot be written."""
        try:
            for d in (self.events_dir, self.state_dir, self.snapshots_dir):
                d.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{uuid.uuid4().hex[:8]}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(
                f"store {self.root} is not writable ({exc.strerror or exc}); "
                "pick another folder with --store or fix its permissions"
            ) from None

    @contextlib.contextmanager
    def _flock(self, path: Path, what: str, wait: bool) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                raise StoreError(
                    f"{what} is in use by {holder}; wait for it to finish or use another --store"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}")
            fh.flush()
            try:
                yield
            finally:
                fh.seek(0)
                fh.truncate()
                fcntl.flock(fh, fcntl.LOCK_UN)

    def writer_lock(self) -> contextlib.AbstractContextManager[None]:
        """Held by the one process that appends events (ingest, live, demo)."""
        self.ensure_writable()
        return self._flock(self.root / ".writer.lock", f"store {self.root}", wait=False)

    def state_lock(self) -> contextlib.AbstractContextManager[None]:
        """Held briefly around a read-modify-write of a state table."""
        return self._flock(self.state_dir / ".lock", "the store's state", wait=True)

    # ---------------------------------------------------------------- state
    def read_state(self, name: str) -> pd.DataFrame:
        """A state table as a DataFrame (empty, typed, when it was never written)."""
        path = self.state_dir / f"{name}.parquet"
        schema = STATE[name]
        if not path.exists():
            return schema.empty_table().to_pandas()
        return pq.read_table(path, schema=schema).to_pandas()

    def write_state(self, name: str, df: pd.DataFrame) -> None:
        """Replace a state table atomically."""
        table = _to_table(df, STATE[name])
        _atomic_write(self.state_dir / f"{name}.parquet", lambda p: pq.write_table(table, p))

    def read_meta(self) -> dict:
        path = self.state_dir / "meta.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def write_meta(self, meta: dict) -> None:
        _atomic_write(
            self.state_dir / "meta.json", lambda p: p.write_text(json.dumps(meta, indent=1))
        )

    def allocate_customer_ids(self, n: int) -> list[str]:
        """Reserve ``n`` new anonymous customer ids (C00001, C00002, ...); never reused."""
        with self.state_lock():
            meta = self.read_meta()
            first = int(meta.get("next_customer", 1))
            meta["next_customer"] = first + n
            self.write_meta(meta)
        return [f"C{i:05d}" for i in range(first, first + n)]

    # ---------------------------------------------------------------- events
    def timezone(self, camera: str) -> str:
        return self.config.camera_timezone(camera)

    def write_events(self, table: str, rows: list[dict], run_id: str, seq: int) -> list[Path]:
        """Append rows (dicts with the table's columns, ``run_id`` excepted) to an event
        table, one file per (local date, camera) partition. Straight from the rows to Arrow:
        through pandas, a few rows cost 4-5 ms of CPU per table, so 1.2-1.5 ms
        (``benchmarks/store_writes.py``; with counting on, a flush writes up to 7 tables)."""
        if not rows:
            return []
        schema = EVENTS[table]
        needed = set(schema.names) - {"run_id"}
        missing = sorted(set().union(*(needed - r.keys() for r in rows)))
        if missing:
            raise StoreError(f"{table}: rows lack columns {missing}")
        time_col = EVENT_TIME[table]
        parts: dict[tuple[str, str], list[dict]] = {}
        zones: dict[str, ZoneInfo] = {}
        for r in rows:
            camera, ts = r["camera"], r[time_col]
            if ts is None:
                raise StoreError(f"{table}: a row has no {time_col}")
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=UTC)
            tz = zones.get(camera) or zones.setdefault(camera, ZoneInfo(self.timezone(camera)))
            day = ts.astimezone(tz).strftime("%Y-%m-%d")
            parts.setdefault((day, camera), []).append({**r, "run_id": run_id})
        written = []
        for (day, camera), chunk in parts.items():
            try:
                arrow = _nan_to_null(pa.Table.from_pylist(chunk, schema=schema))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise StoreError(f"{table}: rows do not fit the table's columns: {exc}") from exc
            partition = f"{table}/date={day}/camera={camera}"
            path = self.events_dir / partition / f"{run_id}-{seq:06d}.parquet"
            if (run_id, partition) not in self._journaled:  # a run's first file there
                path.parent.mkdir(parents=True, exist_ok=True)
                _journal(self.events_dir, partition)
                self._journaled.add((run_id, partition))
            _atomic_write(
                path,
                lambda p, a=arrow: write_parquet(a, p),
                journal=False,
            )
            written.append(path)
        return written

    def has_events(self, table: str) -> bool:
        """Whether an event table has any file (stops at the first one found)."""
        base = self.events_dir / table
        return base.exists() and next(base.glob("*/*/*.parquet"), None) is not None

    def event_files(self, table: str | None = None) -> list[Path]:
        base = self.events_dir / table if table else self.events_dir
        return sorted(base.glob("**/*.parquet")) if base.exists() else []

    def save_snapshot(self, relpath: str, jpeg: bytes) -> str:
        """Store a key image; returns its path relative to the store."""
        _atomic_write(self.snapshots_dir / relpath, lambda p: p.write_bytes(jpeg))
        return f"snapshots/{relpath}"

    # ---------------------------------------------------------------- runs
    def register_run(self, run: dict) -> None:
        """Record a run (or update it); the newest run of a source is the current one."""
        with self.state_lock():
            runs = self.read_state("runs")
            runs = runs[runs["run_id"] != run["run_id"]]
            row = pd.DataFrame([{c: run.get(c) for c in STATE["runs"].names}])
            self.write_state(
                "runs", pd.concat([runs, row], ignore_index=True) if len(runs) else row
            )

    def current_runs(self) -> pd.DataFrame:
        runs = self.read_state("runs")
        if runs.empty:
            return runs
        runs = runs.sort_values("started_at")
        return runs.groupby("source_key", sort=False).tail(1)

    def drop_superseded(self) -> int:
        """Delete files of runs that a newer run of the same source replaced; returns files removed."""
        runs = self.read_state("runs")
        if runs.empty:
            return 0
        keep = set(self.current_runs()["run_id"])
        if set(runs["run_id"]) <= keep:  # nothing replaced: no need to list every file
            return 0
        removed = 0
        for path in self.event_files():
            if path.name.rsplit("-", 1)[0] not in keep:
                path.unlink(missing_ok=True)
                removed += 1
        with self.state_lock():
            runs = self.read_state("runs")
            self.write_state("runs", runs[runs["run_id"].isin(keep)])
        return removed

    # ---------------------------------------------------------------- read side
    def connect(self, plan: Plan | None = None) -> duckdb.DuckDBPyConnection:
        """A new in-memory DuckDB connection with a view per table (see ``workbench.views``)."""
        from workbench.views import create_views

        con = duckdb.connect(":memory:")
        con.execute(f"SET TimeZone = '{self.config.timezone}'")
        create_views(con, self, plan)
        return con

    def query(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        """Run SQL over the store's views and return a DataFrame.

        The connection is kept for the next query of the same thread while the store
        stays as it was (``_reader``): opening one and creating the views costs more
        than most dashboard queries. Retries once, on a new connection, when a file
        vanished or was replaced between listing and reading (a writer replaced or
        compacted it meanwhile; a replaced file read with the cached footer of the old
        one fails as "TProtocolException").
        """
        for attempt in (1, 2):
            con = self._reader()
            try:
                return con.execute(sql, params or []).df()
            except duckdb.Error as exc:
                self._readers.con = None  # whatever failed, the next query starts afresh
                con.close()
                replaced = isinstance(exc, duckdb.IOException) or "TProtocolException" in str(exc)
                if attempt == 2 or not replaced:
                    raise
        raise AssertionError("unreachable")

    def _reader(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection, new when anything its views were made from changed:
        the derived plan's signature (build, files written since, edits, runs), the state
        files, the journal every event write appends to, which event tables exist, the
        settings."""
        from workbench.derived import plan as derived_plan

        plan = derived_plan(self)
        state = sorted(os.listdir(self.state_dir)) if self.state_dir.is_dir() else []
        key = (
            plan.signature(self),
            [(name, _stat_key(self.state_dir / name)) for name in state],
            _stat_key(self.events_dir / JOURNAL),
            [self.has_events(t) for t in EVENTS],
            self.config.model_dump_json(),
        )
        cached = getattr(self._readers, "con", None)
        if cached is not None and self._readers.key == key:
            return cached
        if cached is not None:
            cached.close()
        self._readers.con, self._readers.key = self.connect(plan), key
        return self._readers.con

    def parquet_source(self, table: str) -> str:
        """SQL for the rows of an event table's current runs (or an empty typed SELECT)."""
        if not self.has_events(table):
            return empty_select(EVENTS[table])
        glob = str(self.events_dir / table / "**" / "*.parquet").replace("'", "''")
        cols = ", ".join(f'"{n}"' for n in EVENTS[table].names)
        return (
            f"SELECT {cols} FROM read_parquet('{glob}', union_by_name=true, hive_partitioning=false) "
            "WHERE run_id IN (SELECT run_id FROM _current_runs)"
        )

    # ---------------------------------------------------------------- maintenance
    def replace_event_file(self, path: Path, rows: pa.Table | None) -> None:
        """Rewrite an event file with ``rows``, or delete it when there are none.

        Its partition is noted in the journal first, so derived tables see the change.
        """
        if rows is not None and rows.num_rows:
            _atomic_write(path, lambda p: write_parquet(rows, p))
            return
        _journal(self.events_dir, path.parent.relative_to(self.events_dir).as_posix())
        path.unlink(missing_ok=True)

    def compact(self, today: date | None = None) -> dict:
        """Merge small files, move closed months into monthly files, drop superseded runs and
        stray temp files, then rebuild the derived tables (``workbench.compaction``)."""
        from workbench.compaction import compact

        return compact(self, today)

    def size_bytes(self) -> int:
        return (
            sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
            if self.root.exists()
            else 0
        )
