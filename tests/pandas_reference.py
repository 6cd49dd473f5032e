"""The shop figures recomputed in plain pandas from the store's Parquet files.

An independent second implementation for tests: it reads the event files itself
(current runs only), resolves merges and moved tracks, sessionizes visits with a
Python loop, links till records one by one, and aggregates with groupby. Nothing
here uses DuckDB or the package's SQL.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow.parquet as pq


def events(store, table: str) -> pd.DataFrame:
    current = set(store.current_runs()["run_id"])
    frames = [pq.read_table(f).to_pandas() for f in store.event_files(table)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return df[df["run_id"].isin(current)] if len(df) else df


def _tz(store, camera: str) -> str:
    return store.config.camera_timezone(camera or "")


def _local(store, cameras: pd.Series, ts: pd.Series) -> pd.Series:
    """Wall-clock times at each row's camera (naive)."""
    out = pd.Series(pd.NaT, index=ts.index, dtype="datetime64[us]")
    for camera, idx in ts.groupby(cameras.fillna("")).groups.items():
        out.loc[idx] = ts.loc[idx].dt.tz_convert(_tz(store, camera)).dt.tz_localize(None)
    return out


def tracks(store) -> pd.DataFrame:
    """Tracks with the customer they belong to now (moved tracks, merges)."""
    t = events(store, "tracks")
    moved = store.read_state("track_assignments").set_index("track_id")["customer_id"]
    merged = store.read_state("customer_merges").set_index("customer_id")["into_id"]
    base = t["track_id"].map(moved).fillna(t["customer_id"])
    t = t.assign(customer_id=base.map(merged).fillna(base))
    return t.assign(local_day=_local(store, t["camera"], t["start"]).dt.normalize())


def staff(store) -> set[str]:
    labels = store.read_state("customers")
    return set(labels.loc[labels["is_staff"].fillna(False).astype(bool), "customer_id"])


def visits(store, include_staff: bool = False) -> pd.DataFrame:
    """Sessions of each customer's tracks at a camera: a new one after visits.gap_s apart."""
    gap = pd.Timedelta(seconds=store.config.visits.gap_s)
    t = tracks(store)
    t = t[t["customer_id"].notna()].sort_values(["customer_id", "camera", "start", "end"])
    key = [t["customer_id"], t["camera"]]
    before = t["end"].groupby(key).cummax().groupby(key).shift()  # latest end so far
    t = t.assign(n=(before.isna() | (t["start"] > before + gap)).cumsum())
    v = t.groupby("n").agg(
        customer_id=("customer_id", "first"), camera=("camera", "first"),
        start=("start", "min"), end=("end", "max"), tracks=("track_id", "size"),
    ).reset_index(drop=True)  # fmt: skip
    v["visit_id"] = [
        hashlib.md5(f"{c}|{cam}|{int(s.value // 1000)}".encode()).hexdigest()[:12]
        for c, cam, s in zip(v["customer_id"], v["camera"], v["start"], strict=True)
    ]
    v["dwell_s"] = (v["end"] - v["start"]).dt.total_seconds()
    first = v.sort_values(["start", "camera"]).groupby("customer_id").head(1).index
    v["is_new"] = v.index.isin(first)
    v["local_start"] = _local(store, v["camera"], v["start"])
    v["local_end"] = _local(store, v["camera"], v["end"])
    v["local_day"] = v["local_start"].dt.normalize()
    return v if include_staff else v[~v["customer_id"].isin(staff(store))]


