"""Customer management and consolidation over a store with known embeddings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from workbench import customers as cust
from workbench.cli import main
from workbench.consolidate import consolidate
from workbench.errors import NotFoundError, WorkbenchError
from workbench.writer import RunWriter

T0 = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)  # 09:30 in Asia/Kolkata


def _unit(rng, n=128):
    v = rng.normal(size=n)
    return v / np.linalg.norm(v)


def _person(rng):
    """A person's face embedding centre; dlib embeddings of one person lie ~0.3-0.4 apart."""
    return _unit(rng) * 0.6


def _view(rng, centre, spread=0.02):
    return (centre + rng.normal(scale=spread, size=128)).astype(np.float32)


def write_tracks(store, rows, key="file:door:test"):
    """rows: (track_id, customer_id, start, seconds, embedding) -> tracks + sightings + key images."""
    with RunWriter(store, key, "door", "test", kind="video") as w:
        tracks, sightings = [], []
        for tid, cid, start, secs, emb in rows:
            snap = store.save_snapshot(f"door/{tid}.jpg", b"\xff\xd8jpeg")
            tracks.append(
                {
                    "camera": "door",
                    "track_id": tid,
                    "start": start,
                    "end": start + timedelta(seconds=secs),
                    "customer_id": cid,
                    "sightings": 2,
                    "embedded": 1,
                    "quality": 0.9,
                    "match_distance": None,
                    "embedding": None if emb is None else emb.tolist(),
                    "snapshot": snap,
                }
            )
            for k in range(2):
                sightings.append(
                    {
                        "camera": "door",
                        "ts": start + timedelta(seconds=k * secs),
                        "frame": k,
                        "track_id": tid,
                        "x": 1.0,
                        "y": 1.0,
                        "w": 50.0,
                        "h": 50.0,
                        "score": 1.0,
                        "quality": 0.9,
                    }
                )
        w.add("tracks", tracks)
        w.add("sightings", sightings)


@pytest.fixture
def shop(make_store):
    """Anna came 3 times but the online pass split her (C1, C2); Bob twice (C3); Cid once (C4)."""
    store = make_store()
    rng = np.random.default_rng(7)
    anna, bob, cid = _person(rng), _person(rng), _person(rng)
    day = timedelta(days=1)
    write_tracks(
        store,
        [
            ("t1", "C00001", T0, 20, _view(rng, anna)),
            ("t2", "C00002", T0 + day, 30, _view(rng, anna)),
            ("t3", "C00001", T0 + 2 * day, 25, _view(rng, anna)),
            ("t4", "C00003", T0 + 2 * day + timedelta(seconds=5), 40, _view(rng, bob)),
            ("t5", "C00003", T0 + 3 * day, 10, _view(rng, bob)),
            ("t6", "C00004", T0 + 3 * day + timedelta(hours=2), 12, _view(rng, cid)),
        ],
    )
    store.allocate_customer_ids(4)
    return store


def _ids(store):
    return dict(store.query("SELECT track_id, customer_id FROM tracks").values.tolist())


def test_merge_rewrites_visits_and_split_undoes_it(shop):
    assert shop.query("SELECT count(*) n FROM customers")["n"][0] == 4
    cust.merge(shop, "C00001", ["C00002"])
    assert _ids(shop)["t2"] == "C00001"
    v = shop.query("SELECT customer_id, is_new FROM visits ORDER BY start")
    assert (v["customer_id"] == "C00001").sum() == 3 and v["is_new"].sum() == 3
    assert (
        shop.query("SELECT visit_count FROM customers WHERE customer_id='C00001'").iloc[0, 0] == 3
    )
    with pytest.raises(WorkbenchError, match="merged into C00001"):
        cust.label(shop, "C00002", "x")
    # undo
    assert cust.split(shop, "C00001", "C00002") == "C00002"
    assert _ids(shop)["t2"] == "C00002"
    # marked different: neither merge nor consolidation joins them again
    with pytest.raises(WorkbenchError, match="different people"):
        cust.merge(shop, "C00001", ["C00002"])
    assert consolidate(shop)["customers_merged"] == 0


def test_consolidate_merges_the_split_person_only(shop):
    plan = consolidate(shop, dry_run=True)
    assert [(m["into"], m["merged"]) for m in plan["merges"]] == [("C00001", ["C00002"])]
    assert _ids(shop)["t2"] == "C00002"  # dry run changed nothing
    consolidate(shop)
    ids = _ids(shop)
    assert ids["t2"] == ids["t1"] == ids["t3"] == "C00001"
    assert len({ids["t1"], ids["t4"], ids["t6"]}) == 3
    assert consolidate(shop)["customers_merged"] == 0  # idempotent


def test_consolidate_respects_labels_and_co_presence(make_store):
    store = make_store()
    rng = np.random.default_rng(3)
    p = _person(rng)
    # the same face twice, but both in view together for 10 s: two people (twins)
    write_tracks(
        store, [("a", "C00001", T0, 10, _view(rng, p)), ("b", "C00002", T0, 10, _view(rng, p))]
    )
    assert consolidate(store)["customers_merged"] == 0
    store2 = make_store("s2")
    write_tracks(
        store2,
        [
            ("a", "C00001", T0, 10, _view(rng, p)),
            ("b", "C00002", T0 + timedelta(days=1), 10, _view(rng, p)),
        ],
    )
    cust.label(store2, "C00001", "Asha")
    cust.label(store2, "C00002", "Meena")
    assert consolidate(store2)["customers_merged"] == 0
    with pytest.raises(WorkbenchError, match="relabel"):
        cust.merge(store2, "C00001", ["C00002"])


