"""The derived tables never change an answer: after every kind of change since the build
(new footage, re-ingest, merges, splits, staff, erasure) the views give exactly what a
computation from the events alone gives, and a fresh build is used whole."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from workbench import customers, views_visits
from workbench.config import Config
from workbench.derived import Plan, plan
from workbench.simulate import simulate_shop
from workbench.store import Store
from workbench.views import create_views
from workbench.writer import RunWriter

END = date(2026, 11, 1)
VIEWS = {
    "all_visits": "visit_id", "transactions": "transaction_id", "track_spans": "track_id",
    "customers": "customer_id", "daily_summary": "day", "hourly_traffic": "day, hour",
    "payment_summary": "day, payment_mode", "cans_per_day": "day, can_size",
    "unpaid": "transaction_id", "customer_spend": "customer_id", "repeat_defaulters": "customer_id",
}  # fmt: skip


def _rows(store: Store, use_derived: bool) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(":memory:")
    con.execute(f"SET TimeZone = '{store.config.timezone}'")
    create_views(con, store, None if use_derived else Plan())
    out = {v: con.execute(f"SELECT * FROM {v} ORDER BY {k}").df() for v, k in VIEWS.items()}
    con.close()
    return out


def assert_exact(store: Store) -> None:
    cached, fresh = _rows(store, True), _rows(store, False)
    for view in VIEWS:
        pd.testing.assert_frame_equal(cached[view], fresh[view], check_dtype=False, obj=view)


def _anonymous_sales(store: Store, n: int, source: str) -> None:
    """Till records without a customer id, in the middle of some visits at the till."""
    v = store.query("SELECT start, \"end\" FROM visits WHERE camera = 'counter' ORDER BY start")
    rows = [{
        "camera": "counter", "transaction_id": f"{source}-{i}", "ts": r.start + (r.end - r.start) / 2,
        "customer_id": None, "payment_mode": "UPI", "can_size": "20L", "number_of_cans": 1,
        "amount": 35.0, "payment_status": "Unpaid" if i % 4 == 0 else "Paid",
    } for i, r in enumerate(v.iloc[:: max(1, len(v) // n)].itertuples())]  # fmt: skip
    with store.writer_lock(), RunWriter(store, source, "counter", "test till", kind="import") as w:
        w.add("transactions", rows)


CONFIG = {"timezone": "Asia/Kolkata", "transactions": {"till_camera": "counter"}}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Two simulated days with anonymous till records, compacted: a fresh derived build."""
    root = tmp_path_factory.mktemp("derived") / "s"
    s = Store(root, Config(store=root, **CONFIG))
    simulate_shop(s, days=2, end=END, seed=1)
    _anonymous_sales(s, 20, "till-a")
    s.compact()
    return root


@pytest.fixture
def store(built, tmp_path) -> Store:
    """A copy of the built store to change."""
    root = shutil.copytree(built, tmp_path / "s")  # file times kept: the build stays valid
    return Store(root, Config(store=root, **CONFIG))


def _linked_customers(store: Store, n: int = 2) -> list[str]:
    """Customers an anonymous till record is linked to."""
    ids = store.query(
        "SELECT customer_id FROM transactions WHERE link_status = 'linked' GROUP BY 1 ORDER BY 1 "
        f"LIMIT {n}"
    )["customer_id"]
    return list(ids)


def test_a_fresh_build_is_the_answer(store):
    p = plan(store)
    assert p.build is not None and p.clean
    assert_exact(store)
    counts = store.query("SELECT link_status, count(*) n FROM transactions GROUP BY 1")
    assert {"given", "linked"} <= set(counts["link_status"])


@pytest.fixture
def no_refresh(monkeypatch):
    """Edits that leave the build as it was (as consolidation's merges do until it refreshes):
    the views recompute what they changed."""
    monkeypatch.setattr(customers, "refresh", lambda store: {})


def test_an_edit_refreshes_the_build(store):
    a, b, c = _linked_customers(store, 3)
    before = plan(store).build
    customers.merge(store, a, [b])
    p = plan(store)
    assert p.clean and p.build != before
    assert_exact(store)
    customers.set_staff(store, a, True)  # staff: recomputed by readers, not refreshed
    customers.label(store, c, "Ravi")  # a label changes nothing derived
    p = plan(store)
    assert not p.clean and not p.edits_changed
    assert_exact(store)


def test_edits_since_the_build(store, no_refresh):
    a, b, c = _linked_customers(store, 3)
    customers.set_staff(store, c, True)  # the till records linked to c are not c's any more
    assert_exact(store)
    linked = store.query("SELECT customer_id FROM transactions WHERE link_status = 'linked'")
    assert c not in set(linked["customer_id"])
    customers.merge(store, a, [b])
    assert plan(store).edits_changed
    assert_exact(store)
    customers.split(store, a, b)
    assert_exact(store)
    track = store.query("SELECT track_id FROM tracks WHERE customer_id = ? LIMIT 1", [a]).iloc[0, 0]
    others = store.query("SELECT count(*) FROM tracks WHERE customer_id = ?", [a]).iloc[0, 0]
    if others > 1:
        customers.split(store, a, None, [track])
        assert_exact(store)


