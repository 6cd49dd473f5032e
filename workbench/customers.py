"""Customer management: list, show, label, staff, merge, split, forget.

Edits are recorded in the store's state tables and applied by the views (see
``workbench.views``), never written into the events, so each one is undoable:
a merge is undone by ``split``. Only ``forget`` rewrites events, because erasure
must remove the person's data from disk.

Merges, splits, forget and consolidation take the store's writer lock: an ingest
keeps the gallery in memory and must not run while identities change under it.
In a compacted store, merge, split and forget then refresh the derived tables
(``workbench.derived.refresh``), so dashboards do not recompute what they changed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.derived import refresh
from workbench.errors import NotFoundError, WorkbenchError
from workbench.parts import prepare
from workbench.store import Store

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def known_ids(store: Store) -> set[str]:
    """Customers as they stand now (merged-away ids excluded)."""
    ids = store.query("SELECT DISTINCT customer_id FROM tracks WHERE customer_id IS NOT NULL")
    merged = set(store.read_state("customer_merges")["customer_id"])
    labelled = set(store.read_state("customers")["customer_id"]) - merged
    return set(ids["customer_id"]) | labelled


def _check(store: Store, *ids: str) -> None:
    known = known_ids(store)
    merges = store.read_state("customer_merges").set_index("customer_id")["into_id"]
    for cid in ids:
        if cid in merges.index:
            raise WorkbenchError(
                f"customer {cid} was merged into {merges[cid]}; use {merges[cid]} "
                f"(or `workbench customers split {merges[cid]} {cid}` to undo the merge)"
            )
        if cid not in known:
            raise NotFoundError(
                f"no customer {cid} in {store.root}; `workbench customers list` shows the ids"
            )


def list_customers(store: Store, staff: bool | None = None) -> pd.DataFrame:
    """One row per customer: first/last seen, visits, label, staff flag, key image."""
    where = "" if staff is None else f"WHERE is_staff = {str(staff).lower()}"
    return store.query(
        f"SELECT customer_id, first_seen, last_seen, visit_count, label, is_staff, snapshot "
        f"FROM customers {where} ORDER BY first_seen, customer_id"
    )


def show(store: Store, customer_id: str) -> dict:
    """A customer's record: summary, visits, tracks and the ids merged into it."""
    _check(store, customer_id)
    params = [customer_id]
    summary = store.query("SELECT * FROM customers WHERE customer_id = ?", params)
    visits = store.query(
        'SELECT visit_id, camera, start, "end", dwell_s, is_new FROM all_visits '
        "WHERE customer_id = ? ORDER BY start",
        params,
    )
    tracks = store.query(
        'SELECT track_id, camera, start, "end", embedded, quality, match_distance, '
        "detected_customer_id, snapshot FROM tracks WHERE customer_id = ? ORDER BY start",
        params,
    )
    merges = store.read_state("customer_merges")
    row = summary.iloc[0].to_dict() if len(summary) else {"customer_id": customer_id}
    labels = store.read_state("customers").set_index("customer_id")
    if customer_id in labels.index:
        row["label"] = labels.at[customer_id, "label"]
        row["is_staff"] = bool(labels.at[customer_id, "is_staff"])
    row["merged_ids"] = sorted(merges.loc[merges["into_id"] == customer_id, "customer_id"])
    return {"customer": row, "visits": visits, "tracks": tracks}


def _set_flags(store: Store, customer_id: str, **values) -> None:
    with store.state_lock():
        _check(store, customer_id)
        table = store.read_state("customers")
        if customer_id not in set(table["customer_id"]):
            new = {"customer_id": customer_id, "created_at": _now(), "label": None}
            new["is_staff"] = False
            table = pd.concat([table, pd.DataFrame([new])], ignore_index=True)
        for key, value in values.items():
            table.loc[table["customer_id"] == customer_id, key] = value
        store.write_state("customers", table)


def label(store: Store, customer_id: str, text: str | None) -> None:
    """Give a customer a name or note (``None`` clears it)."""
    _set_flags(store, customer_id, label=text or None)


def set_staff(store: Store, customer_id: str, is_staff: bool = True) -> None:
    """Mark a customer as staff: they stay recognised but leave customer analytics."""
    _set_flags(store, customer_id, is_staff=is_staff)
    prepare(store)  # what it changes, recomputed once for every reader


