"""Every analytics view against an independent pandas computation, on the demo store."""

from __future__ import annotations

import pandas as pd
import pandas_reference as ref
import pytest
from pandas.testing import assert_frame_equal


@pytest.fixture(scope="module")
def expected(demo_store):
    return {
        "visits": ref.visits(demo_store),
        "transactions": ref.customer_transactions(demo_store),
        "daily": ref.daily(demo_store),
    }


def _utc(df: pd.DataFrame) -> pd.DataFrame:
    return df.apply(
        lambda c: c.dt.tz_convert("UTC") if isinstance(c.dtype, pd.DatetimeTZDtype) else c
    )


def _same(got: pd.DataFrame, want: pd.DataFrame, keys: list[str]) -> None:
    got = _utc(got.sort_values(keys).reset_index(drop=True))
    want = _utc(want.sort_values(keys).reset_index(drop=True)[list(got.columns)])
    assert_frame_equal(got, want, check_dtype=False, check_datetimelike_compat=True, atol=1e-6)


def test_visits_view(demo_store, expected):
    got = demo_store.query(
        'SELECT visit_id, customer_id, camera, start, "end", dwell_s, is_new, tracks, local_day '
        "FROM visits"
    )
    got["local_day"] = pd.to_datetime(got["local_day"])
    _same(got, expected["visits"], ["visit_id"])


def test_customers_view(demo_store, expected):
    v = expected["visits"]
    want = v.groupby("customer_id").agg(
        first_seen=("start", "min"), last_seen=("end", "max"), visit_count=("visit_id", "size")
    )
    got = demo_store.query("SELECT customer_id, first_seen, last_seen, visit_count FROM customers")
    _same(got, want.reset_index(), ["customer_id"])


def test_transactions_view_links_each_record(demo_store, expected):
    got = demo_store.query(
        "SELECT transaction_id, customer_id, visit_id, link_status, payment_status, amount, "
        "local_day FROM transactions"
    )
    got["local_day"] = pd.to_datetime(got["local_day"])
    _same(got, expected["transactions"], ["transaction_id"])
    assert got["visit_id"].notna().all()  # the simulator sells only during visits


def test_daily_summary_view(demo_store, expected):
    got = demo_store.query("SELECT * FROM daily_summary")
    got["day"] = pd.to_datetime(got["day"])
    assert len(got) == 28 and got["visits"].gt(0).all()
    assert got["conversion"].between(0.6, 1).all()
    _same(got, expected["daily"], ["day"])


def test_hourly_traffic_view(demo_store, expected):
    got = demo_store.query("SELECT * FROM hourly_traffic")
    assert len(got) == 28 * 24
    v, t = expected["visits"], expected["transactions"]
    want = (
        v.assign(day=v["local_day"], hour=v["local_start"].dt.hour)
        .groupby(["day", "hour"])
        .agg(visits=("visit_id", "size"), unique_customers=("customer_id", "nunique"))
        .join(
            t.assign(day=t["local_day"], hour=t["local_ts"].dt.hour)
            .groupby(["day", "hour"])
            .agg(transactions=("transaction_id", "size"), revenue=("amount", "sum")),
            how="outer",
        )
        .fillna(0)
        .reset_index()
    )
    got = got[(got["visits"] > 0) | (got["transactions"] > 0)]
    got["day"] = pd.to_datetime(got["day"])
    _same(got, want, ["day", "hour"])


def test_payment_cans_spend_unpaid_defaulters(demo_store, expected):
    t = expected["transactions"].assign(day=lambda d: d["local_day"])
    unpaid = t["payment_status"] == "Unpaid"
    pay = (
        t.assign(
            paid_amount=t["amount"].where(~unpaid, 0), unpaid_amount=t["amount"].where(unpaid, 0)
        )
        .groupby(["day", "payment_mode"])
        .agg(
            transactions=("transaction_id", "size"),
            cans=("number_of_cans", "sum"),
            amount=("amount", "sum"),
            paid_amount=("paid_amount", "sum"),
            unpaid_amount=("unpaid_amount", "sum"),
        )  # fmt: skip
        .reset_index()
    )
    got = demo_store.query("SELECT * EXCLUDE (unpaid_transactions) FROM payment_summary")
    got["day"] = pd.to_datetime(got["day"])
    _same(got, pay, ["day", "payment_mode"])

    cans = t.groupby(["day", "can_size"]).agg(cans=("number_of_cans", "sum")).reset_index()
    got = demo_store.query("SELECT day, can_size, cans FROM cans_per_day")
    got["day"] = pd.to_datetime(got["day"])
    _same(got, cans, ["day", "can_size"])

    spend = (
        t.assign(
            amount_paid=t["amount"].where(~unpaid, 0), amount_unpaid=t["amount"].where(unpaid, 0)
        )
        .groupby("customer_id")
        .agg(
            transactions=("transaction_id", "size"),
            cans=("number_of_cans", "sum"),
            amount_paid=("amount_paid", "sum"),
            amount_unpaid=("amount_unpaid", "sum"),
        )  # fmt: skip
        .reset_index()
    )
    got = demo_store.query(
        "SELECT customer_id, transactions, cans, amount_paid, amount_unpaid FROM customer_spend"
    )
    _same(got, spend, ["customer_id"])

    got = demo_store.query("SELECT transaction_id, customer_id, visit_id, amount FROM unpaid")
    _same(got, t[unpaid], ["transaction_id"])

    d = (
        t[unpaid]
        .groupby("customer_id")
        .agg(
            unpaid_count=("transaction_id", "size"),
            unpaid_amount=("amount", "sum"),
            last_unpaid=("ts", "max"),
        )
    )
    d = d[d["unpaid_count"] >= 2].reset_index()
    got = demo_store.query(
        "SELECT customer_id, unpaid_count, unpaid_amount, last_unpaid FROM repeat_defaulters"
    )
    _same(got, d, ["customer_id"])
    assert 2 <= len(got) <= 8  # the simulator's defaulters stand out


