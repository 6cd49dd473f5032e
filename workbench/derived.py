"""Derived tables: visits, track spans and linked till records, precomputed by ``compact``.

Why: a store of 100 cameras x 1 year holds 36,500 partition folders per event table.
Reading them takes DuckDB 8-15 s per query, and sessionizing millions of tracks into
visits takes seconds more (docs/benchmarks.md), so the dashboard views cannot be
computed from the events at every query. ``workbench compact`` (``build_derived``)
therefore writes, under the store's writer lock::

    derived/CURRENT                  the id of the build in use (replaced atomically)
    derived/<build>/tracks.parquet   track spans of the current runs (no embeddings),
                                     with the customer they resolved to at build time
    derived/<build>/visits.parquet   visits, sorted by start, with local times
    derived/<build>/transactions.parquet   till records with their link to a visit
    derived/<build>/edits/*.parquet  merges, track moves and labels as they were
    derived/<build>/partitions.parquet     every event partition folder read: mtime, files
    derived/<build>/manifest.json    settings, journal offset, state fingerprints, runs

The derived tables are a cache that never changes an answer. ``plan`` tells the
views what the build can no longer vouch for: files written since (the journal
``events/.journal``, which every event write appends to first, names their
partitions; a partition that only gained files keeps its built rows, one whose
files were rewritten or removed is *stale*), runs that were replaced, and edits
(merges, splits, staff) made since. The views take the build's rows for everything
else and recompute the rest from the events (``workbench.views_visits``). Every
change to events goes through the journal (erasure too: ``Store.replace_event_file``);
when the journal was cut, the partition folders are compared with the build's.
Edits that change visits (``customers merge``, ``split``, ``forget``) then ``refresh``
the build, so readers do not recompute them; labels change nothing derived.
A build made with other settings (visit gap, till camera, timezones) is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.schema import EVENTS, STATE
from workbench.store import JOURNAL, _atomic_write
from workbench.visits_sql import link, sessionize, settings_key, spans, sql_str

if TYPE_CHECKING:
    from workbench.store import Store

log = logging.getLogger(__name__)

TABLES = ("tracks", "transactions")  # the event tables the derived tables are made from
EDITS = ("customer_merges", "track_assignments", "customers")  # edits the derived rows depend on
FINGERPRINTED = (*EDITS, "customer_separations")  # every state table that `forget` rewrites
TRACK_COLUMNS = 'run_id, camera, track_id, start, "end", customer_id, quality, snapshot'
_scans: dict[tuple, dict[str, set[str]]] = {}  # (root, build, state) -> changed partitions
_built: dict[str, dict[str, dict]] = {}  # build -> partition -> its files then


@dataclass
class Plan:
    """What the views may take from a derived build, and what they must recompute."""

    build: Path | None = None  # None: compute everything from the events
    clean: bool = False  # nothing changed since the build: its rows are the answer
    stale: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in TABLES})
    edits_changed: bool = False  # merges or moved tracks differ from the build's
    runs_replaced: bool = False  # a run the build read was replaced since
    live_files: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLES})

    def sql_list(self, values) -> str:
        return "[" + ", ".join(sql_str(v) for v in sorted(values)) + "]"

    def signature(self, store: Store) -> tuple:
        """Everything the recomputed sets depend on: same signature, same sets."""
        files = tuple(sorted((f, _mtime(f)) for t in TABLES for f in self.live_files[t]))
        runs = store.state_dir / "runs.parquet"
        return (
            str(self.build), files, json.dumps(_state_fingerprint(store)),
            runs.stat().st_mtime_ns if runs.exists() else 0,
            json.dumps(sorted(set().union(*self.stale.values()))),
        )  # fmt: skip


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:  # replaced meanwhile: the next query sees the new file
        return -1


def current_build(store: Store) -> Path | None:
    try:
        build = store.root / "derived" / (store.root / "derived" / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    return build if (build / "manifest.json").exists() else None


def plan(store: Store) -> Plan:
    """Decide, cheaply, how the views use the current derived build (see the module doc).

    A build that cannot be read (deleted or damaged by hand) is ignored, with a warning.
    """
    try:
        return _plan(store)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        log.warning("derived tables unusable (%s); views compute from the events", exc)
        return Plan()


def _plan(store: Store) -> Plan:
    build = current_build(store)
    if build is None:
        return Plan()
    manifest = json.loads((build / "manifest.json").read_text())
    if manifest["settings"] != settings_key(store.config):
        log.warning(
            "the derived tables were built with other settings; views compute from the "
            "events (slower) until `workbench compact` rebuilds them"
        )
        return Plan()
    result = Plan(build=build)
    changed = _journal_since(store, manifest["journal_offset"])
    state = _state_fingerprint(store)
    if changed is None:  # the journal was cut: compare every partition folder with the build's
        key = (str(store.root), build.name, json.dumps(state, sort_keys=True))
        if key not in _scans:
            _scans.clear()
            _scans[key] = _changed_partitions(store, build)
        changed = {t: (changed or {}).get(t, set()) | _scans[key][t] for t in TABLES}
    for table in TABLES:
        for part in changed.get(table, ()):
            now = _files(store.events_dir / part)
            before = _built_files(build).get(part, {})
            if before.items() <= now.items():  # only gained files: the built rows still hold
                now = {k: v for k, v in now.items() if k not in before}
            else:
                result.stale[table].add(part)
            result.live_files[table] += sorted(str(store.events_dir / part / f) for f in now)
    current = set(store.current_runs()["run_id"])
    same = state == manifest["state"] or {
        name: _edit_key(name, store.read_state(name))
        == _edit_key(name, edits_snapshot(build, name).to_pandas())
        for name in EDITS
    }  # fmt: skip
    result.edits_changed = same is not True and not (
        same["customer_merges"] and same["track_assignments"]
    )
    result.runs_replaced = not set(manifest["runs"]) <= current
    result.clean = not (any(result.live_files.values()) or result.runs_replaced
                        or (same is not True and not all(same.values())))  # fmt: skip
    return result


def _edit_key(name: str, table: pd.DataFrame) -> list:
    """What of an edit table the derived rows depend on (of labels: who is staff)."""
    if name == "customers":
        return sorted(table.loc[table["is_staff"].fillna(False).astype(bool), "customer_id"])
    return sorted(
        map(tuple, table.drop(columns=[c for c in table if c.endswith("_at")]).astype(str).values)
    )


def edits_snapshot(build: Path, name: str) -> pa.Table:
    """An edit table as it was when ``build`` was made."""
    return pq.read_table(build / "edits" / f"{name}.parquet", schema=STATE[name])


def _journal_since(store: Store, offset: int) -> dict[str, set[str]] | None:
    """Partitions noted in the journal after ``offset``; None when the journal was cut shorter."""
    path = store.events_dir / JOURNAL
    size = path.stat().st_size if path.exists() else 0
    if size < offset:
        return None
    if size == offset:
        return {t: set() for t in TABLES}
    with open(path, encoding="utf-8") as fh:
        fh.seek(offset)
        lines = fh.read().splitlines()
    changed: dict[str, set[str]] = {t: set() for t in TABLES}
    for line in lines:
        table = line.split("/", 1)[0]
        if table in changed:
            changed[table].add(line)
    return changed


def _state_fingerprint(store: Store) -> dict[str, list[int]]:
    out = {}
    for name in FINGERPRINTED:
        path = store.state_dir / f"{name}.parquet"
        st = path.stat() if path.exists() else None
        out[name] = [st.st_mtime_ns, st.st_size] if st else []
    return out


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """The event files of a partition folder: name -> (size, mtime)."""
    if not folder.is_dir():
        return {}
    out = {}
    for e in os.scandir(folder):
        if e.name.endswith(".parquet") and not e.name.startswith("."):
            st = e.stat()
            out[e.name] = (st.st_size, st.st_mtime_ns)
    return out


def _built_files(build: Path) -> dict[str, dict[str, tuple[int, int]]]:
    """The files each partition had when ``build`` was made (read once per build)."""
    if str(build) not in _built:
        t = pq.read_table(build / "partitions.parquet", columns=["partition", "files"]).to_pydict()
        _built.clear()
        _built[str(build)] = {
            part: {
                n: (int(size), int(mtime)) for n, size, mtime in (f.rsplit(":", 2) for f in files)
            }
            for part, files in zip(t["partition"], t["files"], strict=True)
        }
    return _built[str(build)]


def _partitions(store: Store) -> dict[str, int]:
    """Every partition folder of the derived-from tables, with its mtime (changes on any rename in it)."""
    found = {}
    for table in TABLES:
        base = store.events_dir / table
        if not base.exists():
            continue
        for day in os.scandir(base):
            if day.is_dir():
                for cam in os.scandir(day.path):
                    if cam.is_dir():
                        found[f"{table}/{day.name}/{cam.name}"] = cam.stat().st_mtime_ns
    return found


def _changed_partitions(store: Store, build: Path) -> dict[str, set[str]]:
    then = pq.read_table(build / "partitions.parquet").to_pydict()
    before = dict(zip(then["partition"], then["mtime_ns"], strict=True))
    now = _partitions(store)
    changed = {p for p in before.keys() | now.keys() if before.get(p) != now.get(p)}
    return {t: {p for p in changed if p.startswith(t + "/")} for t in TABLES}


def read_events(table: str, files: str) -> str:
    """SQL for current-run rows of event files (a glob or a list literal), with their partition."""
    columns = ", ".join(f'"{n}"' for n in EVENTS[table].names)
    return (
        f"SELECT {columns}, regexp_extract(filename, '({table}/(?:date|month)=[^/]+/camera=[^/]*)/[^/]+$', 1) "
        f"AS part FROM read_parquet({files}, filename=true, union_by_name=true, "
        "hive_partitioning=false) WHERE run_id IN (SELECT run_id FROM _current_runs)"
    )


def build_derived(store: Store, from_events: bool = False) -> dict:
    """Build the derived tables anew; the caller holds the writer lock.

    The first build reads every event file; later ones start from the last build and
    what changed since (the views' answer, which tests show equals a build from
    scratch), so they take a fraction of the time; ``from_events`` (after ``compact``
    moved files) builds from the events. Returns the rows written per table and the
    seconds it took.
    """
    from workbench.views import create_views

    t0 = time.perf_counter()
    root = store.root / "derived"
    build_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    tmp = root / f".building-{build_id}"
    (tmp / "edits").mkdir(parents=True)
    journal = store.events_dir / JOURNAL
    manifest = {
        "journal_offset": journal.stat().st_size if journal.exists() else 0,
        "state": _state_fingerprint(store),
        "settings": settings_key(store.config),
        "runs": sorted(store.current_runs()["run_id"]),
    }
    parts = _partitions(store)
    files = [[f"{n}:{size}:{mtime}" for n, (size, mtime) in _files(store.events_dir / p).items()]
             for p in parts]  # fmt: skip
    pq.write_table(
        pa.table(
            {
                "partition": list(parts),
                "mtime_ns": pa.array(list(parts.values()), pa.int64()),
                "files": pa.array(files, pa.list_(pa.string())),
            }
        ),  # fmt: skip
        tmp / "partitions.parquet",
    )
    for name in EDITS:
        table = pa.Table.from_pandas(
            store.read_state(name), schema=STATE[name], preserve_index=False
        )
        pq.write_table(table, tmp / "edits" / f"{name}.parquet")
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET TimeZone = '{store.config.timezone}'")
        current = Plan() if from_events else plan(store)  # the last build and changes since
        create_views(con, store, current)
        counts = _write_tables(con, store, tmp, current)
        counts.update(_write_figures(store, tmp))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        con.close()
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, root / build_id)
    _atomic_write(root / "CURRENT", lambda p: p.write_text(build_id))
    _drop_old_builds(root, keep={build_id})
    log.info("derived tables rebuilt in %.1f s: %s", time.perf_counter() - t0, counts)
    return {**{f"derived_{k}": v for k, v in counts.items()},
            "derived_s": round(time.perf_counter() - t0, 1)}  # fmt: skip


def _write_tables(
    con: duckdb.DuckDBPyConnection, store: Store, out: Path, current: Plan
) -> dict[str, int]:
    """Tracks, visits and till records: from the views when there is a build to start from
    (they give the build corrected for what changed since), else from the events."""
    cfg = store.config
    counts = {}

    def copy(name: str, sql: str, order: str) -> None:
        target = str(out / f"{name}.parquet").replace("'", "''")
        con.execute(
            f"COPY ({sql} ORDER BY {order}) TO '{target}' "
            "(FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V2, ROW_GROUP_SIZE 122880)"
        )
        counts[name] = con.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchall()[0][
            0
        ]

    if current.build is not None:
        copy("tracks", """SELECT run_id, camera, track_id, start, "end", detected_customer_id AS
                           customer_id, quality, snapshot, part, local_day, customer_id AS resolved_id
                           FROM _spans""", "start")  # fmt: skip
        copy("visits", "SELECT * FROM _visits", "start")
        copy("transactions", "SELECT * FROM _tx_all", "ts")
        return counts
    for table in TABLES:
        glob = sql_str(str(store.events_dir / table / "*" / "*" / "*.parquet"))
        source = (
            read_events(table, glob)
            if store.has_events(table)
            else f"SELECT *, NULL::VARCHAR AS part FROM raw_{table}"
        )
        con.execute(f"CREATE TEMP VIEW _build_{table} AS {source}")
    copy(
        "tracks",
        f"""SELECT {TRACK_COLUMNS.replace("customer_id", "r.customer_id")}, part,
                   CAST(local_time(camera, start) AS DATE) AS local_day,
                   coalesce(m.into_id, a.customer_id, r.customer_id) AS resolved_id
            FROM _build_tracks r
            LEFT JOIN track_assignments a USING (track_id)
            LEFT JOIN customer_merges m ON m.customer_id = coalesce(a.customer_id, r.customer_id)""",
        "start",
    )
    tracks = sql_str(str(out / "tracks.parquet"))
    resolved = f"(SELECT * REPLACE (resolved_id AS customer_id) FROM read_parquet({tracks}))"
    copy("visits", sessionize(spans(resolved), cfg.visits.gap_s), "start")
    visits = sql_str(str(out / "visits.parquet"))
    candidates = (
        f"(SELECT v.* FROM read_parquet({visits}) v LEFT JOIN customer_labels l USING (customer_id) "
        "WHERE NOT coalesce(l.is_staff, false))"
    )
    tx = (
        "(SELECT x.* FROM _build_transactions x JOIN runs USING (run_id) QUALIFY row_number() "
        "OVER (PARTITION BY transaction_id ORDER BY runs.started_at DESC) = 1)"
    )
    footage = f"(SELECT camera, local_day FROM read_parquet({tracks}))"
    copy("transactions", link(tx, candidates, footage, cfg), "ts")
    return counts


def _write_figures(store: Store, build: Path) -> dict[str, int]:
    """The figures of ``workbench.metrics_sql``, computed from the tables just written."""
    from workbench.metrics_sql import FIGURES, ORDER, figure_sql
    from workbench.views import create_views

    counts = {}
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET TimeZone = '{store.config.timezone}'")
        create_views(con, store, Plan(build=build, clean=True))
        for name in FIGURES:
            target = sql_str(str(build / f"{name}.parquet"))
            con.execute(
                f"COPY (SELECT * FROM ({figure_sql(name)}) ORDER BY {ORDER[name]}) TO {target} "
                "(FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V2)"
            )
            counts[name.strip("_")] = con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
    finally:
        con.close()
    return counts


def refresh(store: Store) -> dict:
    """Rebuild the derived tables after an edit, when there are any (the caller holds the
    writer lock): one process pays for the edit, not every reader after it."""
    return build_derived(store) if current_build(store) is not None else {}


def _drop_old_builds(root: Path, keep: set[str]) -> None:
    """Delete builds but the new one and the one before it (a reader may still be on it)."""
    builds = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in builds[:-2]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".building-*"):
        if stale.name.removeprefix(".building-") not in keep:
            shutil.rmtree(stale, ignore_errors=True)
