"""Anonymous customer identity: the gallery of known faces and the decision per track.

A track (one person continuously in view) is identified once, when it ends:

1. each of its embedded faces votes for the customer whose nearest exemplar is
   within ``match_distance``, with the face's quality as the weight;
2. the customer with the most weight is accepted if the track's pooled embedding
   (the quality-weighted mean of its faces, which cancels much single-frame noise)
   is also within ``match_distance`` of that customer's exemplars;
3. otherwise the track is a new customer (open-set matching).

The pooled embedding only confirms; it never nominates a customer no single face is
near. ``match_distance`` is calibrated on single faces, and averaging pulls any two
tracks closer, of one person or of two, so two look-alikes can have pooled embeddings
within the threshold while none of their faces is.

Customers seen at the same time on the same camera are different people, so they
are excluded from the vote. The gallery is not stored separately: each customer's
exemplars are the pooled embeddings of their best, mutually distinct tracks, read
from the store's ``tracks`` view, so merges, splits and erasure change it at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

NEAR_DUPLICATE = 0.2  # a new exemplar closer than this to a kept one adds nothing


def aggregate(emb: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """A track's faces pooled into one embedding: their mean weighted by face quality."""
    emb = np.asarray(emb, np.float32).reshape(-1, 128)
    w = np.asarray(quality, np.float64).reshape(-1) + 1e-6
    return ((emb * w[:, None]).sum(0) / w.sum()).astype(np.float32)


def pick_exemplars(emb: np.ndarray, quality: np.ndarray, keep: int) -> list[int]:
    """Indices of the ``keep`` best embeddings by quality, skipping near-duplicates."""
    chosen: list[int] = []
    for i in np.argsort(-np.asarray(quality), kind="stable"):
        if len(chosen) >= keep:
            break
        if chosen and np.linalg.norm(emb[chosen] - emb[i], axis=1).min() < NEAR_DUPLICATE:
            continue
        chosen.append(int(i))
    return chosen


@dataclass
class Decision:
    customer_id: str | None  # None: not identifiable (no good face)
    distance: float | None  # pooled distance to the matched customer (None when new)
    is_new: bool
    pooled: np.ndarray | None


class Gallery:
    """Each customer's exemplar embeddings, and the open-set decision for a track."""

    def __init__(self, keep: int = 10):
        self.keep = keep
        self.ids = np.zeros(0, dtype=object)
        self.emb = np.zeros((0, 128), np.float32)
        self.qual = np.zeros(0, np.float32)

    def __len__(self) -> int:
        return len(set(self.ids.tolist()))

    @classmethod
    def from_tracks(cls, tracks: pd.DataFrame, keep: int) -> Gallery:
        """Build from rows with ``customer_id``, ``embedding`` and ``quality`` (one per track)."""
        g = cls(keep)
        tracks = tracks.dropna(subset=["customer_id", "embedding"])
        for cid, rows in tracks.groupby("customer_id", sort=True):
            g.enroll(str(cid), np.stack(rows["embedding"].to_numpy()), rows["quality"].to_numpy())
        return g

    @classmethod
    def load(cls, store, keep: int) -> Gallery:
        """The gallery of a store: exemplars from its identified tracks."""
        return cls.from_tracks(
            store.query(
                "SELECT customer_id, embedding, quality FROM tracks "
                "WHERE customer_id IS NOT NULL AND embedding IS NOT NULL"
            ),
            keep,
        )

    def nearest(
        self, emb: np.ndarray, exclude: Iterable[str] = ()
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each embedding, the closest customer (not excluded) and the distance to them."""
        emb = np.asarray(emb, np.float32).reshape(-1, 128)
        allowed = ~np.isin(self.ids, list(exclude)) if exclude else np.ones(len(self.ids), bool)
        if not allowed.any():
            return np.full(len(emb), None, object), np.full(len(emb), np.inf, np.float32)
        ids, ex = self.ids[allowed], self.emb[allowed]
        d = np.linalg.norm(emb[:, None, :] - ex[None, :, :], axis=2)
        best = d.argmin(axis=1)
        return ids[best], d[np.arange(len(emb)), best]

    def distance_to(self, emb: np.ndarray, customer_id: str) -> float:
        mine = self.ids == customer_id
        return float(np.linalg.norm(self.emb[mine] - emb[None], axis=1).min())

    def decide(
        self,
        emb: np.ndarray,
        quality: np.ndarray,
        match_distance: float,
        new_id: Callable[[], str],
        exclude: Iterable[str] = (),
        enroll: bool = True,
    ) -> Decision:
        """Identify a track from its embedded faces (see the module docstring) and enroll it
        (unless ``enroll`` is false: a provisional decision while the track goes on)."""
        emb = np.asarray(emb, np.float32).reshape(-1, 128)
        quality = np.asarray(quality, np.float32).reshape(-1)
        if not len(emb):
            return Decision(None, None, False, None)
        pooled = aggregate(emb, quality)
        exclude = set(exclude)
        votes: dict[str, float] = {}
        ids, dist = self.nearest(emb, exclude)
        for cid, d, q in zip(ids, dist, quality, strict=True):
            if cid is not None and d <= match_distance:
                votes[cid] = votes.get(cid, 0.0) + float(q)
        for cid in sorted(votes, key=lambda c: -votes[c]):
            d = self.distance_to(pooled, cid)
            if d <= match_distance:
                if enroll:
                    self.enroll(cid, pooled[None], [float(quality.max())])
                return Decision(cid, d, False, pooled)
        cid = new_id()
        if enroll:
            self.enroll(cid, pooled[None], [float(quality.max())])
        return Decision(cid, None, True, pooled)

    def enroll(self, customer_id: str, emb: np.ndarray, quality) -> None:
        """Add embeddings to a customer's exemplars, keeping the best distinct ones."""
        emb = np.asarray(emb, np.float32).reshape(-1, 128)
        mine = self.ids == customer_id
        cand_emb = np.concatenate([self.emb[mine], emb])
        cand_q = np.concatenate([self.qual[mine], np.asarray(quality, np.float32)])
        chosen = pick_exemplars(cand_emb, cand_q, self.keep)
        self.ids = np.concatenate([self.ids[~mine], np.full(len(chosen), customer_id, object)])
        self.emb = np.concatenate([self.emb[~mine], cand_emb[chosen]])
        self.qual = np.concatenate([self.qual[~mine], cand_q[chosen]])