def test_staff_are_left_out(make_store, demo_end):
    from workbench.simulate import simulate_shop

    store = make_store()
    simulate_shop(store, days=2, end=demo_end, seed=5)
    top = store.query("SELECT customer_id FROM customer_spend LIMIT 1").iloc[0, 0]
    store.write_state(
        "customers",
        pd.DataFrame(
            [
                {
                    "customer_id": top,
                    "created_at": pd.Timestamp.now(tz="UTC"),
                    "label": "cashier",
                    "is_staff": True,
                }
            ]
        ),  # fmt: skip
    )
    for view in ("visits", "customer_spend", "unpaid", "repeat_defaulters"):
        assert top not in set(store.query(f"SELECT customer_id FROM {view}")["customer_id"])
    assert top in set(store.query("SELECT customer_id FROM all_visits")["customer_id"])
    daily = store.query("SELECT sum(visits) v, sum(transactions) t FROM daily_summary").iloc[0]
    assert daily["v"] == len(ref.visits(store))
    assert daily["t"] == len(ref.customer_transactions(store))


def test_python_api_rollups_hours_frequency_lapsed(demo_store, demo_end, expected):
    from datetime import timedelta

    from workbench import analytics

    v = expected["visits"]
    start = demo_end - timedelta(days=13)
    week = analytics.period_summary(demo_store, "week", start, demo_end)
    sliced = v[v["local_day"] >= pd.Timestamp(start)]
    want = sliced.groupby(sliced["local_day"].dt.to_period("W-SUN").dt.start_time).agg(
        visits=("visit_id", "size"), unique_customers=("customer_id", "nunique")
    )
    got = week.set_index(pd.to_datetime(week["period_start"]))[["visits", "unique_customers"]]
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_names=False)

    hours = analytics.busy_hours(demo_store, n=3).set_index("hour")
    counts = v.groupby(v["local_start"].dt.hour).size()
    assert hours["visits"][hours["visits"] > 0].to_dict() == counts.to_dict()
    assert set(hours.index[hours["label"] == "peak"]) == set(counts.nlargest(3).index)
    assert set(hours.index[hours["label"] == "idle"]) == set(counts.nsmallest(3).index)
    assert (hours.loc[hours["visits"] == 0, "label"] == "closed").all()

    freq = analytics.visit_frequency(demo_store).set_index("bucket")
    per = v.groupby("customer_id").size()
    bins = pd.cut(per, [0, 1, 2, 4, 9, float("inf")], labels=["1", "2", "3-4", "5-9", "10+"])
    assert freq["customers"].to_dict() == bins.value_counts().to_dict()
    assert freq["visits"].sum() == len(v)

    lapsed = analytics.lapsed_regulars(demo_store, days=5, min_visits=5, as_of=demo_end)
    last = v.groupby("customer_id")["local_day"].agg(["size", "max"])
    away = (pd.Timestamp(demo_end) - last["max"]).dt.days
    want = set(last.index[(last["size"] >= 5) & (away > 5)])
    assert set(lapsed["customer_id"]) == want and len(want) > 0
    assert (lapsed["days_away"] > 5).all()


def test_camera_filter_and_ranges(demo_store, demo_end, expected):
    from datetime import timedelta

    from workbench import analytics

    start = demo_end - timedelta(days=6)
    assert analytics.daily_summary(demo_store, start, demo_end, camera="door")["visits"].sum() == 0
    d = analytics.daily_summary(demo_store, start, demo_end, camera="counter").set_index("day")
    want = expected["daily"].set_index("day").loc[pd.Timestamp(start) :]
    assert d["visits"].tolist() == want["visits"].tolist()
    assert d["conversion"].round(9).tolist() == want["conversion"].round(9).tolist()
    cans = analytics.cans_per_day(demo_store, start, demo_end)
    t = expected["transactions"]
    t = t[t["local_day"] >= pd.Timestamp(start)]
    assert cans["cans"].sum() == t["number_of_cans"].sum()