def separated(store: Store) -> set[frozenset[str]]:
    """Pairs of customers a person marked as different (by splitting them)."""
    sep = store.read_state("customer_separations")
    return {frozenset(p) for p in zip(sep["customer_a"], sep["customer_b"], strict=True)}


def _labels(store: Store) -> dict[str, str]:
    t = store.read_state("customers").dropna(subset=["label"])
    return dict(zip(t["customer_id"], t["label"], strict=True))


def merge(store: Store, into: str, others: list[str], reason: str = "user") -> list[str]:
    """Merge customers into ``into``: their tracks, visits and exemplars become ``into``'s.

    Refused for customers a person marked as different, or labelled with different
    names. Returns the ids merged.
    """
    others = [o for o in dict.fromkeys(others) if o != into]
    if not others:
        raise WorkbenchError("name at least one other customer to merge into " + into)
    with store.writer_lock():
        with store.state_lock():
            _check(store, into, *others)
            _merge_locked(store, into, others, reason)
        refresh(store)
    return others


def _merge_locked(store: Store, into: str, others: list[str], reason: str) -> None:
    sep = separated(store)
    labels = _labels(store)
    for o in others:
        if frozenset((into, o)) in sep:
            raise WorkbenchError(
                f"{into} and {o} were marked as different people (split); not merging"
            )
        if labels.get(into) and labels.get(o) and labels[into] != labels[o]:
            raise WorkbenchError(
                f"{into} is labelled {labels[into]!r} and {o} {labels[o]!r}; "
                "relabel one of them first if they are the same person"
            )
    merges = store.read_state("customer_merges")
    # keep the table flat: whatever pointed at a merged id now points at ``into``
    merges.loc[merges["into_id"].isin(others), "into_id"] = into
    new = pd.DataFrame(
        {"customer_id": others, "into_id": into, "merged_at": _now(), "reason": reason}
    )
    store.write_state("customer_merges", pd.concat([merges, new], ignore_index=True))
    table = store.read_state("customers")
    flags = table.set_index("customer_id")
    if into not in flags.index and any(o in flags.index for o in others):
        src = next(o for o in others if o in flags.index)
        row = {"customer_id": into, "created_at": _now(), "label": flags.at[src, "label"]}
        row["is_staff"] = bool(flags.at[src, "is_staff"])
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
    elif into in flags.index:
        staff = any(bool(flags.at[o, "is_staff"]) for o in others if o in flags.index)
        if staff:
            table.loc[table["customer_id"] == into, "is_staff"] = True
        if not flags.at[into, "label"]:
            lab = next((labels[o] for o in others if labels.get(o)), None)
            table.loc[table["customer_id"] == into, "label"] = lab
    store.write_state("customers", table)
    log.info("merged %s into %s (%s)", ", ".join(others), into, reason)


def split(
    store: Store, customer_id: str, other: str | None = None, tracks: list[str] | None = None
) -> str:
    """Undo a merge (``other`` was merged into ``customer_id``), or move ``tracks`` to a new id.

    Either way the two customers are recorded as different people, so neither a
    later merge nor consolidation joins them again. Returns the separated id.
    """
    if (other is None) == (not tracks):
        raise WorkbenchError("split needs either the merged customer id or --tracks, not both")
    with store.writer_lock():
        with store.state_lock():
            _check(store, customer_id)
            if other is not None:
                merges = store.read_state("customer_merges")
                hit = (merges["customer_id"] == other) & (merges["into_id"] == customer_id)
                if not hit.any():
                    raise NotFoundError(
                        f"{other} is not merged into {customer_id}; "
                        f"`workbench customers show {customer_id}` lists the merged ids"
                    )
                store.write_state("customer_merges", merges[~hit])
                new_id = other
            else:
                mine = store.query(
                    "SELECT track_id FROM tracks WHERE customer_id = ?", [customer_id]
                )["track_id"]
                unknown = sorted(set(tracks) - set(mine))
                if unknown:
                    raise NotFoundError(
                        f"tracks {', '.join(unknown)} are not {customer_id}'s; "
                        f"`workbench customers show {customer_id}` lists its tracks"
                    )
                if set(tracks) == set(mine):
                    raise WorkbenchError(f"that is every track of {customer_id}; nothing to split")
                new_id = _allocate(store)  # allocate_customer_ids would wait for our own lock
                moved = store.read_state("track_assignments")
                moved = moved[~moved["track_id"].isin(tracks)]
                add = pd.DataFrame(
                    {"track_id": tracks, "customer_id": new_id, "assigned_at": _now()}
                )
                store.write_state("track_assignments", pd.concat([moved, add], ignore_index=True))
            sep = store.read_state("customer_separations")
            add = pd.DataFrame(
                {"customer_a": [customer_id], "customer_b": [new_id], "created_at": [_now()]}
            )
            store.write_state("customer_separations", pd.concat([sep, add], ignore_index=True))
        refresh(store)
    return new_id