def transactions(store) -> pd.DataFrame:
    """Till records (the newest run's copy of each id) with the customer and visit they link to."""
    cfg = store.config.transactions
    w = pd.Timedelta(seconds=cfg.link_window_s)
    x = events(store, "transactions")
    runs = store.read_state("runs").set_index("run_id")["started_at"]
    x = x.assign(started=x["run_id"].map(runs)).sort_values("started")
    x = x.groupby("transaction_id").tail(1).drop(columns=["started", "run_id"])
    merged = store.read_state("customer_merges").set_index("customer_id")["into_id"]
    raw = x["customer_id"].replace("", None)
    x = x.assign(given=raw.map(merged).fillna(raw), link_camera=x["camera"].replace("", None))
    if cfg.till_camera:
        x["link_camera"] = x["link_camera"].fillna(cfg.till_camera)
    x["local_ts"] = _local(store, x["link_camera"], x["ts"])
    x["local_day"] = x["local_ts"].dt.normalize()
    v = visits(store)[["visit_id", "customer_id", "camera", "start", "end"]]
    pairs = pd.concat([
        x[x["given"].notna()].merge(v, left_on="given", right_on="customer_id", suffixes=("", "_v")),
        x[x["given"].isna() & x["link_camera"].notna()].merge(
            v, left_on="link_camera", right_on="camera", suffixes=("", "_v")),
        x[x["given"].isna() & x["link_camera"].isna()].merge(v, how="cross", suffixes=("", "_v")),
    ])  # fmt: skip
    pairs = pairs[(pairs["start"] - w <= pairs["ts"]) & (pairs["ts"] <= pairs["end"] + w)]
    pairs = pairs.assign(
        strict=(pairs["start"] <= pairs["ts"]) & (pairs["ts"] <= pairs["end"]),
        same=pairs["camera_v"] == pairs["link_camera"],
    )
    n_any = pairs.groupby("transaction_id")["customer_id_v"].nunique()
    n_strict = pairs[pairs["strict"]].groupby("transaction_id")["customer_id_v"].nunique()
    best = (
        pairs.sort_values(
            ["strict", "same", "start", "visit_id"], ascending=[False, False, False, True]
        )
        .groupby("transaction_id")
        .head(1)
        .set_index("transaction_id")
    )
    t = tracks(store)
    footage = set(zip(t["camera"], t["local_day"], strict=True))
    footage_days = set(t["local_day"])
    ids = x["transaction_id"]
    strict_n, any_n = ids.map(n_strict).fillna(0), ids.map(n_any).fillna(0)
    has_footage = [
        (day in footage_days) if cam is None else ((cam, day) in footage)
        for cam, day in zip(x["link_camera"], x["local_day"], strict=True)
    ]
    status = pd.Series("no_footage", index=x.index)
    status[has_footage] = "no_visit"
    status[any_n > 1] = "ambiguous"
    status[(strict_n == 1) | ((strict_n == 0) & (any_n == 1))] = "linked"
    status[x["given"].notna()] = "given"
    keep = status.isin(["given", "linked"])
    x = x.assign(
        link_status=status,
        visit_id=ids.map(best["visit_id"]).where(keep),
        customer_id=x["given"].fillna(ids.map(best["customer_id_v"]).where(keep)),
    )
    return x.drop(columns=["given", "link_camera"]).reset_index(drop=True)


def customer_transactions(store) -> pd.DataFrame:
    tx = transactions(store)
    return tx[~tx["customer_id"].isin(staff(store))] if len(tx) else tx


def daily(store) -> pd.DataFrame:
    v, t = visits(store), customer_transactions(store)
    lo = min(v["local_day"].min(), t["local_day"].min())
    hi = max(v["local_day"].max(), t["local_day"].max())
    days = pd.DataFrame({"day": pd.date_range(lo, hi, freq="D")})
    paid = set(t.loc[t["payment_status"] == "Paid", "visit_id"].dropna())
    vd = (
        v.assign(paid=v["visit_id"].isin(paid))
        .groupby("local_day")
        .agg(
            visits=("visit_id", "size"),
            unique_customers=("customer_id", "nunique"),
            new_customers=("customer_id", lambda s: s[v.loc[s.index, "is_new"]].nunique()),
            avg_dwell_s=("dwell_s", "mean"),
            first_visit=("local_start", "min"),
            last_visit=("local_end", "max"),
            paid_visits=("paid", "sum"),
        )
    )
    td = t.groupby("local_day").agg(
        transactions=("transaction_id", "size"),
        revenue=("amount", "sum"),
        unpaid_amount=("amount", lambda s: s[t.loc[s.index, "payment_status"] == "Unpaid"].sum()),
    )
    d = days.join(vd, on="day").join(td, on="day")
    for c in [
        "visits",
        "unique_customers",
        "new_customers",
        "transactions",
        "revenue",
        "unpaid_amount",
    ]:
        d[c] = d[c].fillna(0)
    d["returning_customers"] = d["unique_customers"] - d["new_customers"]
    d["conversion"] = d["paid_visits"] / d["visits"].where(d["visits"] > 0)
    d["first_visit"] = d["first_visit"].dt.floor("s")
    d["last_visit"] = d["last_visit"].dt.floor("s")
    return d.drop(columns="paid_visits")
