"""What a flush of the event writer costs: CPU per table written, small and large batches.

    python benchmarks/store_writes.py [--repeats 30]

An ingest flushes every 2 s; with people counting on, each flush writes up to seven event
tables (sightings and six people tables), most of them a few rows. This writes batches
of 3 and of 300 rows of every event table through ``RunWriter`` into a fresh store (rows
of the right types, made from the schema; a sighting's embedding is 128 floats) and
prints the median CPU milliseconds per table written. Results go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from workbench.config import parse_config
from workbench.schema import EVENTS
from workbench.store import Store
from workbench.writer import RunWriter

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


def value(field: pa.Field, i: int):
    t = field.type
    if field.name == "camera":
        return "door"
    if pa.types.is_timestamp(t):
        return T0 + timedelta(seconds=i)
    if pa.types.is_list(t):
        return np.zeros(128, np.float32)
    if pa.types.is_floating(t):
        return 0.5 + i
    if pa.types.is_integer(t):
        return i
    if pa.types.is_boolean(t):
        return bool(i % 2)
    return f"{field.name}-{i}"


def rows(table: str, n: int) -> list[dict]:
    fields = [f for f in EVENTS[table] if f.name != "run_id"]
    return [{f.name: value(f, i) for f in fields} for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    print(f"# {platform.machine()}, python {platform.python_version()}")
    print(f"# benchmarks/store_writes.py {' '.join(sys.argv[1:])}")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store", parse_config({"store": str(Path(tmp) / "store")}))
        for n in (3, 300):
            batches = {table: rows(table, n) for table in EVENTS}
            with RunWriter(store, f"bench:{n}", "door", "bench", "video", flush_s=1e9) as w:
                w.add("sightings", batches["sightings"])
                w.flush()  # the run registered, the partitions made: as in a running ingest
                per: dict[str, list[float]] = {table: [] for table in EVENTS}
                for _ in range(args.repeats):
                    for table, batch in batches.items():
                        w.add(table, batch)
                        cpu = time.process_time()
                        w.flush()
                        per[table].append(time.process_time() - cpu)
            ms = {t: round(1000 * statistics.median(v), 2) for t, v in per.items()}
            print(
                json.dumps(
                    {
                        "rows": n,
                        "ms_per_table_median": round(statistics.median(ms.values()), 2),
                        "ms_per_table": ms,
                    }
                )
            )


if __name__ == "__main__":
    main()
