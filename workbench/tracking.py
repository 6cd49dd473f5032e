"""Face tracking: link detections of the same face across frames.

A track is one person continuously in view. Detections join the track whose last
box overlaps them most (or whose centre is close, for faces that moved between
sparse detections); a track ends when it has not been seen for ``max_gap_s``, or
at a scene cut. The tracker keeps for each track the few best faces to embed.
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
    # (quality, embedding) of the best faces, best first
    faces: list[tuple[float, np.ndarray]] = field(default_factory=list)
    last_embed_ts: datetime | None = None
    best_quality: float = -1.0
    best_image: bytes | None = None  # JPEG of the best view, for the key image
    customer_id: str | None = None  # decided when the track ends


class FaceTracker:
    """``update(detections, ts) -> detections`` with ``tracker_id`` set; ended tracks via ``pop_ended``."""

    def __init__(self, max_gap_s: float = 1.5, min_iou: float = 0.1, max_center_shift: float = 0.8):
        self.max_gap_s = max_gap_s
        self.min_iou = min_iou
        self.max_center_shift = max_center_shift  # in face heights
        self.active: dict[int, FaceTrack] = {}
        self._ended: list[FaceTrack] = []
        self._ids = itertools.count(1)

    def update(self, dets: Detections, ts: datetime) -> Detections:
        self._expire(ts)
        tracks = list(self.active.values())
        ids = np.full(len(dets), -1, np.int64)
        if tracks and len(dets):
            prev = np.stack([t.box for t in tracks])
            iou = box_iou(dets.xyxy, prev)
            shift = np.linalg.norm(
                dets.center[:, None] - ((prev[:, :2] + prev[:, 2:]) / 2)[None], axis=2
            )
            heights = np.maximum(dets.wh[:, 1:2], (prev[:, 3] - prev[:, 1])[None])
            near = shift / heights
            # higher is better; pairs that are neither overlapping nor near are ruled out
            affinity = np.where(
                (iou >= self.min_iou) | (near <= self.max_center_shift), iou + (1 - near / 4), -1
            )
            taken: set[int] = set()
            for flat in np.argsort(-affinity, axis=None):
                d, t = np.unravel_index(flat, affinity.shape)
                if affinity[d, t] < 0:
                    break
                if ids[d] < 0 and t not in taken:
                    ids[d] = tracks[t].id
                    taken.add(int(t))
        for i in range(len(dets)):
            if ids[i] < 0:
                track = FaceTrack(next(self._ids), dets.xyxy[i], ts, ts)
                self.active[track.id] = track
                ids[i] = track.id
            track = self.active[int(ids[i])]
            track.box, track.last_ts = dets.xyxy[i].copy(), ts
            track.sightings += 1
        dets.tracker_id = ids
        return dets

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
