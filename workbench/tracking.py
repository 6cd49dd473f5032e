"""Face tracking: link detections of the same face across frames.

A track is one person continuously in view. Detections are sparse (a few per second),
and a face walking past moves more than its own height between two of them, so box
overlap alone breaks a walk into fragments. A detection joins the track that overlaps
it most or whose predicted centre is closest: a track seen twice either kept its last
velocity (constant-velocity prediction, as SORT's Kalman filter) or stopped; a track
seen once may have moved at walking speed in any direction (up to ``max_speed`` face
heights per second). Sizes must agree (a face does not grow or shrink by half between detections).
Detections below ``start_score`` (a face seen poorly: small, blurred, turned) may extend a
track but never start one, so lowering the detector's threshold keeps a hard face tracked
without letting background clutter become tracks (ByteTrack's second association).
A track ends when it has not been seen for ``max_gap_s``, or at a scene cut. The
tracker keeps for each track the few best faces to embed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from workbench.detections import Detections, box_iou


@dataclass
class FaceTrack:
    id: int
    box: np.ndarray
    first_ts: datetime
    last_ts: datetime
    sightings: int = 0
    velocity: np.ndarray | None = None  # centre motion in pixels per second, once seen twice
    # (quality, embedding) of the best faces, best first; filled from ``chips`` when needed
    faces: list[tuple[float, np.ndarray]] = field(default_factory=list)
    # (quality, aligned face chip, embedding once computed) of the best faces so far, best first
    chips: list[tuple[float, np.ndarray, np.ndarray | None]] = field(default_factory=list)
    last_embed_ts: datetime | None = None
    best_quality: float = -1.0
    best_image: bytes | None = None  # JPEG of the best view, for the key image
    customer_id: str | None = None  # decided when the track ends
    previewed: int = 0  # good faces it had when last identified provisionally (0: never)


class FaceTracker:
    """``update(detections, ts) -> detections`` with ``tracker_id`` set; ended tracks via ``pop_ended``."""

    def __init__(
        self,
        max_gap_s: float = 1.5,
        min_iou: float = 0.1,
        max_center_shift: float = 0.8,
        max_speed: float = 10.0,
        max_size_ratio: float = 1.5,
        start_score: float = 0.0,
    ):
        self.max_gap_s = max_gap_s
        self.min_iou = min_iou
        self.max_center_shift = max_center_shift  # off the predicted centre, in face heights
        self.max_speed = max_speed  # face heights per second (a brisk walk is about 6)
        self.max_size_ratio = max_size_ratio
        self.start_score = start_score  # weaker detections only extend tracks
        self.active: dict[int, FaceTrack] = {}
        self._ended: list[FaceTrack] = []
        self._ids = itertools.count(1)

    def update(self, dets: Detections, ts: datetime) -> Detections:
        """Assign detections to tracks (as ByteTrack: confident ones first, then weak ones,
        which may only extend a track, never start one); returns the kept detections."""
        self._expire(ts)
        tracks = list(self.active.values())
        ids = np.full(len(dets), -1, np.int64)
        strong = dets.score >= self.start_score
        if tracks and len(dets):
            affinity = self._affinity(dets, tracks, ts)
            taken: set[int] = set()
            for rows in (strong, ~strong):
                masked = np.where(rows[:, None], affinity, -1.0)
                for flat in np.argsort(-masked, axis=None):
                    d, t = np.unravel_index(flat, masked.shape)
                    if masked[d, t] < 0:
                        break
                    if ids[d] < 0 and t not in taken:
                        ids[d] = tracks[t].id
                        taken.add(int(t))
        for i in range(len(dets)):
            if ids[i] < 0 and strong[i]:
                track = FaceTrack(next(self._ids), dets.xyxy[i], ts, ts)
                self.active[track.id] = track
                ids[i] = track.id
            if ids[i] < 0:
                continue
            track = self.active[int(ids[i])]
            dt = (ts - track.last_ts).total_seconds()
            if dt > 0:
                track.velocity = (_center(dets.xyxy[i]) - _center(track.box)) / dt
            track.box, track.last_ts = dets.xyxy[i].copy(), ts
            track.sightings += 1
        dets.tracker_id = ids
        return dets[ids >= 0]

    def _affinity(self, dets: Detections, tracks: list[FaceTrack], ts: datetime) -> np.ndarray:
        """(detections, tracks) -> higher is better; -1 where a pair cannot be the same face."""
        prev = np.stack([t.box for t in tracks])
        dt = np.array([(ts - t.last_ts).total_seconds() for t in tracks], np.float32)
        moving = np.array([t.velocity is not None for t in tracks])
        velocity = np.stack([np.zeros(2) if t.velocity is None else t.velocity for t in tracks])
        heights = np.maximum(dets.wh[:, 1:2], (prev[:, 3] - prev[:, 1])[None])
        # off the centre predicted if it kept moving, or if it stopped, whichever is closer
        off = (
            np.minimum(
                np.linalg.norm(dets.center[:, None] - _center(prev)[None], axis=2),
                np.linalg.norm(
                    dets.center[:, None] - (_center(prev) + velocity * dt[:, None])[None], axis=2
                ),
            )
            / heights
        )
        # a track seen once may have gone anywhere within walking reach
        reach = np.where(
            moving, self.max_center_shift, np.clip(self.max_speed * dt, self.max_center_shift, 3.0)
        )
        ratio = dets.wh[:, 1:2] / np.maximum(prev[:, 3] - prev[:, 1], 1e-6)[None]
        same_size = (ratio <= self.max_size_ratio) & (ratio >= 1 / self.max_size_ratio)
        iou = box_iou(dets.xyxy, prev)
        ok = same_size & ((iou >= self.min_iou) | (off <= reach[None]))
        return np.where(ok, iou + (1 - off / 4), -1.0)

    def _expire(self, ts: datetime) -> None:
        for tid in [
            t.id for t in self.active.values() if (ts - t.last_ts).total_seconds() > self.max_gap_s
        ]:
            self._ended.append(self.active.pop(tid))

    def end_all(self) -> None:
        """End every active track (scene cut or end of video)."""
        self._ended.extend(self.active.values())
        self.active.clear()

    def pop_ended(self) -> list[FaceTrack]:
        ended, self._ended = self._ended, []
        return ended


def _center(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[..., :2] + xyxy[..., 2:]) / 2
