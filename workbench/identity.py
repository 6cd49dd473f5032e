"""Anonymous customer identity: the gallery of known faces and the decision per track.

Each customer keeps several representative embeddings: the pooled embeddings
of their best tracks. A track's identity is decided once, when it ends, from its
best faces pooled with weights by quality; when no customer is within
``match_distance`` the track is a new customer (open-set matching).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from workbench.store import Store

log = logging.getLogger(__name__)

NEAR_DUPLICATE = 0.2  # a new exemplar closer than this to a kept one adds nothing


def aggregate(emb: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """A track's faces pooled into one embedding: their mean weighted by face quality."""
    emb = np.asarray(emb, np.float32).reshape(-1, 128)
    w = np.asarray(quality, np.float64).reshape(-1) + 1e-6
    return ((emb * w[:, None]).sum(0) / w.sum()).astype(np.float32)


class Gallery:
    def __init__(self, customer_ids=(), embeddings=None, qualities=()):
        self.ids = np.asarray(list(customer_ids), dtype=object)
        self.emb = (
            np.zeros((0, 128), np.float32)
            if embeddings is None
            else np.asarray(embeddings, np.float32).reshape(-1, 128)
        )
        self.qual = np.asarray(list(qualities), np.float32)
        self.dirty = False

    def __len__(self) -> int:
        return len(set(self.ids.tolist()))

    @classmethod
    def load(cls, store: Store) -> Gallery:
        df = store.read_state("gallery")
        if df.empty:
            return cls()
        return cls(df["customer_id"], np.stack(df["embedding"].to_numpy()), df["quality"])

    def save(self, store: Store) -> None:
        now = datetime.now(UTC)
        store.write_state(
            "gallery",
            pd.DataFrame(
                {
                    "customer_id": self.ids.astype(str),
                    "embedding": list(self.emb),
                    "quality": self.qual,
                    "added_at": [now] * len(self.ids),
                }
            ),
        )
        self.dirty = False

    def nearest(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each embedding, the closest customer and the distance to their closest exemplar."""
        emb = np.asarray(emb, np.float32).reshape(-1, 128)
        if not len(self.ids):
            return np.full(len(emb), None, object), np.full(len(emb), np.inf, np.float32)
        d = np.linalg.norm(emb[:, None, :] - self.emb[None, :, :], axis=2)
        best = d.argmin(axis=1)
        return self.ids[best], d[np.arange(len(emb)), best]

    def identify(
        self, emb: np.ndarray, quality: np.ndarray, match_distance: float
    ) -> tuple[str | None, float]:
        """The customer a track's faces belong to, or ``None`` for a new face; plus the distance.

        The faces are pooled into one quality-weighted mean embedding (averaging
        cancels much of the noise of single frames), which is compared with every
        customer's exemplars.
        """
        query = aggregate(emb, quality)
        ids, dist = self.nearest(query)
        return (ids[0] if dist[0] <= match_distance else None), float(dist[0])

    def enroll(self, customer_id: str, emb: np.ndarray, quality: np.ndarray, keep: int) -> None:
        """Add a track's faces to a customer's exemplars, keeping the ``keep`` best distinct ones."""
        emb = np.asarray(emb, np.float32).reshape(-1, 128)
        mine = self.ids == customer_id
        cand_emb = np.concatenate([self.emb[mine], emb])
        cand_q = np.concatenate([self.qual[mine], np.asarray(quality, np.float32)])
        chosen: list[int] = []
        for i in np.argsort(-cand_q):
            if len(chosen) >= keep:
                break
            if (
                chosen
                and np.linalg.norm(cand_emb[chosen] - cand_emb[i], axis=1).min() < NEAR_DUPLICATE
            ):
                continue
            chosen.append(int(i))
        self.ids = np.concatenate([self.ids[~mine], np.full(len(chosen), customer_id, object)])
        self.emb = np.concatenate([self.emb[~mine], cand_emb[chosen]])
        self.qual = np.concatenate([self.qual[~mine], cand_q[chosen]])
        self.dirty = True
