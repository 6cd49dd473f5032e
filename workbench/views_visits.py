"""Views of track spans, visits, customers and linked till records, from a derived build or not.

Three shapes, the same answers (tests/test_derived.py checks it):

* no derived build (a small store, or one never compacted): everything is computed
  from the events when a query asks for it;
* a build nothing has changed since: its rows are the answer;
* a build some things changed since (``workbench.derived.Plan``): its rows, except
  those it can no longer vouch for, which are recomputed from the events when the
  connection opens (and remembered while the files they come from stay the same):

  - *edited* customers (merges or moved tracks since, tracks in partitions
    rewritten since or in runs replaced since): all their visits, from all their
    tracks;
  - *appended* customers (only new tracks since): their new tracks and the visits
    those can join (sessions of sessions are the same sessions), and who is new;
  - till records written since, and those whose link may have changed: near a
    visit that differs from the build's (or of a customer (un)marked as staff), or
    on a camera and day whose footage changed (merged customers always have visits,
    so a merge changes visits too);
  - the figures (``workbench.metrics_sql``) of the days and customers of those.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.derived import TRACK_COLUMNS, Plan, edits_snapshot, read_events
from workbench.parts import Parts, parts_folder
from workbench.schema import EVENTS
from workbench.visits_sql import DAY_US, link, sessionize, spans, sql_str

if TYPE_CHECKING:
    from workbench.store import Store

log = logging.getLogger(__name__)
TX_COLUMNS = ", ".join(f'"{n}"' for n in EVENTS["transactions"].names)
_known: dict[tuple, dict[str, pa.Table]] = {}  # plan signature -> recomputed parts
_dwell: dict[str, int] = {}  # build -> its longest visit, in microseconds
_DEFER = "WITH (DEFER_BINDING)"


def _view(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    con.execute(f"CREATE VIEW {name} {_DEFER} AS {sql}")


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"{name}_arrow", table)
    _view(con, name, f"SELECT * FROM {name}_arrow")


def _step(con: duckdb.DuckDBPyConnection, known: dict, name: str, sql: str) -> None:
    """Compute ``sql`` into ``known[name]`` unless known already (in this process, or kept by
    another: ``_Parts``), and register it as ``name``."""
    if name not in known and not (isinstance(known, Parts) and known.load(name)):
        t0, c0 = time.perf_counter(), time.process_time()
        known[name] = con.sql(sql).to_arrow_table()
        log.debug("%s: %d rows in %.2f s (CPU %.2f s)", name, known[name].num_rows,
                  time.perf_counter() - t0, time.process_time() - c0)  # fmt: skip
        if isinstance(known, Parts):
            known.save(name)
    _register(con, name, known[name])


def create_visit_views(
    con: duckdb.DuckDBPyConnection, store: Store, plan: Plan
) -> tuple[Callable[[str, str], None] | None, dict]:
    """``track_spans``, ``all_visits``, ``visits`` and ``transactions`` (in a dirty plan also
    ``_dirty_days`` and ``_dirty_customers``, the keys ``metrics_sql`` recomputes).

    For a dirty plan, returns ``materialize(name, sql)``: compute once per state of
    the store (remembered in this process) and register as a view; and hints for
    ``workbench.metrics_sql`` (``_hints``).
    """
    gap_s = store.config.visits.gap_s
    dirty = plan.build is not None and not plan.clean
    known: dict[str, pa.Table] = {}
    if dirty:
        signature = plan.signature(store)
        if signature not in _known:
            _known.clear()
            _known[signature] = Parts(parts_folder(store, plan))
        known = _known[signature]
    if plan.build is None:
        _view(con, "_track_rows",
              f"SELECT {TRACK_COLUMNS}, NULL::VARCHAR AS part, CAST(local_time(camera, start) AS DATE) "
              "AS local_day, true AS live FROM raw_tracks")  # fmt: skip
    else:
        _derived_sources(con, plan)
        rows = f"SELECT {TRACK_COLUMNS}, part, local_day, false AS live FROM _d_tracks"
        if dirty:  # and the tracks written since the build (few), read once
            _step(con, known, "_live_rows", f"SELECT {TRACK_COLUMNS}, part, "
                  "CAST(local_time(camera, start) AS DATE) AS local_day, true AS live FROM _live_tracks")  # fmt: skip
            _step(con, known, "_live_spans", _resolved("_live_rows"))
            rows += f" {_VALID} UNION ALL SELECT * FROM _live_rows"
        _view(con, "_track_rows", rows)
    _view(con, "_spans", _resolved("_track_rows"))
    _view(con, "track_spans", "SELECT * EXCLUDE (live, part) FROM _spans")
    if plan.build is None:
        _view(con, "_visits", sessionize(spans("_spans"), gap_s))
    elif plan.clean:
        _view(con, "_visits", "SELECT * FROM _d_visits")
    else:
        _recompute_visits(con, store, plan, known)
        _view(con, "_visits", """
            SELECT * REPLACE (is_new AND customer_id NOT IN (SELECT customer_id FROM _first_moved)
                              AS is_new)
            FROM _d_visits WHERE customer_id NOT IN (SELECT customer_id FROM _edited)
                             AND visit_id NOT IN (SELECT visit_id FROM _tail)
            UNION ALL BY NAME SELECT * FROM _redone""")  # fmt: skip
    _view(con, "all_visits", """
        SELECT v.*, coalesce(l.is_staff, false) AS is_staff
        FROM _visits v LEFT JOIN customer_labels l USING (customer_id)""")  # fmt: skip
    # customer analytics leave staff out
    _view(con, "visits", "SELECT * EXCLUDE (is_staff) FROM all_visits WHERE NOT is_staff")
    candidates = "(SELECT * FROM all_visits WHERE NOT is_staff)"
    if plan.build is None:
        tx = """(SELECT x.* FROM raw_transactions x JOIN runs USING (run_id) QUALIFY row_number()
                 OVER (PARTITION BY transaction_id ORDER BY runs.started_at DESC) = 1)"""
        _view(con, "_tx_all", link(tx, candidates, "_spans", store.config))
    elif plan.clean:
        _view(con, "_tx_all", "SELECT * FROM _d_tx")
    else:
        _relink(con, store, plan, known)
        _dirty_keys(con, plan, known)
        _view(con, "_tx_all", f"""
            SELECT * FROM _d_tx {_VALID}
               AND transaction_id NOT IN (SELECT transaction_id FROM _redo)
            UNION ALL BY NAME SELECT * FROM _relinked""")  # fmt: skip
    _view(con, "transactions", """
        SELECT t.transaction_id, t.ts AS "timestamp", t.ts, t.local_ts, t.local_day, t.camera,
               coalesce(m.into_id, t.till_customer_id, t.visit_customer_id) AS customer_id,
               t.visit_id, t.visit_local_day, t.link_status, t.link_candidates, t.till_customer_id,
               t.payment_mode, t.can_size, t.number_of_cans, t.amount, t.payment_status, t.run_id
        FROM _tx_all t LEFT JOIN customer_merges m ON m.customer_id = t.till_customer_id""")  # fmt: skip
    if not dirty:
        return None, {}
    return (lambda name, sql: _step(con, known, name, sql)), _hints(con, plan, known)


def _hints(con: duckdb.DuckDBPyConnection, plan: Plan, known: dict) -> dict:
    """Bounds for ``workbench.metrics_sql`` to recompute figures reading little of the build."""
    lo, hi = con.execute("SELECT min(day), max(day) FROM _dirty_days").fetchall()[0]
    longest = _longest(con, plan)
    day_us = (lambda d: (d - date(1970, 1, 1)).days * DAY_US) if lo else None
    return {
        "days": (f"DATE '{lo}'", f"DATE '{hi}'") if lo else ("NULL", "NULL"),
        # records linked to visits of those days: from a day before the first (timezones)
        # to the end of the last visit that starts on the last, and the link window
        "ts": (_ts(day_us(lo) - 2 * DAY_US), _ts(day_us(hi) + 3 * DAY_US + longest))
        if lo
        else ("NULL", "NULL"),
        # records' customer sums can be corrected by what was linked again, unless an
        # edit since the build moved records between customers without linking them again
        "tx_delta": not (
            plan.edits_changed
            or plan.runs_replaced
            or any(plan.stale.values())
            or known["_staff_changed"].num_rows
        ),  # fmt: skip
    }


def _resolved(rows: str) -> str:
    """Track rows with the customer they belong to now (after splits and merges)."""
    return f"""
        SELECT r.* EXCLUDE (customer_id),
               coalesce(m.into_id, a.customer_id, r.customer_id) AS customer_id,
               r.customer_id AS detected_customer_id
        FROM {rows} r
        LEFT JOIN track_assignments a USING (track_id)
        LEFT JOIN customer_merges m ON m.customer_id = coalesce(a.customer_id, r.customer_id)"""


def _ts(us: int) -> str:
    """A TIMESTAMPTZ literal: a constant bound DuckDB checks against each row group's min/max
    (the build's tables are sorted by time), so a query reads only the row groups it needs."""
    return f"TIMESTAMPTZ '{datetime.fromtimestamp(us / 1e6, UTC).isoformat()}'"


def _scalar(con: duckdb.DuckDBPyConnection, sql: str):
    return con.execute(sql).fetchall()[0][0]


def _max_dwell_us(build: Path) -> int:
    """The longest visit of a build (from the Parquet statistics): a visit ending after t
    started after t minus this, which turns a bound on ``end`` into one on ``start``."""
    if str(build) not in _dwell:
        meta = pq.ParquetFile(build / "visits.parquet").metadata
        col = meta.schema.names.index("dwell_s")
        stats = [meta.row_group(i).column(col).statistics for i in range(meta.num_row_groups)]
        _dwell.clear()
        _dwell[str(build)] = int(max((st.max for st in stats if st and st.has_min_max),
                                     default=0) * 1e6) + 1  # fmt: skip
    return _dwell[str(build)]


def _longest(con: duckdb.DuckDBPyConnection, plan: Plan) -> int:
    """The longest visit now (the build's, or one made again), in microseconds."""
    redone = _scalar(con, "SELECT max(dwell_s) FROM _redone") or 0
    return max(_max_dwell_us(plan.build), int(redone * 1e6) + 1)


# build rows still valid: their partition was not written since, their run not replaced
_VALID = """WHERE part NOT IN (SELECT part FROM _stale)
              AND run_id IN (SELECT run_id FROM _current_runs)"""


def _derived_sources(con: duckdb.DuckDBPyConnection, plan: Plan) -> None:
    """``_d_*``: the build's tables; ``_live_*``: event files written since; ``_stale``."""
    for name, view in (("tracks", "_d_tracks"), ("visits", "_d_visits"), ("transactions", "_d_tx")):
        _view(
            con, view, f"SELECT * FROM read_parquet({sql_str(str(plan.build / f'{name}.parquet'))})"
        )
    for name, view in (("customer_merges", "_d_merges"), ("track_assignments", "_d_assign"),
                       ("customers", "_d_labels")):  # fmt: skip
        _register(con, view, edits_snapshot(plan.build, name))
    for table, view, columns in (("tracks", "_live_tracks", TRACK_COLUMNS),
                                 ("transactions", "_live_tx", TX_COLUMNS)):  # fmt: skip
        files = plan.live_files[table]
        source = (
            f"SELECT {columns}, part FROM ({read_events(table, plan.sql_list(files))})"
            if files
            else f"SELECT {columns}, NULL::VARCHAR AS part FROM raw_{table} WHERE false"
        )
        _view(con, view, source)
    uncovered = plan.sql_list(set().union(*plan.stale.values()))
    _view(con, "_stale", f"SELECT unnest({uncovered}::VARCHAR[]) AS part")


def _edited_sql(plan: Plan) -> str:
    """Customers whose visits must be sessionized again from all their tracks."""
    parts = []
    if plan.edits_changed:
        parts.append("""
            SELECT customer_id FROM mdiff UNION ALL SELECT into_id FROM mdiff
            UNION ALL SELECT customer_id FROM moved
            -- moved tracks: the customer they counted for, and count for now
            UNION ALL SELECT resolved_id FROM _d_tracks WHERE track_id IN (SELECT track_id FROM moved)
            UNION ALL SELECT customer_id FROM _spans WHERE track_id IN (SELECT track_id FROM moved)""")
    if plan.runs_replaced or any(plan.stale.values()):  # build rows no longer valid
        parts.append("""SELECT resolved_id FROM _d_tracks WHERE part IN (SELECT part FROM _stale)
                        OR run_id NOT IN (SELECT run_id FROM _current_runs)""")
    if not parts:
        return "SELECT NULL::VARCHAR AS customer_id WHERE false"
    return f"""
    WITH mdiff AS (
        (SELECT customer_id, into_id FROM _d_merges EXCEPT SELECT customer_id, into_id FROM customer_merges)
        UNION ALL
        (SELECT customer_id, into_id FROM customer_merges EXCEPT SELECT customer_id, into_id FROM _d_merges)
    ), moved AS (
        (SELECT track_id, customer_id FROM _d_assign EXCEPT SELECT track_id, customer_id FROM track_assignments)
        UNION ALL
        (SELECT track_id, customer_id FROM track_assignments EXCEPT SELECT track_id, customer_id FROM _d_assign)
    )
    SELECT DISTINCT id AS customer_id FROM ({" UNION ALL ".join(parts)}) AS e(id)
    WHERE id IS NOT NULL"""


def _recompute_visits(
    con: duckdb.DuckDBPyConnection, store: Store, plan: Plan, known: dict
) -> None:
    """Register ``_edited``, ``_staff_changed``, ``_tail``, ``_redone``, ``_first_moved`` and
    ``_visits_changed``, reading of the build only the row groups they concern."""
    gap_us = int(round(store.config.visits.gap_s * 1e6))
    gap_s = store.config.visits.gap_s
    seen = sql_str(str(plan.build / "_seen.parquet"))
    _step(con, known, "_edited", _edited_sql(plan))
    _step(con, known, "_staff_changed", """
        SELECT customer_id FROM _d_labels o FULL JOIN customer_labels n USING (customer_id)
        WHERE coalesce(o.is_staff, false) <> coalesce(n.is_staff, false)""")  # fmt: skip
    edited = known["_edited"].num_rows > 0
    live = "customer_id NOT IN (SELECT customer_id FROM _edited)"
    _step(con, known, "_first_new", f"""
        SELECT customer_id, camera, min(start) AS s FROM _live_spans
        WHERE {live} AND customer_id IS NOT NULL GROUP BY 1, 2""")  # fmt: skip
    # build visits the new tracks can join: of the same customer and camera, ending
    # at most a visit gap before the first new track there (or later)
    first = _scalar(con, "SELECT epoch_us(min(s)) FROM _first_new")
    lo = _ts((first or 0) - gap_us - _max_dwell_us(plan.build))
    _step(con, known, "_tail", f"""
        SELECT v.* FROM _d_visits v JOIN _first_new f USING (customer_id, camera)
        WHERE v.start >= {lo} AND epoch_us(v."end") >= epoch_us(f.s) - {gap_us}""")  # fmt: skip
    appended = f'{spans("_live_spans", live)} UNION ALL SELECT customer_id, camera, start, "end", snapshot, quality, tracks FROM _tail'  # noqa: E501
    redone_edited = (
        f"UNION ALL BY NAME SELECT * FROM ({sessionize(spans('_spans', 'customer_id IN (SELECT customer_id FROM _edited)'), gap_s)})"  # noqa: E501
        if edited
        else ""
    )
    # who is new: a customer's earliest visit, of the build's (``_seen``; a tail's
    # replacement starts no later than it) and the new ones
    _step(con, known, "_redone", f"""
        WITH appended AS ({sessionize(f"({appended})", gap_s)}),
        firsts AS (
            SELECT customer_id, first_seen AS start, NULL AS camera FROM read_parquet({seen})
            WHERE customer_id IN (SELECT customer_id FROM appended)
            UNION ALL SELECT customer_id, start, camera FROM appended
        ), first AS (
            SELECT customer_id, start, camera FROM firsts
            QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY start, camera) = 1
        )
        SELECT a.* REPLACE (f.start IS NOT NULL AS is_new)
        FROM appended a LEFT JOIN first f USING (customer_id, start, camera)
        {redone_edited}""")  # fmt: skip
    _step(con, known, "_first_moved", "SELECT customer_id FROM _redone WHERE is_new "
         "AND customer_id NOT IN (SELECT customer_id FROM _edited)")  # fmt: skip
    # visits that differ from the build's (the others need nothing recomputed), and
    # every visit of a customer (un)marked as staff
    cols = 'visit_id, customer_id, camera, start, "end", tracks, is_new, local_day'
    old = [f"SELECT {cols} FROM _tail"]
    if edited:
        old.append(
            f"SELECT {cols} FROM _d_visits WHERE customer_id IN (SELECT customer_id FROM _edited)"
        )
    demoted = con.execute(f"""SELECT DISTINCT epoch_us(first_seen) FROM read_parquet({seen})
        WHERE customer_id IN (SELECT customer_id FROM _first_moved)""").fetchall()
    if demoted:  # build visits that were a customer's first and are not any more
        starts = ", ".join(_ts(us) for (us,) in demoted)
        old.append(f"""SELECT {cols} FROM _d_visits WHERE start IN ({starts}) AND is_new
                       AND customer_id IN (SELECT customer_id FROM _first_moved)""")
    staff = ""
    if known["_staff_changed"].num_rows:
        staff = f"""UNION ALL SELECT {cols} FROM _d_visits
                    WHERE customer_id IN (SELECT customer_id FROM _staff_changed)"""
    _step(con, known, "_visits_changed", f"""
        WITH old AS ({" UNION ALL ".join(old)}), new AS (SELECT {cols} FROM _redone)
        (SELECT * FROM old EXCEPT ALL SELECT * FROM new)
        UNION ALL (SELECT * FROM new EXCEPT ALL SELECT * FROM old)
        {staff}""")  # fmt: skip


def _relink(con: duckdb.DuckDBPyConnection, store: Store, plan: Plan, known: dict) -> None:
    """Register ``_redo`` (build records to link again), ``_redo_old`` (their build rows)
    and ``_relinked`` (their new links, and those of records written since)."""
    w = int(round(store.config.transactions.link_window_s * 1e6))
    till = sql_str(store.config.transactions.till_camera)
    stale = plan.runs_replaced or any(plan.stale.values())
    _step(con, known, "_tx_live", """
        SELECT x.* FROM _live_tx x JOIN runs USING (run_id)
        QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY runs.started_at DESC) = 1""")  # fmt: skip
    footage_changed = ["SELECT DISTINCT camera, local_day FROM _live_spans"]
    if stale:
        footage_changed.append("""SELECT DISTINCT camera, local_day FROM _d_tracks
            WHERE part IN (SELECT part FROM _stale) OR run_id NOT IN (SELECT run_id FROM _current_runs)""")
    _step(con, known, "_redo_days", f"""
        WITH days AS (  -- UTC days of changed visits, give or take the link window
            SELECT DISTINCT customer_id, camera,
                   unnest(range((epoch_us(start) - {w}) // {DAY_US}, (epoch_us("end") + {w}) // {DAY_US} + 1)) AS d
            FROM _visits_changed
        ), footage AS (  -- footage changed: that local day, give or take a day in UTC
            {" UNION ".join(footage_changed)}
        )
        SELECT DISTINCT customer_id, camera, d FROM days
        UNION SELECT DISTINCT NULL, camera, unnest(range(epoch_us(CAST(local_day AS TIMESTAMP)) // {DAY_US} - 1,
                                                epoch_us(CAST(local_day AS TIMESTAMP)) // {DAY_US} + 2))
        FROM footage""")  # fmt: skip
    lo, hi = con.execute("SELECT min(d), max(d) FROM _redo_days").fetchall()[0]
    # build records on those UTC days (a range of row groups: the build is sorted by time)
    days = f"ts >= {_ts((lo or 0) * DAY_US)} AND ts < {_ts(((hi or -1) + 1) * DAY_US)}"
    # build copies of records written again since (a scan of one column of the build)
    _step(con, known, "_rewritten", "SELECT transaction_id, epoch_us(ts) AS us FROM _d_tx "
          "WHERE transaction_id IN (SELECT transaction_id FROM _tx_live)")  # fmt: skip
    _step(con, known, "_redo", f"""
        WITH cam_days AS (SELECT DISTINCT camera, d FROM _redo_days),
        tx AS (
            SELECT transaction_id, till_customer_id, link_camera, epoch_us(ts) // {DAY_US} AS d
            FROM _d_tx WHERE {days}
        )
        SELECT transaction_id FROM _rewritten
        UNION SELECT tx.transaction_id FROM tx JOIN cam_days x ON x.camera = tx.link_camera AND x.d = tx.d
              WHERE tx.till_customer_id IS NULL
        UNION SELECT tx.transaction_id FROM tx JOIN (SELECT DISTINCT d FROM cam_days) x ON x.d = tx.d
              WHERE tx.till_customer_id IS NULL AND tx.link_camera IS NULL
        UNION SELECT tx.transaction_id FROM tx LEFT JOIN customer_merges m ON m.customer_id = tx.till_customer_id
              JOIN _redo_days x ON x.customer_id = coalesce(m.into_id, tx.till_customer_id) AND x.d = tx.d""")  # fmt: skip
    bound = days
    live_lo, live_hi = con.execute("SELECT min(us), max(us) FROM _rewritten").fetchall()[0]
    if live_lo is not None:  # those can be at any time
        bound = f"({days} OR ts BETWEEN {_ts(live_lo)} AND {_ts(live_hi)})"
    _step(con, known, "_redo_old",
          f"SELECT * FROM _d_tx WHERE {bound} AND transaction_id IN (SELECT transaction_id FROM _redo)")  # fmt: skip
    c_cols = ", ".join(f'c."{n}"' for n in EVENTS["transactions"].names)
    # the records to link: build ones to redo (unless written again since), and new ones,
    # the newest run's copy of each
    _view(con, "_todo", f"""SELECT * EXCLUDE (started, live) FROM (
            SELECT {c_cols}, c.part, r.started_at AS started, false AS live
            FROM _redo_old c JOIN runs r USING (run_id)
            WHERE c.part NOT IN (SELECT part FROM _stale)
              AND c.run_id IN (SELECT run_id FROM _current_runs)
            UNION ALL
            SELECT {c_cols}, c.part, r.started_at, true FROM _tx_live c JOIN runs r USING (run_id)
        ) QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY started DESC, live DESC) = 1""")  # fmt: skip
    if "_relinked" in known:
        _register(con, "_relinked", known["_relinked"])
        return
    lo, hi = con.execute("SELECT epoch_us(min(ts)), epoch_us(max(ts)) FROM _todo").fetchall()[0]
    lo, hi = (lo or 0) - DAY_US, (hi or 0) + DAY_US
    near = f'"end" >= {_ts(lo)} AND start <= {_ts(hi)}'
    # visits ending after lo started after lo minus the longest visit: a range of row groups
    near_v = f"{near} AND start >= {_ts(lo - _longest(con, plan))}"
    candidates = f"""(SELECT * FROM all_visits WHERE NOT is_staff AND {near_v} AND (
        camera IN (SELECT coalesce(nullif(camera, ''), {till}) FROM _todo)
        OR customer_id IN (SELECT coalesce(m.into_id, t.customer_id) FROM _todo t
                           LEFT JOIN customer_merges m ON m.customer_id = t.customer_id)
        OR EXISTS (SELECT 1 FROM _todo WHERE coalesce(nullif(camera, ''), {till}) IS NULL)))"""
    # footage of the records' local days (and more: only theirs are looked at)
    footage = f"(SELECT camera, local_day FROM _track_rows WHERE start BETWEEN {_ts(lo - DAY_US)} AND {_ts(hi + DAY_US)})"
    _step(con, known, "_relinked", link("_todo", candidates, footage, store.config))


def _dirty_keys(con: duckdb.DuckDBPyConnection, plan: Plan, known: dict) -> None:
    """Register ``_dirty_days`` and ``_dirty_customers``: figures to compute again."""
    daily = sql_str(str(plan.build / "daily_summary.parquet"))
    old = "_redo_old"
    if plan.runs_replaced or any(plan.stale.values()):  # and build records no longer valid
        old = """(SELECT * FROM _redo_old UNION SELECT * FROM _d_tx WHERE part IN (SELECT part FROM _stale)
                  OR run_id NOT IN (SELECT run_id FROM _current_runs))"""
    _view(con, "_changed", f"""
        WITH tx_old AS (
            SELECT local_day, visit_local_day, coalesce(m.into_id, till_customer_id, visit_customer_id) AS customer_id
            FROM {old} c LEFT JOIN _d_merges m ON m.customer_id = c.till_customer_id
        ), tx_new AS (
            SELECT local_day, visit_local_day,
                   coalesce(m.into_id, till_customer_id, visit_customer_id) AS customer_id
            FROM _relinked r LEFT JOIN customer_merges m ON m.customer_id = r.till_customer_id
        )
        SELECT customer_id, local_day AS day FROM _visits_changed
        UNION ALL SELECT customer_id, local_day FROM tx_old UNION ALL SELECT customer_id, visit_local_day FROM tx_old
        UNION ALL SELECT customer_id, local_day FROM tx_new
        UNION ALL SELECT customer_id, visit_local_day FROM tx_new""")  # fmt: skip
    # days that changed, and the days between the build's and those (a calendar has no gaps)
    _step(con, known, "_dirty_days", f"""
        WITH changed AS (SELECT DISTINCT day FROM _changed WHERE day IS NOT NULL),
        built AS (SELECT day FROM read_parquet({daily})),
        span AS (SELECT min(day) AS lo, max(day) AS hi FROM (SELECT day FROM changed UNION ALL SELECT day FROM built))
        SELECT day FROM changed
        UNION SELECT CAST(g.d AS DATE) FROM span, generate_series(span.lo, span.hi, INTERVAL 1 DAY) g(d)
              WHERE CAST(g.d AS DATE) NOT IN (SELECT day FROM built)""")  # fmt: skip
    _step(con, known, "_dirty_customers",
          "SELECT DISTINCT customer_id FROM _changed WHERE customer_id IS NOT NULL")  # fmt: skip
