"""Analytics at scale: 100 cameras x 1 year, every dashboard view timed.

    python benchmarks/analytics_scale.py build data/scale [--cameras 100 --days 365]
    python benchmarks/analytics_scale.py measure data/scale

``build`` writes a SIMULATED store in the store's own layout (one Parquet file per
table, local day and camera, as ingest writes them) with pyarrow, without the
pipeline: per camera and day about 95 visits (100 regulars who come 4 days in 10,
400 occasional customers, 35 passers-by), a fifth of them seen as two tracks, 4-8
face sightings per track, a till record for 85% of visits (half with the customer's
id, half anonymous, linked by the views), 2% unpaid. Then it runs ``Store.compact``
(closed months into one file per camera, then the derived tables) and times it.

``measure`` times each query a dashboard makes, each in a new Python process (the
first query of a process computes whatever the store's state needs; a dashboard
kernel pays that), then the median of 3 more, in four states: right after compact;
with a new day of footage and till records for every camera written since
(journaled, read from the events; then ``workbench.parts.prepare``, as the product's
writers call it when they finish, timed apart); after a merge of two customers (which
refreshes the derived tables; its time is reported); after compact again. It prints the
machine, the figures and the store's size, and writes them to OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import analytics  # noqa: E402
from workbench.config import Config  # noqa: E402
from workbench.parts import prepare  # noqa: E402
from workbench.schema import EVENTS, STATE  # noqa: E402
from workbench.simulate import HOURLY, WEEKDAY  # noqa: E402
from workbench.snapshot import Snapshot  # noqa: E402
from workbench.store import Store, write_parquet  # noqa: E402

TZ = "Asia/Kolkata"
OFFSET = np.timedelta64(330, "m")  # Kolkata is UTC+05:30 all year
FIRST = date(2025, 11, 1)
REGULARS, OCCASIONAL, PASSERS_BY = 100, 400, 35
P_REGULAR, P_OCCASIONAL = 0.4, 0.05
US = np.timedelta64(1, "us")


def config(root: Path, cameras: int) -> Config:
    return Config(store=root, timezone=TZ, cameras=[{"id": f"cam{c:03d}"} for c in range(cameras)])


def _camera_year(
    rng, cam: int, days: list[date], next_id: list[int], tag: str = ""
) -> dict[str, dict]:
    """Column arrays of a camera's tracks, sightings and till records for ``days``
    (``tag`` keeps the ids of tracks and till records of a later day new)."""
    camera = f"cam{cam:03d}"
    hours = np.array(sorted(HOURLY))
    weights = np.array([HOURLY[h] for h in hours], float)
    cust, day_idx = [], []
    for d, day in enumerate(days):
        f = WEEKDAY[day.weekday()]
        regular = np.flatnonzero(rng.random(REGULARS) < P_REGULAR * f)
        occasional = np.flatnonzero(rng.random(OCCASIONAL) < P_OCCASIONAL * f) + REGULARS
        local = np.concatenate([regular, occasional])
        ids = np.concatenate([cam * (REGULARS + OCCASIONAL) + local,
                              next_id[0] + np.arange(rng.poisson(PASSERS_BY * f))])  # fmt: skip
        next_id[0] += len(ids) - len(local)
        cust.append(ids)
        day_idx.append(np.full(len(ids), d))
    cust, day_idx = np.concatenate(cust), np.concatenate(day_idx)
    n = len(cust)
    sunday = np.array([days[d].weekday() == 6 for d in day_idx])
    p = np.where(sunday[:, None], np.where(hours < 13, weights, 0), weights)
    p = p / p.sum(axis=1, keepdims=True)
    hour = (p.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1) + hours[0]
    base = np.array([np.datetime64(d, "us") for d in days])[day_idx] - OFFSET
    start = base + ((hour * 3600 + rng.uniform(0, 3600, n)) * 1e6).astype("int64") * US
    dwell = np.clip(rng.lognormal(np.log(180), 0.5, n), 60, 600)
    end = start + (dwell * 1e6).astype("int64") * US
    # a fifth of the visits are two tracks: the face is lost for 30-200 s in between
    two = rng.random(n) < 0.2
    cut = start + (dwell * rng.uniform(0.3, 0.6, n) * 1e6).astype("int64") * US
    back = cut + (rng.uniform(30, 200, n) * 1e6).astype("int64") * US
    t_start = np.concatenate([start, back[two]])
    t_end = np.concatenate([np.where(two, cut, end), np.maximum(end[two], back[two] + 10**7 * US)])
    t_day = np.concatenate([day_idx, day_idx[two]])
    m = len(t_start)
    track_id = np.char.add(f"{camera}-{tag}", np.arange(m).astype(str))
    k = rng.integers(4, 9, m)  # sightings per track
    s_track = np.repeat(np.arange(m), k)
    s_ts = (
        t_start[s_track]
        + (rng.random(len(s_track)) * (t_end - t_start)[s_track].astype("int64")).astype("int64")
        * US
    )
    buy = rng.random(n) < 0.85
    tx = np.flatnonzero(buy)
    anonymous = rng.random(len(tx)) < 0.5
    cans = rng.choice([1, 2, 3, 4], len(tx), p=[0.5, 0.3, 0.12, 0.08])
    big = rng.random(len(tx)) < 0.6
    defaulter = (cust[tx] % (REGULARS + OCCASIONAL) < 5) & (cust[tx] < 10**6)
    unpaid = rng.random(len(tx)) < np.where(defaulter, 0.5, 0.02)
    cid = np.char.add("C", np.char.zfill(cust.astype(str), 7))
    return {
        "tracks": {
            "day": t_day, "camera": camera, "track_id": track_id, "start": t_start, "end": t_end,
            "customer_id": np.concatenate([cid, cid[two]]), "sightings": k.astype("int32"),
            "embedded": np.minimum(k, 3).astype("int32"), "quality": rng.uniform(0.5, 0.9, m).astype("float32"),
        },
        "sightings": {
            "day": t_day[s_track], "camera": camera, "ts": s_ts, "frame": np.arange(len(s_track)),
            "track_id": track_id[s_track], "x": rng.uniform(200, 700, len(s_track)).astype("float32"),
            "y": rng.uniform(80, 300, len(s_track)).astype("float32"), "w": np.float32(90), "h": np.float32(110),
            "score": rng.uniform(0.7, 1, len(s_track)).astype("float32"),
            "quality": rng.uniform(0.4, 0.9, len(s_track)).astype("float32"),
        },
        "transactions": {
            "day": day_idx[tx], "camera": camera, "transaction_id": np.char.add(f"{camera}-{tag}T", tx.astype(str)),
            "ts": start[tx] + (dwell[tx] * rng.uniform(0.3, 0.9, len(tx)) * 1e6).astype("int64") * US,
            "customer_id": np.where(anonymous, None, cid[tx]),
            "payment_mode": rng.choice(["UPI", "cash", "coin"], len(tx), p=[0.5, 0.4, 0.1]),
            "can_size": np.where(big, "20L", "10L"), "number_of_cans": cans.astype("int32"),
            "amount": cans * np.where(big, 35.0, 20.0), "payment_status": np.where(unpaid, "Unpaid", "Paid"),
        },
    }  # fmt: skip


def _write_partitions(store: Store, table: str, cols: dict, days: list[date], run_id: str) -> int:
    schema = EVENTS[table]
    day = cols.pop("day")
    order = np.argsort(day, kind="stable")
    n = len(day)
    arrays = {}
    for f in schema:
        if f.name == "run_id":
            arrays[f.name] = np.full(n, run_id)
        elif f.name in cols:
            v = cols[f.name]
            arrays[f.name] = (np.full(n, v) if np.ndim(v) == 0 else np.asarray(v))[order]
        else:
            arrays[f.name] = np.full(n, None)
    table_all = pa.table({f.name: pa.array(arrays[f.name], f.type) for f in schema})
    bounds = np.searchsorted(day[order], np.arange(len(days) + 1))
    camera = cols["camera"]
    for d, when in enumerate(days):
        part = table_all.slice(bounds[d], bounds[d + 1] - bounds[d])
        if part.num_rows:
            folder = store.events_dir / table / f"date={when}" / f"camera={camera}"
            folder.mkdir(parents=True, exist_ok=True)
            write_parquet(part, folder / f"{run_id}-000000.parquet")
    return n


def build(root: Path, cameras: int, days: int) -> dict:
    if root.exists():
        shutil.rmtree(root)
    store = Store(root, config(root, cameras))
    store.ensure_writable()
    store.remember_settings()
    rng = np.random.default_rng(0)
    day_list = [FIRST + timedelta(days=i) for i in range(days)]
    next_id, rows, runs = [10**6], dict.fromkeys(EVENTS, 0), []
    t0 = time.perf_counter()
    for cam in range(cameras):
        run_id = f"bench{cam:03d}"
        for table, cols in _camera_year(rng, cam, day_list, next_id).items():
            rows[table] += _write_partitions(store, table, cols, day_list, run_id)
        runs.append({"run_id": run_id, "source_key": f"bench:cam{cam:03d}", "camera": f"cam{cam:03d}",
                     "source": "analytics_scale.py (SIMULATED)", "kind": "simulated",
                     "started_at": datetime(2025, 11, 1, tzinfo=UTC) + timedelta(seconds=cam),
                     "finished_at": datetime(2025, 11, 1, tzinfo=UTC), "status": "complete",
                     "frames": 0, "message": ""})  # fmt: skip
        print(f"  camera {cam + 1}/{cameras}: {time.perf_counter() - t0:.0f} s", flush=True)
    store.write_state("runs", pa.Table.from_pylist(runs, STATE["runs"]).to_pandas())
    t1 = time.perf_counter()
    stats = store.compact()
    return {"rows": rows, "write_s": round(t1 - t0, 1), "compact_s": round(time.perf_counter() - t1, 1),
            "compact": stats, "customers": next_id[0] - 10**6 + cameras * (REGULARS + OCCASIONAL)}  # fmt: skip


def queries(last: date) -> dict[str, str]:
    d = f"DATE '{last}'"
    return {
        "daily_summary, whole year": "SELECT * FROM daily_summary",
        "daily_summary, last 30 days": f"SELECT * FROM daily_summary WHERE day > {d} - 30",
        "hourly_traffic, one day": f"SELECT * FROM hourly_traffic WHERE day = {d}",
        "payment_summary, one day": f"SELECT * FROM payment_summary WHERE day = {d}",
        "cans_per_day, last 30 days": f"SELECT * FROM cans_per_day WHERE day > {d} - 30",
        "customer_spend, top 20": "SELECT * FROM customer_spend LIMIT 20",
        "repeat_defaulters": "SELECT * FROM repeat_defaulters",
        "unpaid, latest 50": "SELECT * FROM unpaid LIMIT 50",
        "visits, one day": f"SELECT * FROM visits WHERE local_day = {d}",
        "visits, one week": f"SELECT * FROM visits WHERE local_day > {d} - 7",
        "customers, top 20 by visits": "SELECT * FROM customers ORDER BY visit_count DESC LIMIT 20",
        "transactions, one day": f"SELECT * FROM transactions WHERE local_day = {d}",
    }


def _named(store: Store, last: date) -> dict:
    """Every timed query, by name: the views' SQL and two slices of ``workbench.analytics``."""
    out = {name: (lambda sql=sql: store.query(sql)) for name, sql in queries(last).items()}
    out["analytics.daily_summary, 30 days"] = lambda: analytics.daily_summary(
        store, last - timedelta(days=29), last
    )
    out["analytics.hourly_traffic, one day"] = lambda: analytics.hourly_traffic(store, last)
    # what the manager dashboard adds at each redraw (workbench/dashboard.py)
    month = last - timedelta(days=29)
    out["analytics.top_customers, 30 days"] = lambda: analytics.top_customers(store, month, last)
    out["analytics.lapsed_regulars"] = lambda: analytics.lapsed_regulars(store, as_of=last)
    out["analytics.repeat_defaulters"] = lambda: analytics.repeat_defaulters(store, None, last)
    out["dashboard Snapshot + daily_summary"] = lambda: _snapshot(store)
    return out


