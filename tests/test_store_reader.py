"""Store.query keeps a connection per thread while the store stays the same, and never
answers from it once anything its views were made from changed."""

from concurrent.futures import ThreadPoolExecutor

import duckdb
import pytest
from test_store import track, write_run

from workbench.config import parse_config
from workbench.customers import label, merge, set_staff
from workbench.store import Store

COUNT = "SELECT count(*) AS n, count(DISTINCT customer_id) AS c FROM visits"


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store", parse_config({"store": str(tmp_path / "store")}))


def counts(store: Store) -> tuple[int, int]:
    row = store.query(COUNT).iloc[0]
    return int(row["n"]), int(row["c"])


def test_kept_while_nothing_changes_and_replaced_after_a_write(store):
    write_run(store, [track("A", 0)])
    assert counts(store) == (1, 1)
    con = store._readers.con
    assert counts(store) == (1, 1) and store._readers.con is con
    write_run(store, [track("B", 100)], key="file:door:b.mp4")
    assert counts(store) == (2, 2)
    assert store._readers.con is not con


@pytest.mark.parametrize("compacted", [False, True])
def test_every_write_and_edit_is_seen_by_the_next_query(store, compacted):
    assert counts(store) == (0, 0)  # an empty store: no event table yet
    write_run(store, [track("A", 0), track("B", 5000)])
    if compacted:
        store.compact()
    assert counts(store) == (2, 2)
    write_run(store, [track("C", 9000)], key="file:door:c.mp4")  # written since the build
    assert counts(store) == (3, 3)
    merge(store, "A", ["B"])
    assert counts(store) == (3, 2)
    label(store, "C", "Ravi")
    set_staff(store, "C")  # staff leave the visits
    assert counts(store) == (2, 1)
    assert store.query("SELECT label FROM customers WHERE customer_id = 'C'").iloc[0, 0] == "Ravi"


def test_threads_each_have_their_own_connection(store):
    write_run(store, [track(c, 1000 * i) for i, c in enumerate("ABCDE")])
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: counts(store), range(40)))
    assert got == [(5, 5)] * 40


def test_a_failed_query_leaves_the_next_one_working(store):
    write_run(store, [track("A", 0)])
    assert counts(store) == (1, 1)
    with pytest.raises(duckdb.Error):
        store.query("SELECT no_such_column FROM visits")
    assert counts(store) == (1, 1)
