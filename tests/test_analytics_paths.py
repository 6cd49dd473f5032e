"""The shortcuts ``workbench.analytics`` and ``Snapshot`` take at scale give the same answers
as computing the slice: whole-store figures read from the views (precomputed by
``compact``), lapsed regulars read only the candidates' visits, a snapshot of a compacted
store does not copy the derived tables."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from workbench import analytics
from workbench import metrics_sql as m
from workbench.config import Config
from workbench.customers import set_staff
from workbench.simulate import simulate_shop
from workbench.snapshot import Snapshot
from workbench.store import Store

END = date(2026, 11, 1)
CONFIG = {"timezone": "Asia/Kolkata", "transactions": {"till_camera": "counter"}}


@pytest.fixture(scope="module", params=["events", "compacted, a day written since"])
def store(request, tmp_path_factory) -> Store:
    root = tmp_path_factory.mktemp("paths") / "s"
    s = Store(root, Config(store=root, **CONFIG))
    simulate_shop(s, days=4, end=END - timedelta(days=1), seed=1)
    if request.param != "events":
        s.compact()
    simulate_shop(s, days=3, end=END, seed=2, camera="door")
    simulate_shop(s, days=1, end=END, seed=3)
    staff = s.query("SELECT customer_id FROM visits GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    set_staff(s, staff.iloc[0, 0])
    return s


def _slice(store: Store, sql: str, start: date, end: date, camera: str | None = None):
    return store.query(sql, {"start": start, "end": end, "camera": camera})


def test_hourly_traffic_of_every_camera_is_the_slice_computed(store):
    for day in (END, END - timedelta(days=2), END + timedelta(days=3)):  # the last: no data
        got = analytics.hourly_traffic(store, day)
        want = _slice(store, m.hourly(analytics._VISITS, analytics._TX, analytics._DAYS), day, day)
        assert list(got["hour"]) == list(range(24))
        cols = ["hour", "visits", "unique_customers", "transactions", "revenue"]
        pd.testing.assert_frame_equal(got[cols], want[cols], check_dtype=False)
    assert analytics.hourly_traffic(store, END)["visits"].sum() > 0


def test_spend_and_defaulters_of_the_whole_store_are_the_slice_computed(store):
    first, last = analytics.date_range(store)
    days = store.query("SELECT min(local_day) lo, max(local_day) hi FROM visits").iloc[0]
    assert (pd.Timestamp(first), pd.Timestamp(last)) == (days["lo"], days["hi"])
    spend = f"({m.spend(analytics._TX)})"
    for fn, view in ((analytics.customer_spend, m.spend_view(spend)),
                     (analytics.repeat_defaulters, m.defaulters_view(spend, 1))):  # fmt: skip
        kw = {"min_unpaid": 1} if fn is analytics.repeat_defaulters else {}
        whole = fn(store, **kw)
        assert len(whole) > 0
        pd.testing.assert_frame_equal(whole, _slice(store, view, first, last), check_dtype=False)
        part = fn(store, first + timedelta(days=1), last, **kw)  # a slice: summed from records
        pd.testing.assert_frame_equal(
            part, _slice(store, view, first + timedelta(days=1), last), check_dtype=False
        )
        assert part["transactions"].sum() < whole["transactions"].sum()


@pytest.mark.parametrize(("camera", "min_visits"), [(None, 2), ("door", 1)])
def test_lapsed_regulars_against_pandas(store, camera, min_visits):
    as_of = END - timedelta(days=1)  # the last day of the first simulation
    v = store.query("SELECT customer_id, camera, local_day, start FROM visits")
    v = v[(v["local_day"] <= pd.Timestamp(as_of)) & (v["camera"] == (camera or v["camera"]))]
    got = analytics.lapsed_regulars(
        store, days=0, min_visits=min_visits, as_of=as_of, camera=camera
    )
    per = v.sort_values("start").groupby("customer_id")
    stats = per["local_day"].agg(["size", "min", "max"])
    gaps = per["local_day"].apply(lambda d: d.diff().dt.days.median())
    away = (pd.Timestamp(as_of) - stats["max"]).dt.days
    want = stats[(stats["size"] >= min_visits) & (away > 0)]
    assert len(want) > 0 and len(want) < (stats["size"] >= min_visits).sum()
    got = got.set_index("customer_id").sort_index()
    assert list(got.index) == sorted(want.index)
    assert got["visits"].tolist() == want.sort_index()["size"].tolist()
    pd.testing.assert_series_equal(
        got["usual_gap_days"], gaps[got.index], check_dtype=False, check_names=False
    )
    assert (got["days_away"] == away[got.index]).all()
    # the dashboard's first few: the same rows as the head of the whole list
    whole = analytics.lapsed_regulars(store, 0, min_visits, as_of, camera)
    first = analytics.lapsed_regulars(store, 0, min_visits, as_of, camera, limit=3)
    pd.testing.assert_frame_equal(first, whole.head(3))


def test_a_snapshot_gives_the_store_figures(store):
    first, last = analytics.date_range(store)
    with Snapshot(store) as snap:
        copies = snap.query("SELECT count(*) FROM duckdb_tables() WHERE temporary").iloc[0, 0]
        for fn in (analytics.daily_summary, analytics.top_customers, analytics.customer_spend):
            pd.testing.assert_frame_equal(fn(snap, first, last), fn(store, first, last))
    # base views copied only when computed from the events; never the derived build
    compacted = (store.root / "derived" / "CURRENT").exists()
    assert copies == (0 if compacted else 3)