def test_new_footage_and_reingest_since_the_build(store):
    simulate_shop(store, days=1, end=END + timedelta(days=1), seed=2, camera="door")
    _anonymous_sales(store, 5, "till-b")
    p = plan(store)
    assert p.live_files["tracks"] and not p.stale["tracks"] and not p.clean
    assert_exact(store)
    # the next process maps the parts this one recomputed: the same answers
    views_visits._known.clear()
    kept = max(p.build.glob(".parts/*/_relinked.arrow"), key=lambda f: f.stat().st_mtime_ns)
    mtime = kept.stat().st_mtime_ns
    assert_exact(store)
    assert kept.stat().st_mtime_ns == mtime  # mapped, not computed again
    simulate_shop(store, days=2, end=END, seed=1)  # the same source again: replaces its run
    assert_exact(store)


def test_new_tracks_of_known_customers(store):
    """New tracks that extend a built visit, come before a customer's first visit, or start a new one."""
    v = store.query(
        "SELECT customer_id, start, \"end\" FROM visits WHERE camera = 'counter' ORDER BY start"
    )
    first, last = v.iloc[0], v.iloc[-1]
    regular = v[v["customer_id"] != first.customer_id]["customer_id"].value_counts().index[0]
    rows = [
        (last.customer_id, last.end + timedelta(minutes=2), 3),  # joins the built visit
        (first.customer_id, first.start - timedelta(hours=30), 2),  # earlier: now the first visit
        (first.customer_id, last.end + timedelta(hours=3), 4),  # a visit of its own
        (regular, last.end + timedelta(hours=5), 3),  # a regular's next visit: not new
    ]
    tracks = [{
        "camera": "counter", "track_id": f"late{i}", "start": t, "end": t + timedelta(minutes=m),
        "customer_id": c, "sightings": 2, "embedded": 1, "quality": 0.9, "match_distance": 0.3,
        "embedding": None, "snapshot": None,
    } for i, (c, t, m) in enumerate(rows)]  # fmt: skip
    sale = {"camera": "counter", "transaction_id": "late-sale", "ts": rows[0][1] + timedelta(minutes=1),
            "customer_id": None, "payment_mode": "cash", "can_size": "10L", "number_of_cans": 1,
            "amount": 20.0, "payment_status": "Paid"}  # fmt: skip
    with (
        store.writer_lock(),
        RunWriter(store, "test:late", "counter", "late clip", kind="test") as w,
    ):
        w.add("tracks", tracks)
        w.add("transactions", sale)
    assert not plan(store).clean
    assert_exact(store)
    firsts = store.query(
        "SELECT start FROM visits WHERE customer_id = ? AND is_new", [first.customer_id]
    )
    assert firsts["start"].tolist() == [rows[1][1]]
    assert (
        store.query("SELECT count(*) FROM visits WHERE customer_id = ? AND is_new", [regular]).iloc[
            0, 0
        ]
        == 1
    )


def test_erasure_since_the_build_is_seen(store, no_refresh):
    a, _ = _linked_customers(store)
    customers.forget(store, a)
    assert_exact(store)
    for view in ("all_visits", "customers", "track_spans", "transactions"):
        assert a not in set(store.query(f"SELECT customer_id FROM {view}")["customer_id"])


def test_compact_again_and_other_settings(store):
    """A later build starts from the last one and what changed since: still exact."""
    a, b = _linked_customers(store)
    customers.merge(store, a, [b])
    simulate_shop(store, days=1, end=END + timedelta(days=1), seed=2, camera="door")
    _anonymous_sales(store, 5, "till-b")
    store.compact()
    assert plan(store).clean
    assert_exact(store)
    settings = store.config.model_dump()
    other = Store(store.root, Config(**{**settings, "visits": {"gap_s": 60.0}}))
    assert plan(other).build is None  # built for another visit gap: not used


def test_erasure_is_journaled(store, no_refresh):
    """`forget` notes every partition it rewrites or empties, so plans need no folder scan."""
    a, _ = _linked_customers(store)
    journal = store.events_dir / ".journal"
    offset = journal.stat().st_size if journal.exists() else 0
    before = {f: f.stat().st_mtime_ns for f in store.event_files()}
    customers.forget(store, a)
    changed = {
        f.parent.relative_to(store.events_dir).as_posix()
        for f, mtime in before.items()
        if not f.exists() or f.stat().st_mtime_ns != mtime
    }
    with open(journal, "rb") as fh:
        fh.seek(offset)
        noted = set(fh.read().decode().splitlines())
    assert changed and changed <= noted
    # a file emptied and deleted is noted too: the plan sees it without the edits changing
    gone = next(f for f in store.event_files("tracks") if f.exists())
    store.replace_event_file(gone, None)
    assert not gone.exists()
    assert gone.parent.relative_to(store.events_dir).as_posix() in plan(store).stale["tracks"]
    assert_exact(store)


def test_closed_months_move_into_one_folder(store, no_refresh):
    """`compact` moves the days of a closed month into one folder and file per run and camera;
    the answers stay the same, and an erasure after it is still seen."""
    before = _rows(store, True)
    stats = store.compact(today=END + timedelta(days=40))
    assert stats["merged_files"] > 0
    for table in ("sightings", "tracks", "transactions"):
        periods = {f.parent.parent.name for f in store.event_files(table)}
        assert periods and all(p.startswith("month=") for p in periods), periods
    assert not list(store.events_dir.glob("tracks/date=*"))  # emptied day folders are gone
    assert plan(store).clean
    after = _rows(store, True)
    for view in VIEWS:
        pd.testing.assert_frame_equal(after[view], before[view], check_dtype=False, obj=view)
    a, _ = _linked_customers(store)
    customers.forget(store, a)  # rewrites month files: noted, their rows recomputed
    assert any(p.startswith("tracks/month=") for p in plan(store).stale["tracks"])
    assert_exact(store)