def _snapshot(store: Store):
    """A dashboard redraw's connection (``workbench.snapshot``), opened, asked, closed."""
    with Snapshot(store) as snap:
        return snap.query("SELECT * FROM daily_summary")


def one(root: Path, name: str, last: date, runs: int = 3) -> dict:
    """Time one query in this (new) process: the first run opens the store and computes
    whatever that needs (what a new dashboard kernel pays), then the median of ``runs``."""
    t0 = time.perf_counter()
    fn = _named(Store(root), last)[name]
    rows = len(fn())
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return {"cold_s": round(cold, 3), "median_s": round(statistics.median(warm), 3), "rows": rows}


def measure_state(store: Store, last: date) -> dict:
    """Each query in a new Python process (imports done before the clock starts). The first
    process after a change recomputes what changed and keeps it for the next ones
    (``workbench.parts``): it is timed apart, with the first query."""
    names = ["first process after the change", *_named(store, last)]
    out = {}
    for name in names:
        query = "daily_summary, whole year" if name == names[0] else name
        cmd = [sys.executable, __file__, "one", str(store.root), "--query", query]
        cmd += ["--last", str(last)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[name] = r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"  {name:38s} cold {r['cold_s']:6.3f} s   median {r['median_s']:6.3f} s   {r['rows']} rows",
            flush=True,
        )
    return out


