from datetime import UTC, datetime, timedelta

import pytest

from workbench.config import parse_config
from workbench.errors import StoreError
from workbench.schema import EVENTS
from workbench.store import Store
from workbench.writer import RunWriter

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def track(
    customer: str, start_s: float, dur_s: float = 30, camera: str = "door", n: int = 0
) -> dict:
    """A factory for one track row."""
    return {
        "camera": camera,
        "track_id": f"t{customer}-{start_s}-{n}",
        "start": T0 + timedelta(seconds=start_s),
        "end": T0 + timedelta(seconds=start_s + dur_s),
        "customer_id": customer,
        "sightings": 3,
        "embedded": 1,
        "quality": 0.8,
        "match_distance": 0.3,
        "embedding": None,
        "snapshot": None,
    }


def write_run(
    store: Store, rows: list[dict], key: str = "file:door:a.mp4", table: str = "tracks"
) -> RunWriter:
    with RunWriter(store, key, "door", "a.mp4", "video") as w:
        w.add(table, rows)
    return w


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store", parse_config({"store": str(tmp_path / "store")}))


def test_empty_store_has_typed_empty_views(store):
    for table in [*EVENTS, "visits", "customers", "runs"]:
        df = store.query(f'SELECT * FROM "{table}"')
        assert df.empty
    assert list(store.query("SELECT * FROM visits").columns)[:6] == [
        "visit_id",
        "customer_id",
        "camera",
        "start",
        "end",
        "dwell_s",
    ]


def test_visits_are_sessions_of_tracks(store):
    # A: two tracks 60 s apart (one visit), then back after 10 minutes (second visit); B: once.
    write_run(store, [track("A", 0), track("A", 60), track("A", 60 + 30 + 600), track("B", 10)])
    v = store.query("SELECT * FROM visits ORDER BY customer_id, start")
    assert list(v.customer_id) == ["A", "A", "B"]
    assert v.dwell_s.tolist() == [90.0, 30.0, 30.0]
    assert v.is_new.tolist() == [True, False, True]
    assert v.visit_id.is_unique
    c = store.query("SELECT * FROM customers ORDER BY customer_id")
    assert c.visit_count.tolist() == [2, 1]


def test_gap_setting_changes_sessions(tmp_path):
    cfg = parse_config({"store": str(tmp_path), "visits": {"gap_s": 1000}})
    store = Store(tmp_path, cfg)
    write_run(store, [track("A", 0), track("A", 60 + 30 + 600)])
    assert len(store.query("SELECT * FROM visits")) == 1


def test_reingest_replaces_not_doubles(store):
    write_run(store, [track("A", 0), track("B", 5)])
    write_run(store, [track("A", 0), track("B", 5)])
    assert len(store.query("SELECT * FROM tracks")) == 2
    write_run(store, [track("C", 0)], key="file:door:b.mp4")
    assert len(store.query("SELECT * FROM tracks")) == 3
    # the replaced run's files are gone from disk, not only hidden
    assert len(store.event_files("tracks")) == 2


def test_failed_run_keeps_what_it_reported(store):
    with pytest.raises(RuntimeError):
        with RunWriter(store, "file:door:x.mp4", "door", "x.mp4", "video") as w:
            w.add("tracks", [track("A", 0)])
            raise RuntimeError("decoder crashed")
    assert len(store.query("SELECT * FROM tracks")) == 1
    run = store.query("SELECT status, message FROM runs").iloc[0]
    assert run.status == "failed" and "decoder crashed" in run.message


def test_run_that_wrote_nothing_does_not_hide_previous(store):
    write_run(store, [track("A", 0)])
    with pytest.raises(RuntimeError):
        with RunWriter(store, "file:door:a.mp4", "door", "a.mp4", "video"):
            raise RuntimeError("could not start")
    assert len(store.query("SELECT * FROM tracks")) == 1


def test_a_rerun_that_finds_nothing_replaces_the_previous_and_is_listed(store):
    write_run(store, [track("A", 0)])
    with RunWriter(store, "file:door:a.mp4", "door", "a.mp4", "video"):
        pass  # e.g. re-ingested with settings under which nobody is found
    assert len(store.query("SELECT * FROM tracks")) == 0
    assert store.event_files("tracks") == []
    (run,) = store.current_runs().itertuples()
    assert run.status == "complete" and run.finished_at is not None


def test_partitions_by_local_date(tmp_path):
    cfg = parse_config({"store": str(tmp_path), "timezone": "Asia/Kolkata"})
    store = Store(tmp_path, cfg)
    late = track("A", 0) | {
        "start": datetime(2026, 3, 1, 20, 0, tzinfo=UTC),
        "end": datetime(2026, 3, 1, 20, 1, tzinfo=UTC),
    }
    write_run(store, [late])
    (path,) = store.event_files("tracks")
    assert "date=2026-03-02" in str(path)  # 20:00 UTC is 01:30 the next day in India
    # a reader without a config file uses the settings the writer recorded
    assert Store(tmp_path).config.timezone == "Asia/Kolkata"


def test_rows_are_written_as_given_nan_as_null_and_a_bad_row_is_named(store):
    """Rows go to Arrow straight from the writer's dicts: one file per local date, numpy
    numbers as numbers, a NaN as SQL's null (averages skip it), extra keys ignored; a row
    without a column or with the wrong kind of value is a clear error, not a lost row."""
    import numpy as np

    rows = [
        track("A", 0) | {"quality": np.float32(0.5), "sightings": np.int64(4), "note": "x"},
        track("B", 60) | {"quality": float("nan")},
        track("C", 86400),  # the next day
    ]
    write_run(store, rows)
    days = sorted(p.parent.parent.name for p in store.event_files("tracks"))
    assert days == ["date=2026-03-01", "date=2026-03-02"]
    got = store.query(
        "SELECT count(*) AS n, count(quality) AS q, avg(quality) AS avg_q, sum(sightings) AS s "
        "FROM tracks"
    ).iloc[0]
    assert (got["n"], got["q"], got["avg_q"], got["s"]) == (3, 2, pytest.approx(0.65), 10)
    with pytest.raises(StoreError, match="tracks: rows lack columns.*customer_id"):
        write_run(store, [{k: v for k, v in track("D", 0).items() if k != "customer_id"}])
    with pytest.raises(StoreError, match="tracks: rows do not fit"):
        write_run(store, [track("E", 0) | {"sightings": "many"}])


def test_no_temp_files_left_and_compaction_keeps_rows(store):
    with RunWriter(store, "file:door:a.mp4", "door", "a.mp4", "video") as w:
        for i in range(5):
            w.add("tracks", [track("A", i * 1000, n=i)])
            w.flush()
    assert len(store.event_files("tracks")) == 5
    before = store.query("SELECT * FROM tracks ORDER BY start")
    stats = store.compact()
    assert stats["merged_files"] == 5 and stats["written_files"] == 1
    after = store.query("SELECT * FROM tracks ORDER BY start")
    assert before.equals(after)
    assert not list(store.root.glob("**/.*.tmp"))


def test_one_writer_at_a_time(store):
    with store.writer_lock():
        with pytest.raises(StoreError, match="in use by pid"):
            with store.writer_lock():
                pass


def test_store_path_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not writable.*--store"):
        Store(blocker / "store").ensure_writable()


def test_customer_ids_never_reused(store):
    a = store.allocate_customer_ids(2)
    b = store.allocate_customer_ids(1)
    assert a == ["C00001", "C00002"] and b == ["C00003"]
