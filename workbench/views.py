"""The SQL views every reader sees: raw event tables, visits and customers.

Visits are not stored: they are sessions of face tracks per customer and camera
(a new visit after ``visits.gap_s`` of absence), so merging customers or
re-ingesting footage can never leave visits that disagree with the tracks.

Tracks keep the customer the pipeline decided (``detected_customer_id``); the
``tracks`` view resolves it through the people's edits in the state tables
(tracks moved by a split, customers merged), which are never written into events.
Staff are in ``all_visits`` and ``customers`` but not in ``visits``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from workbench.schema import EVENTS, STATE, empty_select

if TYPE_CHECKING:
    from workbench.store import Store


def _state_source(store: Store, name: str) -> str:
    path = store.state_dir / f"{name}.parquet"
    if not path.exists():
        return empty_select(STATE[name])
    return f"SELECT * FROM read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"


def create_views(con: duckdb.DuckDBPyConnection, store: Store) -> None:
    gap_s = float(store.config.visits.gap_s)
    con.execute(f"CREATE VIEW runs AS {_state_source(store, 'runs')}")
    con.execute(
        "CREATE VIEW _current_runs AS SELECT run_id FROM runs "
        "QUALIFY row_number() OVER (PARTITION BY source_key ORDER BY started_at DESC) = 1"
    )
    for name in ("customer_merges", "track_assignments", "customer_separations"):
        con.execute(f"CREATE VIEW {name} AS {_state_source(store, name)}")
    con.execute(f"CREATE VIEW customer_labels AS {_state_source(store, 'customers')}")
    for table in EVENTS:
        source = store.parquet_source(table)
        if table == "tracks":
            con.execute(f"CREATE VIEW raw_tracks AS {source}")
            # the customer a track belongs to now: the pipeline's decision, unless a person
            # moved the track (split) or its customer was merged into another
            source = """
                SELECT r.* REPLACE (
                           coalesce(m.into_id, a.customer_id, r.customer_id) AS customer_id),
                       r.customer_id AS detected_customer_id
                FROM raw_tracks r
                LEFT JOIN track_assignments a USING (track_id)
                LEFT JOIN customer_merges m
                       ON m.customer_id = coalesce(a.customer_id, r.customer_id)
            """
        con.execute(f'CREATE VIEW "{table}" AS {source}')
    con.execute(
        f"""
        CREATE VIEW all_visits AS
        WITH t AS (
            SELECT customer_id, camera, start, "end", snapshot, quality
            FROM tracks WHERE customer_id IS NOT NULL
        ), flagged AS (
            SELECT *,
                CASE WHEN start > max("end") OVER w + to_microseconds(CAST({gap_s * 1e6} AS BIGINT))
                     THEN 1 ELSE 0 END AS starts_visit
            FROM t
            WINDOW w AS (PARTITION BY customer_id, camera ORDER BY start, "end"
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ), numbered AS (
            SELECT *, sum(starts_visit) OVER (PARTITION BY customer_id, camera ORDER BY start, "end"
                                              ROWS UNBOUNDED PRECEDING) AS n
            FROM flagged
        ), v AS (
            SELECT customer_id, camera, min(start) AS start, max("end") AS "end",
                   arg_max(snapshot, quality) AS snapshot, count(*) AS tracks
            FROM numbered GROUP BY customer_id, camera, n
        )
        SELECT substr(md5(customer_id || '|' || camera || '|' || CAST(epoch_us(start) AS VARCHAR)), 1, 12)
                   AS visit_id,
               v.customer_id, camera, start, "end",
               (epoch_us("end") - epoch_us(start)) / 1e6 AS dwell_s,
               row_number() OVER (PARTITION BY v.customer_id ORDER BY start, camera) = 1 AS is_new,
               tracks, v.snapshot, coalesce(l.is_staff, false) AS is_staff
        FROM v LEFT JOIN customer_labels l USING (customer_id)
        """
    )
    # customer analytics leave staff out
    con.execute(
        "CREATE VIEW visits AS SELECT * EXCLUDE (is_staff) FROM all_visits WHERE NOT is_staff"
    )
    con.execute(
        """
        CREATE VIEW customers AS
        SELECT v.customer_id, min(v.start) AS first_seen, max(v."end") AS last_seen,
               count(*) AS visit_count, any_value(l.label) AS label,
               coalesce(any_value(l.is_staff), false) AS is_staff,
               arg_max(v.snapshot, v.start) AS snapshot
        FROM all_visits v LEFT JOIN customer_labels l USING (customer_id)
        GROUP BY v.customer_id
        """
    )