def live_day(store: Store, day: date) -> int:
    """A new day of footage and till records for every camera, written like ingest does."""
    import pandas as pd

    from workbench.writer import RunWriter

    rng = np.random.default_rng(1)
    n = 0
    with store.writer_lock():
        for cam in range(len(store.config.cameras)):
            cols = _camera_year(rng, cam, [day], [5 * 10**7 + cam * 10**4], tag=f"{day:%Y%m%d}-")
            key = f"bench-live:cam{cam:03d}:{day}"
            with RunWriter(store, key, f"cam{cam:03d}", "live day", kind="simulated") as w:
                for table, c in cols.items():
                    c.pop("day")
                    df = pd.DataFrame(c)
                    for key in ("start", "end", "ts"):
                        if key in df:
                            df[key] = df[key].dt.tz_localize("UTC")
                    for name in EVENTS[table].names:
                        if name not in df and name != "run_id":
                            df[name] = None
                    w.add(table, df.to_dict("records"))
                    n += len(df)
    return n


def size(root: Path) -> dict:
    """Megabytes in file bytes and on disk (whole blocks, as ``du``), and event files."""

    def du(p: Path) -> tuple[int, int]:
        files = [f.stat() for f in p.rglob("*") if f.is_file()] if p.exists() else []
        return sum(st.st_size for st in files), sum(st.st_blocks * 512 for st in files)

    out = {"event_files": sum(1 for _ in (root / "events").rglob("*.parquet"))}
    for name, path in (("events", root / "events"), ("derived", root / "derived"), ("total", root)):
        apparent, disk = du(path)
        out[f"{name}_mb"], out[f"{name}_disk_mb"] = round(apparent / 1e6), round(disk / 1e6)
    for table in ("sightings", "tracks", "transactions"):
        out[f"{table}_mb"] = round(du(root / "events" / table)[0] / 1e6)
    return out


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        "?",
    )
    mem = next(
        (
            int(line.split()[1]) // 2**20
            for line in open("/proc/meminfo")
            if line.startswith("MemTotal")
        ),
        0,
    )
    import duckdb

    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": mem, "python": platform.python_version(),
            "duckdb": duckdb.__version__, "load_avg": os.getloadavg()}  # fmt: skip


