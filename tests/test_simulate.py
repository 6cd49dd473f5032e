"""The simulated shop: deterministic, plausible, idempotent, on the site's clock."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from workbench.simulate import PRICES, SimulationError, simulate_shop

TZ = "Asia/Kolkata"


def _events(store, table: str, order: str) -> pd.DataFrame:
    return store.query(f"SELECT * EXCLUDE (run_id) FROM {table} ORDER BY {order}")


def test_same_seed_same_history_other_seed_differs(make_store):
    a, b, c = make_store("a"), make_store("b"), make_store("c")
    counts_a = simulate_shop(a, days=3, end=date(2026, 11, 1), seed=7)
    counts_b = simulate_shop(b, days=3, end=date(2026, 11, 1), seed=7)
    simulate_shop(c, days=3, end=date(2026, 11, 1), seed=8)
    assert {k: v for k, v in counts_a.items() if k != "run_id"} == {
        k: v for k, v in counts_b.items() if k != "run_id"
    }
    for table, order in [
        ("tracks", "track_id"),
        ("sightings", "ts, track_id"),
        ("transactions", "transaction_id"),
    ]:
        pd.testing.assert_frame_equal(_events(a, table, order), _events(b, table, order))
    assert not _events(a, "tracks", "track_id")["start"].equals(
        _events(c, "tracks", "track_id")["start"]
    )


def test_volume_and_opening_hours(demo_store, demo_end):
    days = demo_store.query(
        f"SELECT CAST(timezone('{TZ}', start) AS DATE) AS day, count(*) AS visits, "
        f"min(hour(timezone('{TZ}', start))) AS first_hour, max(hour(timezone('{TZ}', start))) AS last_hour "
        "FROM visits GROUP BY day ORDER BY day"
    )
    assert len(days) == 28 and days["day"].iloc[-1] == pd.Timestamp(demo_end)
    weekdays = days[pd.to_datetime(days["day"]).dt.weekday < 6]
    assert weekdays["visits"].between(45, 140).all()
    assert 60 <= weekdays["visits"].mean() <= 120
    assert days["first_hour"].min() >= 7 and days["last_hour"].max() <= 20
    sundays = days[pd.to_datetime(days["day"]).dt.weekday == 6]
    assert (sundays["last_hour"] <= 12).all()  # short day
    assert sundays["visits"].mean() < weekdays["visits"].mean()


def test_morning_and_evening_peaks_idle_afternoon(demo_store):
    hourly = demo_store.query(
        f"SELECT hour(timezone('{TZ}', start)) AS hour, count(*) AS n FROM visits GROUP BY hour"
    ).set_index("hour")["n"]
    afternoon = hourly.loc[[13, 14, 15]].mean()
    assert hourly.loc[8] > 3 * afternoon
    assert hourly.loc[18] > 3 * afternoon
    assert hourly.idxmax() in (7, 8, 9, 17, 18, 19)


def test_regulars_and_one_time_customers(demo_store):
    counts = demo_store.query("SELECT visit_count FROM customers")["visit_count"]
    assert (counts >= 9).sum() >= 30  # regulars: every 1-3 days over 4 weeks
    assert (counts == 1).sum() > 0.5 * len(counts)  # most distinct faces are passers-by
    # a visit is one track: nobody comes twice within the visit gap
    assert (
        demo_store.query("SELECT count(*) FROM visits").iloc[0, 0]
        == demo_store.query("SELECT count(*) FROM tracks").iloc[0, 0]
    )


def test_transactions_belong_to_visits_and_add_up(demo_store):
    tx = demo_store.query(
        'SELECT t.*, v.start, v."end" FROM transactions t LEFT JOIN visits v '
        'ON t.customer_id = v.customer_id AND t.ts BETWEEN v.start AND v."end"'
    )
    assert tx["start"].notna().all(), "every sale happens during a visit of its customer"
    assert set(tx["payment_mode"]) == {"cash", "UPI", "coin"}
    assert set(tx["can_size"]) == set(PRICES)
    assert tx["number_of_cans"].between(1, 4).all()
    assert (tx["amount"] == tx["number_of_cans"] * tx["can_size"].map(PRICES)).all()
    visits = demo_store.query("SELECT count(*) FROM visits").iloc[0, 0]
    assert 0.7 * visits < len(tx) < visits  # some visits buy nothing


def test_defaulters_stand_out(demo_store):
    per_customer = demo_store.query(
        "SELECT customer_id, count(*) AS n, count(*) FILTER (WHERE payment_status = 'Unpaid') AS unpaid "
        "FROM transactions GROUP BY customer_id"
    )
    overall = per_customer["unpaid"].sum() / per_customer["n"].sum()
    assert 0.005 < overall < 0.08
    defaulters = per_customer[
        (per_customer["unpaid"] >= 4) & (per_customer["unpaid"] / per_customer["n"] >= 0.3)
    ]
    assert 2 <= len(defaulters) <= 8


def test_sightings_follow_their_tracks(demo_store):
    bad = demo_store.query(
        "SELECT track_id FROM tracks t LEFT JOIN sightings s USING (track_id) "
        'GROUP BY track_id, t.sightings, t.start, t."end" '
        'HAVING count(s.ts) <> t.sightings OR count(s.ts) < 3 OR min(s.ts) < t.start OR max(s.ts) > t."end"'
    )
    assert bad.empty
    dwell = demo_store.query("SELECT dwell_s FROM visits")["dwell_s"]
    assert dwell.between(60, 600).all() and 120 < dwell.median() < 300


def test_rerun_replaces_instead_of_doubling(make_store):
    store = make_store()
    first = simulate_shop(store, days=2, end=date(2026, 11, 1), seed=3)
    again = simulate_shop(store, days=2, end=date(2026, 11, 1), seed=3)
    assert (
        store.query("SELECT count(*) FROM tracks").iloc[0, 0] == first["visits"] == again["visits"]
    )
    assert store.query("SELECT count(*) FROM transactions").iloc[0, 0] == again["transactions"]
    runs = store.query("SELECT * FROM runs")
    assert list(runs["run_id"]) == [again["run_id"]] and runs["kind"].eq("simulated").all()
    assert all(again["run_id"] in p.name for p in store.event_files())


def test_local_clock_follows_the_store_timezone(make_store):
    kolkata, utc = make_store("k", timezone="Asia/Kolkata"), make_store("u", timezone="UTC")
    simulate_shop(kolkata, days=1, end=date(2026, 11, 2), seed=1)
    simulate_shop(utc, days=1, end=date(2026, 11, 2), seed=1)
    first_k = kolkata.query("SELECT min(start) FROM tracks").iloc[0, 0]
    first_u = utc.query("SELECT min(start) FROM tracks").iloc[0, 0]
    assert first_u - first_k == pd.Timedelta(hours=5, minutes=30)
    assert (kolkata.event_files("tracks")[0].parent.parent.name) == "date=2026-11-02"


def test_rejects_impossible_ranges(make_store):
    with pytest.raises(SimulationError, match="days must be"):
        simulate_shop(make_store(), days=0)