def _allocate(store: Store) -> str:
    """A new customer id while the state lock is already held."""
    meta = store.read_meta()
    n = int(meta.get("next_customer", 1))
    meta["next_customer"] = n + 1
    store.write_meta(meta)
    return f"C{n:05d}"


def forget(store: Store, customer_id: str) -> dict:
    """Erase a customer (right to erasure): embeddings, key images and their rows everywhere.

    Their tracks and face sightings are deleted from every event file (older runs
    too), key images are deleted, till records keep the sale but lose the customer
    id, and labels, merges and splits naming them are dropped. The id is never
    reused; the person is a new customer if seen again. Returns what was removed.
    """
    with store.writer_lock():
        with store.state_lock():
            _check(store, customer_id)
            merges = store.read_state("customer_merges")
            ids = {customer_id, *merges.loc[merges["into_id"] == customer_id, "customer_id"]}
            tracks = _all_tracks_of(store, ids)
            stats = {"customer_id": customer_id, "ids": sorted(ids), "tracks": len(tracks)}
            stats["sightings"] = _erase(store, "sightings", "track_id", set(tracks["track_id"]))
            _erase(store, "tracks", "track_id", set(tracks["track_id"]))
            stats["transactions_unlinked"] = _erase(
                store, "transactions", "customer_id", ids, nullify=True
            )
            images = 0
            for rel in tracks["snapshot"].dropna().unique():
                path = store.root / rel
                if path.exists():
                    path.unlink()
                    images += 1
            stats["key_images"] = images
            store.write_state("customer_merges", merges[~merges["customer_id"].isin(ids)])
            for name, cols in (
                ("customers", ["customer_id"]),
                ("track_assignments", ["customer_id"]),
                ("customer_separations", ["customer_a", "customer_b"]),
            ):
                t = store.read_state(name)
                keep = ~t[cols].isin(ids).any(axis=1)
                if name == "track_assignments":
                    keep &= ~t["track_id"].isin(set(tracks["track_id"]))
                store.write_state(name, t[keep])
        refresh(store)
    log.info("forgot %s: %s", customer_id, stats)
    return stats


def _all_tracks_of(store: Store, ids: set[str]) -> pd.DataFrame:
    """Tracks of these customers in every run on disk (not only the current ones)."""
    files = store.event_files("tracks")
    if not files:
        return pd.DataFrame(columns=["track_id", "snapshot"])
    rows = pd.concat(
        [
            pq.read_table(f, columns=["track_id", "customer_id", "snapshot"]).to_pandas()
            for f in files
        ]
    )
    moved = store.read_state("track_assignments").set_index("track_id")["customer_id"]
    owner = rows["track_id"].map(moved).fillna(rows["customer_id"])
    return rows[owner.isin(ids) | rows["track_id"].isin(moved[moved.isin(ids)].index)]


def _erase(store: Store, table: str, column: str, values: set[str], nullify: bool = False) -> int:
    """Drop (or null the column of) rows whose ``column`` is in ``values``, in every file."""
    if not values:
        return 0
    count = 0
    for path in store.event_files(table):
        data = pq.read_table(path)
        hit = pc.is_in(data[column], value_set=pa.array(sorted(values), pa.string()))
        n = pc.sum(hit).as_py() or 0
        if not n:
            continue
        count += n
        if nullify:
            idx = data.schema.get_field_index(column)
            data = data.set_column(
                idx,
                column,
                pc.if_else(hit, None, data[column]).cast(data.schema.field(column).type),
            )
        else:
            data = data.filter(pc.invert(hit))
        store.replace_event_file(path, data)  # journaled: derived tables see it
    return count
