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

# the column that decides an event row's date partition
EVENT_TIME = {"sightings": "ts", "tracks": "start", "transactions": "ts"}

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
