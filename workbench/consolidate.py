"""Offline re-clustering of customers: merge the ones the online pass split.

The online pass decides each track once, in the order the footage came, so a
person first seen in a poor view may become two customers. Consolidation looks at
all identified tracks at once: agglomerative clustering of customers with average
linkage over their exemplar embeddings, merging while the closest pair is within
``recognition.consolidate_distance`` and nothing forbids it. An average over many
pairs spreads much less than one pair's distance: on the shared labelled sets, two
halves of one person's images averaged at most 0.52 apart and two different people
at least 0.71, so the default 0.6 sits in the middle of that gap (docs/identity.md).
That holds for good faces only: in group photos, faces of different people under 0.8
quality (small, blurred) were often 0.45-0.6 apart, so only tracks whose best face
reaches ``recognition.consolidate_min_quality`` take part; the others keep the ids
the online pass gave them.

The gap only holds for averages over several pairs: two customers with one good track
each are one pair, which spreads as much as any single comparison. So the distance
allowed shrinks with the number of exemplar pairs ``k`` behind an average, from
``consolidate_distance`` for many pairs down to the online ``match_distance`` (which
is calibrated on single pairs) for one: ``min(consolidate_distance, m - (m -
match_distance) / sqrt(k))``, where ``m`` = ``IMPOSTOR_MEDIAN`` is the typical distance
between two different people (an average's spread shrinks like ``1 / sqrt(k)``).

Forbidden (cannot-link):

* customers a person marked as different (``customers split``),
* customers in view together on one camera for a while (not a single frame,
  which may show a poster, a mirror or a collage),
* customers labelled with different names.

Merges are recorded like a person's merges (reason ``consolidate``), so the
views rewrite visits at once and ``customers split`` undoes any of them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from workbench.customers import _labels, _merge_locked, separated
from workbench.derived import refresh
from workbench.identity import pick_exemplars
from workbench.store import Store

log = logging.getLogger(__name__)

# median distance between faces of two different people on the labelled sets: 0.88 at
# full resolution, 0.85 with the faces shrunk to 37 px and shown at 60 px; the lower one
IMPOSTOR_MEDIAN = 0.85


def allowed_distance(pairs: np.ndarray, distance: float, match_distance: float) -> np.ndarray:
    """The largest average distance to merge at, for averages over ``pairs`` exemplar pairs."""
    shrink = (IMPOSTOR_MEDIAN - match_distance) / np.sqrt(np.maximum(pairs, 1))
    return np.minimum(distance, IMPOSTOR_MEDIAN - shrink)


def _co_occurring(tracks: pd.DataFrame) -> set[frozenset[str]]:
    """Pairs of customers whose tracks were in view together for a while on one camera."""
    pairs: set[frozenset[str]] = set()
    for _, cam in tracks.sort_values("start").groupby("camera"):
        open_: list[tuple[pd.Timestamp, str]] = []
        for start, end, cid in zip(cam["start"], cam["end"], cam["customer_id"], strict=True):
            open_ = [(e, c) for e, c in open_ if e > start]
            if end > start:
                pairs.update(frozenset((c, cid)) for _, c in open_ if c != cid)
            open_.append((end, cid))
    return pairs


def plan(store: Store, distance: float | None = None) -> list[tuple[str, list[str], float]]:
    """The merges consolidation would make: ``(into, merged ids, average distance)``."""
    cfg = store.config.recognition
    distance = cfg.consolidate_distance if distance is None else distance
    tracks = store.query(
        'SELECT track_id, camera, start, "end", customer_id, embedding, quality '
        "FROM tracks WHERE customer_id IS NOT NULL"
    )
    with_emb = tracks.dropna(subset=["embedding"])
    with_emb = with_emb[with_emb["quality"] >= cfg.consolidate_min_quality]
    ids = sorted(with_emb["customer_id"].unique())
    if len(ids) < 2:
        return []
    exemplars = []
    for cid in ids:
        rows = with_emb[with_emb["customer_id"] == cid]
        emb = np.stack(rows["embedding"].to_numpy()).astype(np.float32)
        exemplars.append(emb[pick_exemplars(emb, rows["quality"].to_numpy(), cfg.gallery_size)])
    index = {cid: i for i, cid in enumerate(ids)}
    n = len(ids)
    # sums of pairwise exemplar distances between clusters, in row blocks to bound memory
    owner = np.concatenate([np.full(len(e), k) for k, e in enumerate(exemplars)])
    flat = np.concatenate(exemplars)
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    sq = (flat.astype(np.float64) ** 2).sum(1)
    sums = np.zeros((n, n))
    for lo in range(0, len(flat), 1024):
        rows = flat[lo : lo + 1024].astype(np.float64)
        block = np.sqrt(np.maximum(sq[lo : lo + 1024, None] + sq[None] - 2 * rows @ flat.T, 0))
        np.add.at(sums, owner[lo : lo + 1024], np.add.reduceat(block, starts, axis=1))
    np.fill_diagonal(sums, 0)
    counts = np.array([len(e) for e in exemplars], np.float64)
    forbidden = np.zeros((n, n), bool)
    labels = _labels(store)
    merges = store.read_state("customer_merges").set_index("customer_id")["into_id"]
    cannot = separated(store) | _co_occurring(tracks)
    for pair in cannot:
        a, b = (merges.get(c, c) for c in sorted(pair))
        if a in index and b in index and a != b:
            forbidden[index[a], index[b]] = forbidden[index[b], index[a]] = True
    named = [c for c in ids if labels.get(c)]
    for a in named:
        for b in named:
            if labels[a] != labels[b]:
                forbidden[index[a], index[b]] = True
    members = {i: [i] for i in range(n)}
    active = np.ones(n, bool)
    result: dict[int, float] = {}
    while True:
        pairs = np.outer(counts, counts)
        avg = sums / pairs
        # how far beyond its own limit each pair is: merge the most convincing first
        excess = avg - allowed_distance(pairs, distance, cfg.match_distance)
        excess[forbidden | ~active[:, None] | ~active[None, :]] = np.inf
        np.fill_diagonal(excess, np.inf)
        i, j = np.unravel_index(np.argmin(excess), excess.shape)
        if not np.isfinite(excess[i, j]) or excess[i, j] > 0:
            break
        # keep the id that is labelled, else the older one
        if (labels.get(ids[j]) and not labels.get(ids[i])) or (
            not labels.get(ids[i]) and not labels.get(ids[j]) and ids[j] < ids[i]
        ):
            i, j = j, i
        result[j] = float(avg[i, j])
        sums[i, :] += sums[j, :]
        sums[:, i] = sums[i, :]
        counts[i] += counts[j]
        forbidden[i, :] |= forbidden[j, :]
        forbidden[:, i] = forbidden[i, :]
        members[i] += members.pop(j)
        active[j] = False
    out = []
    for root, group in members.items():
        if len(group) > 1:
            others = [ids[k] for k in group if k != root]
            out.append((ids[root], others, max(result[k] for k in group if k in result)))
    return out


def consolidate(store: Store, distance: float | None = None, dry_run: bool = False) -> dict:
    """Re-cluster all identified tracks and merge split customers (see module docstring)."""
    with store.writer_lock():
        return consolidate_locked(store, distance, dry_run)


def consolidate_locked(store: Store, distance: float | None = None, dry_run: bool = False):
    """``consolidate`` for a caller that already holds the writer lock (ingest)."""
    merges = plan(store, distance)
    if not dry_run and merges:
        with store.state_lock():
            for into, others, _ in merges:
                _merge_locked(store, into, others, "consolidate")
        refresh(store)  # derived tables follow, as after a merge by hand
    return {
        "merges": [{"into": i, "merged": o, "distance": round(d, 4)} for i, o, d in merges],
        "customers_merged": sum(len(o) for _, o, _ in merges),
        "dry_run": dry_run,
    }
