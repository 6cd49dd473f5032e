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

Two small or blurred faces embed closer to each other than two sharp ones, whether they
are one person or two, so a pair whose faces are both below ``low_quality_below`` must be
within the stricter ``low_quality_match_distance`` (``MatchRule``; calibrated on faces
scaled down to 35-45 px, docs/identity.md). A poor face against a good one is not held
to it: there the impostor distances do not move down.

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


@dataclass(frozen=True)
class MatchRule:
    """The largest distance that counts as the same person, for a pair of faces' qualities."""

    distance: float  # recognition.match_distance
    low_quality_distance: float | None = None  # None: the same for every quality
    low_quality_below: float = 0.0

    @classmethod
    def from_config(cls, rec) -> MatchRule:
        return cls(rec.match_distance, rec.low_quality_match_distance, rec.low_quality_below)

    def widened(self, factor: float) -> MatchRule:
        """The same rule with every distance ``factor`` times larger."""
        low = None if self.low_quality_distance is None else self.low_quality_distance * factor
        return MatchRule(self.distance * factor, low, self.low_quality_below)

    def limit(self, qa, qb) -> np.ndarray:
        """Elementwise for two arrays of face qualities (broadcast): the distance allowed."""
        low = min(self.distance, self.low_quality_distance or self.distance)
        better = np.maximum(np.asarray(qa, np.float32), np.asarray(qb, np.float32))
        return np.where(better < self.low_quality_below, low, self.distance)


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

    def _within(
        self, emb: np.ndarray, quality: np.ndarray, rule: MatchRule, exclude: set[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distances from each embedding to every allowed exemplar, inf where beyond the rule's
        limit for the two qualities; and the exemplars' customer ids."""
        allowed = ~np.isin(self.ids, list(exclude)) if exclude else np.ones(len(self.ids), bool)
        ex, ids = self.emb[allowed], self.ids[allowed]
        d = np.linalg.norm(emb[:, None, :] - ex[None, :, :], axis=2)
        d[d > rule.limit(quality[:, None], self.qual[allowed][None, :])] = np.inf
        return d, ids

    def decide(
        self,
        emb: np.ndarray,
        quality: np.ndarray,
        rule: MatchRule | float,
        new_id: Callable[[], str],
        exclude: Iterable[str] = (),
        enroll: bool = True,
    ) -> Decision:
        """Identify a track from its embedded faces (see the module docstring) and enroll it
        (unless ``enroll`` is false: a provisional decision while the track goes on).
        A bare number as ``rule`` is one distance for every quality."""
        rule = rule if isinstance(rule, MatchRule) else MatchRule(float(rule))
        emb = np.asarray(emb, np.float32).reshape(-1, 128)
        quality = np.asarray(quality, np.float32).reshape(-1)
        if not len(emb):
            return Decision(None, None, False, None)
        pooled = aggregate(emb, quality)
        exclude = set(exclude)
        votes: dict[str, float] = {}
        d, ids = self._within(emb, quality, rule, exclude)
        for k in range(len(emb) if d.shape[1] else 0):
            j = int(d[k].argmin())
            if np.isfinite(d[k, j]):
                votes[ids[j]] = votes.get(ids[j], 0.0) + float(quality[k])
        pooled_d, pids = self._within(pooled[None], quality.max(keepdims=True), rule, exclude)
        for cid in sorted(votes, key=lambda c: -votes[c]):
            dist = float(pooled_d[0, pids == cid].min())
            if np.isfinite(dist):
                if enroll:
                    self.enroll(cid, pooled[None], [float(quality.max())])
                return Decision(cid, dist, False, pooled)
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
