"""The SQL views every reader sees: raw event tables, visits, customers, till records, figures.

Visits are sessions of face tracks per customer and camera (a new visit after
``visits.gap_s`` of absence), computed from the tracks, so merging customers or
re-ingesting footage can never leave visits that disagree with the tracks
(``workbench.views_visits``; at scale from tables precomputed by ``compact``,
corrected for whatever changed since: ``workbench.derived``). The shop's figures
(``daily_summary``, ``hourly_traffic``, ...) are views over those
(``workbench.metrics_sql``). ``local_time(camera, ts)`` gives a camera's wall clock.

Tracks keep the customer the pipeline decided (``detected_customer_id``); the
``tracks`` view resolves it through the people's edits in the state tables
(tracks moved by a split, customers merged), which are never written into events.
Staff are in ``all_visits`` and ``customers`` but not in ``visits``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from workbench.derived import Plan
from workbench.derived import plan as derived_plan
from workbench.metrics_sql import create_metric_views
from workbench.schema import EVENTS, STATE, empty_select
from workbench.views_people import create_people_views
from workbench.views_visits import create_visit_views
from workbench.visits_sql import local_time_macro

if TYPE_CHECKING:
    from workbench.store import Store


def _state_source(store: Store, name: str) -> str:
    path = store.state_dir / f"{name}.parquet"
    if not path.exists():
        return empty_select(STATE[name])
    return f"SELECT * FROM read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"


def create_views(con: duckdb.DuckDBPyConnection, store: Store, plan: Plan | None = None) -> None:
    """Every view, in ``con``. ``plan`` (default: ``derived.plan(store)``) says how to use
    the derived build; ``Plan()`` computes everything from the events."""
    con.execute("SET parquet_metadata_cache = true")  # views read the same files many times
    con.execute(local_time_macro(store.config))
    con.execute(f"CREATE VIEW runs WITH (DEFER_BINDING) AS {_state_source(store, 'runs')}")
    con.execute(
        "CREATE VIEW _current_runs WITH (DEFER_BINDING) AS SELECT run_id FROM runs "
        "QUALIFY row_number() OVER (PARTITION BY source_key ORDER BY started_at DESC) = 1"
    )
    for name in ("customer_merges", "track_assignments", "customer_separations"):
        con.execute(f"CREATE VIEW {name} WITH (DEFER_BINDING) AS {_state_source(store, name)}")
    con.execute(
        f"CREATE VIEW customer_labels WITH (DEFER_BINDING) AS {_state_source(store, 'customers')}"
    )
    for table in EVENTS:
        source = store.parquet_source(table)
        if table == "tracks":
            con.execute(f"CREATE VIEW raw_tracks WITH (DEFER_BINDING) AS {source}")
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
        elif table == "transactions":  # linked to visits in views_visits
            con.execute(f"CREATE VIEW raw_transactions WITH (DEFER_BINDING) AS {source}")
            continue
        con.execute(f'CREATE VIEW "{table}" WITH (DEFER_BINDING) AS {source}')
    plan = derived_plan(store) if plan is None else plan
    materialize, hints = create_visit_views(con, store, plan)
    create_people_views(con)
    create_metric_views(con, plan, materialize, hints)