def test_split_tracks_to_a_new_customer(shop):
    new = cust.split(shop, "C00003", tracks=["t5"])
    assert new == "C00005"
    ids = _ids(shop)
    assert ids["t5"] == "C00005" and ids["t4"] == "C00003"
    assert (frozenset(("C00003", "C00005"))) in cust.separated(shop)
    with pytest.raises(NotFoundError, match="not C00003's"):
        cust.split(shop, "C00003", tracks=["t1"])
    with pytest.raises(WorkbenchError, match="every track"):
        cust.split(shop, "C00003", tracks=["t4"])


def test_label_and_staff(shop):
    cust.label(shop, "C00003", "Bob (milkman)")
    cust.set_staff(shop, "C00004")
    c = shop.query("SELECT customer_id, label, is_staff FROM customers ORDER BY customer_id")
    assert c.set_index("customer_id").loc["C00003", "label"] == "Bob (milkman)"
    assert bool(c.set_index("customer_id").loc["C00004", "is_staff"])
    assert "C00004" not in set(shop.query("SELECT customer_id FROM visits")["customer_id"])
    assert "C00004" in set(shop.query("SELECT customer_id FROM all_visits")["customer_id"])
    cust.set_staff(shop, "C00004", False)
    assert "C00004" in set(shop.query("SELECT customer_id FROM visits")["customer_id"])


def test_forget_erases_everywhere(shop):
    cust.merge(shop, "C00001", ["C00002"])
    cust.label(shop, "C00001", "Anna")
    rng = np.random.default_rng(1)
    stats = cust.forget(shop, "C00001")
    assert stats["tracks"] == 3 and stats["sightings"] == 6 and stats["key_images"] == 3
    assert stats["ids"] == ["C00001", "C00002"]
    assert set(_ids(shop)) == {"t4", "t5", "t6"}
    assert (
        shop.query("SELECT count(*) n FROM sightings WHERE track_id IN ('t1','t2','t3')")["n"][0]
        == 0
    )
    assert not (shop.root / "snapshots/door/t1.jpg").exists()
    assert (shop.root / "snapshots/door/t4.jpg").exists()
    assert shop.read_state("customers").query("customer_id == 'C00001'").empty
    assert shop.read_state("customer_merges").empty
    # no file on disk holds the forgotten embedding or id any more
    raw = shop.query("SELECT count(*) n FROM raw_tracks WHERE customer_id IN ('C00001','C00002')")
    assert raw["n"][0] == 0
    with pytest.raises(NotFoundError):
        cust.forget(shop, "C00001")
    # seen again, the person is a new customer with a new id
    write_tracks(
        shop, [("t9", None, T0 + timedelta(days=9), 5, _view(rng, _person(rng)))], "file:door:b"
    )
    assert shop.allocate_customer_ids(1) == ["C00005"]


def test_unknown_ids_are_clear_errors(shop):
    for fn, args in (
        (cust.forget, ("C09999",)),
        (cust.merge, ("C00001", ["C09999"])),
        (cust.show, ("C09999",)),
        (cust.split, ("C00001", "C00003")),
    ):
        with pytest.raises(WorkbenchError):
            fn(shop, *args)


def test_cli_customers(shop):
    run = CliRunner().invoke
    store = ["--store", str(shop.root)]
    r = run(main, ["customers", "list", *store])
    assert r.exit_code == 0 and "C00004" in r.output
    r = run(main, ["customers", "merge", "C00001", "C00002", *store])
    assert r.exit_code == 0 and "merged C00002 into C00001" in r.output
    r = run(main, ["customers", "show", "C00001", "--json", *store])
    assert r.exit_code == 0 and '"merged_ids": [\n   "C00002"' in r.output
    r = run(main, ["customers", "forget", "C09999", "--yes", *store])
    assert r.exit_code == 1 and "no customer C09999" in r.output
    r = run(main, ["customers", "forget", "C00004", *store], input="n\n")
    assert r.exit_code == 1 and "C00004" in set(
        shop.query("SELECT customer_id FROM tracks")["customer_id"]
    )
    r = run(main, ["customers", "consolidate", "--dry-run", *store])
    assert r.exit_code == 0 and "0 customers merged (dry run)" in r.output


def test_consolidation_needs_more_evidence_from_fewer_tracks(make_store):
    # one person's views 0.5 apart: beyond match_distance (0.46), within consolidate_distance
    rng = np.random.default_rng(5)
    p = _person(rng)
    q, _ = np.linalg.qr(rng.normal(size=(128, 6)))
    views = [(p + r * q[:, k]).astype(np.float32) for k, r in enumerate([0.3] * 5 + [0.4])]
    day = timedelta(days=1)
    # one track each: a single pair, as uncertain as any single comparison
    one = make_store("one")
    write_tracks(one, [("a", "C00001", T0, 10, views[0]), ("b", "C00002", T0 + day, 10, views[5])])
    assert consolidate(one)["customers_merged"] == 0
    # five tracks against one: the average of five pairs is evidence enough
    many = make_store("many")
    rows = [(f"a{k}", "C00001", T0 + k * day, 10, views[k]) for k in range(5)]
    write_tracks(many, [*rows, ("b", "C00002", T0 + 6 * day, 10, views[5])])
    assert consolidate(many)["customers_merged"] == 1