def measure(root: Path) -> dict:
    from workbench.customers import merge

    store = Store(root)
    last = store.query("SELECT max(local_day) FROM visits").iloc[0, 0].date()
    result = {"machine": machine(), "size": size(root)}
    print(json.dumps(result, indent=1))
    print("after compact (clean build):")
    result["clean"] = measure_state(store, last)
    new = last + timedelta(days=1)
    t0 = time.perf_counter()
    result["live_rows"] = live_day(store, new)
    result["live_write_s"] = round(time.perf_counter() - t0, 1)
    # what the product's writers do when they finish (``workbench.parts``): recompute
    # what changed since the build once, for every reader to come
    t0, c0 = time.perf_counter(), time.process_time()
    prepare(store)
    result["prepare_s"] = round(time.perf_counter() - t0, 2)
    result["prepare_cpu_s"] = round(time.process_time() - c0, 2)
    print(f"prepare after writing: {result['prepare_s']} s (CPU {result['prepare_cpu_s']} s)")
    print(f"with a new day for every camera written since ({result['live_rows']} rows):")
    result["live_day"] = measure_state(store, new)
    a, b = store.query("SELECT customer_id FROM customers ORDER BY visit_count DESC LIMIT 2")[
        "customer_id"
    ]
    t0 = time.perf_counter()
    merge(store, a, [b])  # refreshes the derived tables
    result["merge_s"] = round(time.perf_counter() - t0, 1)
    print(f"and after merging {b} into {a} ({result['merge_s']} s, with the derived tables):")
    result["after_merge"] = measure_state(store, new)
    t0 = time.perf_counter()
    result["recompact"] = store.compact()
    result["recompact_s"] = round(time.perf_counter() - t0, 1)
    print(f"compact again (from the last build and the changes): {result['recompact_s']} s")
    result["clean_again"] = measure_state(store, new)
    result["size_after"] = size(root)
    (root / "results.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def main() -> None:
    # the recomputed parts of a store changed since its build, and their times
    logging.basicConfig(format="    %(name)s: %(message)s")
    logging.getLogger("workbench.views_visits").setLevel(logging.DEBUG)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=["build", "measure", "all", "one"])
    ap.add_argument("out", type=Path)
    ap.add_argument("--cameras", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--query", help="one: the query to time")
    ap.add_argument("--last", type=date.fromisoformat, help="one: the last day")
    args = ap.parse_args()
    if args.step == "one":
        print(json.dumps(one(args.out, args.query, args.last)))
        return
    print("command:", " ".join(sys.argv))
    if args.step in ("build", "all"):
        built = build(args.out, args.cameras, args.days)
        print(json.dumps(built, indent=1, default=str))
        (args.out / "build.json").write_text(json.dumps(built, indent=1, default=str))
    if args.step in ("measure", "all"):
        measure(args.out)


if __name__ == "__main__":
    main()
