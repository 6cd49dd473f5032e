"""Column types of every table in the store, declared once.

Event tables are append-only Parquet, partitioned by local date and camera; state
tables are small and rewritten whole. Readers get an empty, correctly typed view
for a table with no files yet.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
EMBEDDING = pa.list_(pa.float32())

EVENTS: dict[str, pa.Schema] = {
    # one row per face detection in a frame
    "sightings": pa.schema(
        [
            ("run_id", pa.string()),
            ("camera", pa.string()),
            ("ts", TS),
            ("frame", pa.int64()),
            ("track_id", pa.string()),
            ("x", pa.float32()),
            ("y", pa.float32()),
            ("w", pa.float32()),
            ("h", pa.float32()),
            ("score", pa.float32()),
            ("quality", pa.float32()),
        ]
    ),
    # one row per face track (a person continuously in view), with its identity
    "tracks": pa.schema(
        [
            ("run_id", pa.string()),
            ("camera", pa.string()),
            ("track_id", pa.string()),
            ("start", TS),
            ("end", TS),
            ("customer_id", pa.string()),
            ("sightings", pa.int32()),
            ("embedded", pa.int32()),
            ("quality", pa.float32()),
            ("match_distance", pa.float32()),
            ("embedding", EMBEDDING),
            ("snapshot", pa.string()),
        ]
    ),
    # till records (imported or simulated); camera is the till camera or ''
    "transactions": pa.schema(
        [
            ("run_id", pa.string()),
            ("camera", pa.string()),
            ("transaction_id", pa.string()),
            ("ts", TS),
            ("customer_id", pa.string()),
            ("payment_mode", pa.string()),
            ("can_size", pa.string()),
            ("number_of_cans", pa.int32()),
            ("amount", pa.float64()),
            ("payment_status", pa.string()),
        ]
    ),
}

# people counting (issue 5; workbench.pipeline_people writes them)
EVENTS.update(
    {
        # one row per person track (a person continuously in view, faces or not)
        "person_tracks": pa.schema(
            [
                ("run_id", pa.string()),
                ("camera", pa.string()),
                ("track_id", pa.string()),
                ("start", TS),
                ("end", TS),
                ("dwell_s", pa.float32()),
                ("seen", pa.int32()),  # frames the person was tracked in
                ("x_start", pa.float32()),  # foot point (pixels) when first and last seen
                ("y_start", pa.float32()),
                ("x_end", pa.float32()),
                ("y_end", pa.float32()),
                ("is_staff", pa.bool_()),  # seen in a staff zone
            ]
        ),
        # a person crossing a counting line; direction 'in' or 'out'
        "crossings": pa.schema(
            [
                ("run_id", pa.string()),
                ("camera", pa.string()),
                ("ts", TS),
                ("line", pa.string()),
                ("direction", pa.string()),
                ("track_id", pa.string()),
                ("x", pa.float32()),
                ("y", pa.float32()),
            ]
        ),
        # a person entering or leaving a zone; dwell_s (time inside) on 'exit'
        "zone_events": pa.schema(
            [
                ("run_id", pa.string()),
                ("camera", pa.string()),
                ("ts", TS),
                ("zone", pa.string()),
                ("kind", pa.string()),
                ("track_id", pa.string()),
                ("dwell_s", pa.float32()),
                ("staff_zone", pa.bool_()),
            ]
        ),
        # people in view (zone '') and in each zone, per interval starting at ts
        "occupancy": pa.schema(
            [
                ("run_id", pa.string()),
                ("camera", pa.string()),
                ("ts", TS),
                ("zone", pa.string()),
                ("seconds", pa.float32()),
                ("people_mean", pa.float32()),
                ("people_max", pa.int32()),
                ("close_pairs_mean", pa.float32()),
                ("close_pairs_max", pa.int32()),
                ("area_m2", pa.float32()),  # zone area on the floor plan, if mapped
            ]
        ),
        # periods with anyone in view (anonymous visits when people come one at a time)
        "presence": pa.schema(
            [
                ("run_id", pa.string()),
                ("camera", pa.string()),
                ("start", TS),
                ("end", TS),
                ("dwell_s", pa.float32()),
                ("people_max", pa.int32()),
            ]
        ),
        # person-seconds per grid cell, hour (ts) and heading; rows of one cell and hour add up
        "heat": pa.schema(
            [
                ("run_id", pa.string()),
                ("camera", pa.string()),
                ("ts", TS),
                ("space", pa.string()),  # 'image' (pixels) or 'floor' (metres)
                ("cell_x", pa.int32()),
                ("cell_y", pa.int32()),
                ("cell_size", pa.float32()),
                ("heading", pa.string()),  # N, NE, ... (north = up) or '' standing
                ("samples", pa.int32()),
                ("seconds", pa.float32()),
            ]
        ),
    }
)

# alerts raised by the rules (issue 8; workbench.alerts writes them); snapshot is a JPEG
# path relative to the store, details a JSON object
EVENTS["alerts"] = pa.schema(
    [
        ("run_id", pa.string()),
        ("alert_id", pa.string()),
        ("ts", TS),
        ("camera", pa.string()),
        ("kind", pa.string()),
        ("customer_id", pa.string()),
        ("message", pa.string()),
        ("snapshot", pa.string()),
        ("details", pa.string()),
    ]
)

# live cameras (workbench.live): one row per camera every few seconds while the service runs
EVENTS["camera_health"] = pa.schema(
    [
        ("run_id", pa.string()),
        ("camera", pa.string()),
        ("ts", TS),
        ("fps_in", pa.float32()),  # frames the camera delivered per second
        ("fps_out", pa.float32()),  # frames the pipeline took per second
        ("latency_s", pa.float32()),  # frame capture -> face event, newest (null: no faces)
        ("last_frame_ts", TS),
        ("dropped_frames", pa.int32()),  # frames skipped in the interval: the pipeline was busy
        ("status", pa.string()),  # online, offline, ended
    ]
)

# the column that decides an event row's date partition
EVENT_TIME = {
    "camera_health": "ts",
    "sightings": "ts",
    "tracks": "start",
    "transactions": "ts",
    "person_tracks": "start",
    "crossings": "ts",
    "zone_events": "ts",
    "occupancy": "ts",
    "presence": "start",
    "heat": "ts",
    "alerts": "ts",
}

STATE: dict[str, pa.Schema] = {
    "runs": pa.schema(
        [
            ("run_id", pa.string()),
            ("source_key", pa.string()),
            ("camera", pa.string()),
            ("source", pa.string()),
            ("kind", pa.string()),
            ("started_at", TS),
            ("finished_at", TS),
            ("status", pa.string()),
            ("frames", pa.int64()),
            ("message", pa.string()),
        ]
    ),
    "customers": pa.schema(
        [
            ("customer_id", pa.string()),
            ("created_at", TS),
            ("label", pa.string()),
            ("is_staff", pa.bool_()),
        ]
    ),
    # customer_id was merged into into_id (flattened: into_id is never itself merged)
    "customer_merges": pa.schema(
        [
            ("customer_id", pa.string()),
            ("into_id", pa.string()),
            ("merged_at", TS),
            ("reason", pa.string()),  # "user" or "consolidate"
        ]
    ),
    # a track moved to another customer by `customers split --tracks`
    "track_assignments": pa.schema(
        [("track_id", pa.string()), ("customer_id", pa.string()), ("assigned_at", TS)]
    ),
    # two customers a person marked as different people: never merged
    "customer_separations": pa.schema(
        [("customer_a", pa.string()), ("customer_b", pa.string()), ("created_at", TS)]
    ),
}


def duckdb_type(t: pa.DataType) -> str:
    """DuckDB SQL type for an Arrow type used in these schemas."""
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_list(t):
        return duckdb_type(t.value_type) + "[]"
    return {
        pa.string(): "VARCHAR",
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
    }[t]


def empty_select(schema: pa.Schema) -> str:
    """A SELECT that returns no rows with the schema's columns and types."""
    cols = ", ".join(f'NULL::{duckdb_type(f.type)} AS "{f.name}"' for f in schema)
    return f"SELECT {cols} WHERE false"
