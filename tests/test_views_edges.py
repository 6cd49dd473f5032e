"""Hand-made histories whose answers are known: midnight, timezones, DST days, visits across
hours, days without visits, till records without a visit; each view also against pandas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pandas_reference as ref
import pytest

from workbench import analytics
from workbench.config import Config
from workbench.store import Store
from workbench.writer import RunWriter

LONDON = "Europe/London"


def store_at(tmp_path, timezone: str, till: str | None = None, cameras=()) -> Store:
    cfg = Config(
        store=tmp_path / "s",
        timezone=timezone,
        cameras=[{"id": c, "timezone": tz} for c, tz in cameras],
        transactions={"till_camera": till},
    )
    return Store(tmp_path / "s", cfg)


def at(tz: str, y, mo, d, h, mi, fold=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(tz), fold=fold).astimezone(UTC)


def track(n, customer, start, minutes, camera="till") -> dict:
    return {
        "camera": camera, "track_id": f"t{n}", "start": start, "end": start + timedelta(minutes=minutes),
        "customer_id": customer, "sightings": 1, "embedded": 1, "quality": 0.8,
        "match_distance": None, "embedding": None, "snapshot": None,
    }  # fmt: skip


def sale(n, ts, customer=None, camera="till", amount=35.0, status="Paid") -> dict:
    return {
        "camera": camera, "transaction_id": f"x{n}", "ts": ts, "customer_id": customer,
        "payment_mode": "cash", "can_size": "20L", "number_of_cans": 1, "amount": amount,
        "payment_status": status,
    }  # fmt: skip


def write(store, tracks=(), sales=(), source="test:edges") -> None:
    with RunWriter(store, source, "till", "hand-made", kind="test") as w:
        w.add("tracks", list(tracks))
        w.add("transactions", list(sales))


def daily(store) -> pd.DataFrame:
    d = store.query("SELECT * FROM daily_summary")
    return d.assign(day=pd.to_datetime(d["day"])).set_index("day")


def test_visit_across_midnight_counts_on_its_first_day(tmp_path):
    s = store_at(tmp_path, "Asia/Kolkata")
    write(s, [track(1, "A", at("Asia/Kolkata", 2026, 11, 1, 23, 58), 5)])
    d = daily(s)
    assert list(d.index) == [pd.Timestamp("2026-11-01")]
    assert d.iloc[0]["last_visit"] == pd.Timestamp("2026-11-02 00:03")
    hours = s.query("SELECT hour, visits FROM hourly_traffic WHERE visits > 0")
    assert hours.values.tolist() == [[23, 1]]
    # people in view: the evening's hour 23, and hour 0 of the next day
    assert (
        analytics.hourly_traffic(s, date(2026, 11, 2)).set_index("hour").loc[0, "people_seen"] == 1
    )
    assert (
        analytics.hourly_traffic(s, date(2026, 11, 1)).set_index("hour").loc[23, "people_seen"] == 1
    )


def test_days_and_hours_follow_each_cameras_timezone(tmp_path):
    # 23:30 UTC is already tomorrow in Kolkata, still today at a camera in London
    s = store_at(tmp_path, "Asia/Kolkata", cameras=[("till", LONDON)])
    ts = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)
    write(s, [track(1, "A", ts, 2), track(2, "B", ts, 2, camera="door")])
    v = s.query("SELECT camera, local_day, hour(local_start) AS h FROM visits ORDER BY camera")
    assert v.values.tolist() == [
        ["door", pd.Timestamp("2026-11-02"), 5],
        ["till", pd.Timestamp("2026-11-01"), 23],
    ]


@pytest.mark.parametrize(
    ("day", "starts", "hours"),
    [
        # spring forward: 01:00 GMT -> 02:00 BST, local hour 1 does not exist
        (date(2026, 3, 29), [datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)],
         {0: 1, 1: 0, 2: 1}),
        # fall back: 02:00 BST -> 01:00 GMT, local 01:30 happens twice
        (date(2026, 10, 25), [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)],
         {0: 0, 1: 2, 2: 0}),
    ],
)  # fmt: skip
def test_dst_change_days(tmp_path, day, starts, hours):
    s = store_at(tmp_path, LONDON)
    before = datetime.combine(day, datetime.min.time(), ZoneInfo(LONDON)) - timedelta(minutes=20)
    write(s, [track(1, "A", starts[0], 10), track(2, "B", starts[1], 10),
              track(3, "C", before.astimezone(UTC), 5)])  # fmt: skip
    h = s.query(f"SELECT hour, visits FROM hourly_traffic WHERE day = DATE '{day}'")
    assert {k: h.set_index("hour").loc[k, "visits"] for k in hours} == hours
    assert len(h) == 24 and h["visits"].sum() == 2
    d = daily(s)
    assert d.loc[pd.Timestamp(day), "visits"] == 2  # C's 23:40 the night before is the day before
    assert d.loc[pd.Timestamp(day) - pd.Timedelta(days=1), "visits"] == 1
    want = ref.visits(s).groupby("local_day").size()
    assert d["visits"][d["visits"] > 0].to_dict() == want.to_dict()


def test_visit_spanning_two_hours_and_the_visit_gap(tmp_path):
    s = store_at(tmp_path, "Asia/Kolkata")
    t0 = at("Asia/Kolkata", 2026, 11, 1, 10, 50)
    write(s, [
        track(1, "A", t0, 20),                               # 10:50-11:10
        track(2, "A", t0 + timedelta(minutes=24), 6),        # 4 min later: same visit, to 11:20
        track(3, "A", t0 + timedelta(minutes=36), 2),        # 10 min later: a new visit
    ])  # fmt: skip
    v = s.query("SELECT local_start, local_end, tracks, is_new FROM visits ORDER BY start")
    assert v["tracks"].tolist() == [2, 1] and v["is_new"].tolist() == [True, False]
    assert v.iloc[0]["local_end"] == pd.Timestamp("2026-11-01 11:20")
    h = analytics.hourly_traffic(s, date(2026, 11, 1)).set_index("hour")
    assert h.loc[10, "visits"] == 1 and h.loc[11, "visits"] == 1  # counted where each began
    assert h.loc[10, "people_seen"] == 1 and h.loc[11, "people_seen"] == 3


def test_day_without_visits_and_records_without_a_visit(tmp_path):
    s = store_at(tmp_path, "Asia/Kolkata", till="till")
    d1 = at("Asia/Kolkata", 2026, 11, 1, 10, 0)
    d3 = d1 + timedelta(days=2)
    write(
        s,
        [track(1, "A", d1, 5), track(2, "B", d3, 5)],
        [
            sale(1, d1 + timedelta(minutes=2)),                 # during A's visit: linked to A
            sale(2, d1 + timedelta(hours=3)),                   # footage that day, nobody then
            sale(3, d1 + timedelta(days=1)),                    # a day without any footage
            sale(4, d3 + timedelta(hours=5), customer="Z"),     # the till knows Z, never seen
            sale(5, d3 + timedelta(minutes=1), amount=70.0, status="Unpaid"),  # B, unpaid
        ],
    )  # fmt: skip
    tx = s.query("SELECT * FROM transactions ORDER BY transaction_id").set_index("transaction_id")
    assert tx["link_status"].to_dict() == {
        "x1": "linked", "x2": "no_visit", "x3": "no_footage", "x4": "given", "x5": "linked"
    }  # fmt: skip
    assert tx.loc["x1", "customer_id"] == "A" and tx.loc["x5", "customer_id"] == "B"
    assert tx[["visit_id"]].notna().sum().iloc[0] == 2
    d = daily(s)
    assert d.loc["2026-11-02", ["visits", "transactions", "revenue"]].tolist() == [0, 1, 35.0]
    assert d.loc["2026-11-01", "conversion"] == 1.0 and d.loc["2026-11-03", "conversion"] == 0.0
    assert d.loc["2026-11-03", "unpaid_amount"] == 70.0
    assert s.query("SELECT customer_id FROM repeat_defaulters").empty
    got = tx.reset_index()[["transaction_id", "link_status", "customer_id", "visit_id"]]
    want = ref.transactions(s)[["transaction_id", "link_status", "customer_id", "visit_id"]]
    want = want.sort_values("transaction_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_anonymous_record_with_two_customers_at_the_till(tmp_path):
    s = store_at(tmp_path, "Asia/Kolkata", till="till")
    t0 = at("Asia/Kolkata", 2026, 11, 1, 10, 0)
    write(
        s,
        [track(1, "A", t0, 10), track(2, "B", t0 + timedelta(minutes=5), 10),
         track(3, "C", t0, 30, camera="door")],
        [sale(1, t0 + timedelta(minutes=7)),      # A and B both at the till
         sale(2, t0 + timedelta(minutes=13)),     # only B still there (A left at 10:10)
         sale(3, t0 + timedelta(minutes=16))],    # B left at 10:15: within the window, B
    )  # fmt: skip
    tx = s.query(
        "SELECT transaction_id, link_status, customer_id, link_candidates FROM transactions"
    )
    tx = tx.set_index("transaction_id")
    assert tx.loc["x1", "link_status"] == "ambiguous" and pd.isna(tx.loc["x1", "customer_id"])
    assert tx.loc["x1", "link_candidates"] == 2
    assert tx.loc["x2", ["link_status", "customer_id"]].tolist() == ["linked", "B"]
    assert tx.loc["x3", ["link_status", "customer_id"]].tolist() == ["linked", "B"]


def test_links_follow_a_merge_of_customers(tmp_path):
    from workbench.customers import merge

    s = store_at(tmp_path, "Asia/Kolkata", till="till")
    t0 = at("Asia/Kolkata", 2026, 11, 1, 10, 0)
    write(s, [track(1, "C00001", t0, 10), track(2, "C00002", t0 + timedelta(minutes=2), 10)],
          [sale(1, t0 + timedelta(minutes=5))])  # fmt: skip
    assert s.query("SELECT link_status FROM transactions").iloc[0, 0] == "ambiguous"
    merge(s, "C00001", ["C00002"])  # one person seen as two ids: now one visit, one customer
    tx = s.query("SELECT link_status, customer_id, visit_id FROM transactions").iloc[0]
    assert tx["link_status"] == "linked" and tx["customer_id"] == "C00001"
    assert tx["visit_id"] == s.query("SELECT visit_id FROM visits").iloc[0, 0]
