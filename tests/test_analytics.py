"""Analytics on a tiny hand-made history whose answers are known."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from workbench import analytics
from workbench.writer import RunWriter

KOLKATA = ZoneInfo("Asia/Kolkata")
D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def local(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=KOLKATA).astimezone(UTC)


def track(n: int, customer: str, start: datetime, minutes: float, camera: str = "counter") -> dict:
    return {
        "camera": camera, "track_id": f"t{n}", "start": start, "end": start + timedelta(minutes=minutes),
        "customer_id": customer, "sightings": 1, "embedded": 1, "quality": 0.8,
        "match_distance": None, "embedding": None, "snapshot": None,
    }  # fmt: skip


def sale(
    n: int, customer: str, ts: datetime, mode: str, cans: int, size: str, amount: float, status: str
) -> dict:
    return {
        "camera": "counter", "transaction_id": f"x{n}", "ts": ts, "customer_id": customer, "payment_mode": mode,
        "can_size": size, "number_of_cans": cans, "amount": amount, "payment_status": status,
    }  # fmt: skip


def write(store, tracks: list[dict], sales: list[dict]) -> None:
    with RunWriter(store, "test:history", "counter", "hand-made", kind="test") as w:
        w.add("tracks", tracks)
        w.add("sightings", [{"camera": t["camera"], "ts": t["start"], "frame": 0, "track_id": t["track_id"],
                             "x": 0.0, "y": 0.0, "w": 50.0, "h": 50.0, "score": 0.9, "quality": 0.8}
                            for t in tracks])  # fmt: skip
        w.add("transactions", sales)


@pytest.fixture
def history(make_store):
    """A (new) 10:00-10:05 and B (new) 10:02-10:04 on D1; A again just after midnight of D2
    (still D1 in UTC), seen as two tracks 2 minutes apart, i.e. one visit."""

    def build(timezone: str = "Asia/Kolkata"):
        store = make_store(timezone.replace("/", "-"), timezone=timezone)
        write(
            store,
            [
                track(1, "A", local(D1, 10, 0), 5),
                track(2, "B", local(D1, 10, 2), 2),
                track(3, "A", local(D2, 0, 30), 3),
                track(4, "A", local(D2, 0, 35), 5),
            ],
            [
                sale(1, "A", local(D1, 10, 3), "UPI", 1, "10L", 20.0, "Paid"),
                sale(2, "B", local(D1, 10, 3), "cash", 2, "20L", 70.0, "Unpaid"),
            ],
        )
        return store

    return build


def test_daily_summary_counts_local_days(history):
    s = analytics.daily_summary(history(), D1, D3).set_index("day")
    assert list(s.index) == list(pd.to_datetime([D1, D2, D3]))
    d1, d2, d3 = (s.loc[pd.Timestamp(d)] for d in (D1, D2, D3))
    assert (d1.visits, d1.unique_customers, d1.new_customers, d1.returning_customers) == (
        2,
        2,
        2,
        0,
    )
    assert d1.avg_dwell_s == pytest.approx(210)
    assert d1.first_visit == pd.Timestamp("2026-11-01 10:00") and d1.last_visit == pd.Timestamp(
        "2026-11-01 10:05"
    )
    assert (d1.transactions, d1.revenue, d1.unpaid_amount) == (2, 90.0, 70.0)
    assert (d2.visits, d2.new_customers, d2.returning_customers, d2.avg_dwell_s) == (1, 0, 1, 600)
    assert (d3.visits, d3.transactions, d3.revenue) == (0, 0, 0.0)


def test_days_follow_the_site_timezone(history):
    s = analytics.daily_summary(history("UTC"), D1, D2).set_index("day")
    assert s.loc[pd.Timestamp(D1), "visits"] == 3 and s.loc[pd.Timestamp(D2), "visits"] == 0


def test_hourly_traffic_has_every_hour(history):
    h = analytics.hourly_traffic(history(), D1)
    assert list(h["hour"]) == list(range(24))
    assert h.set_index("hour").loc[10, ["visits", "unique_customers", "people_seen"]].tolist() == [
        2,
        2,
        2,
    ]
    assert h["visits"].sum() == 2


def test_payment_summary_splits_paid_and_unpaid(history):
    p = analytics.payment_summary(history(), D1).set_index("payment_mode")
    assert p.loc["cash", ["amount", "paid_amount", "unpaid_amount", "unpaid_transactions", "cans"]].tolist() == [
        70.0, 0.0, 70.0, 1, 2
    ]  # fmt: skip
    assert p.loc["UPI", ["amount", "paid_amount", "unpaid_amount"]].tolist() == [20.0, 20.0, 0.0]
    assert analytics.payment_summary(history(), D2).empty


def test_top_customers_ranks_by_visits_and_skips_staff(history):
    store = history()
    top = analytics.top_customers(store, D1, D2)
    assert list(top["customer_id"]) == ["A", "B"]
    assert top.iloc[0][["visits", "days_visited", "transactions", "amount"]].tolist() == [
        2,
        2,
        1,
        20.0,
    ]
    store.write_state(
        "customers",
        pd.DataFrame(
            [
                {
                    "customer_id": "B",
                    "created_at": datetime.now(UTC),
                    "label": "helper",
                    "is_staff": True,
                }
            ]
        ),
    )
    assert list(analytics.top_customers(store, D1, D2)["customer_id"]) == ["A"]
    assert analytics.top_customers(store, D1, D2, camera="door").empty


def test_empty_store_gives_empty_days(make_store):
    s = analytics.daily_summary(make_store(), D1, D2)
    assert len(s) == 2 and s["visits"].sum() == 0
    assert analytics.top_customers(make_store()).empty
