"""Where and when to run the face detector: the part of the pipeline that makes it fast.

Face detection is the costly step (dlib's HOG takes half a second on a full 1080p frame).
Most CCTV frames show nobody, or the same people standing still, so for each sampled frame
``DetectionPlan.regions`` decides:

* nothing moved and nobody is tracked: no detection at all;
* otherwise detect only in the moving areas and around the tracked faces (each grown by a
  margin, overlapping areas merged), or in the whole frame when those cover most of it;
* tracked faces are followed at every sample, but moving areas are searched for new faces
  only every ``search_interval_s``: a face that comes in is found a moment later, and
  a busy scene (everything moving) is not searched whole at every sample;
* tracked faces that stand still while nothing else moves are looked at only every
  ``still_interval_s`` (instead of at every sample);
* every ``refresh_s`` the whole frame is searched anyway, for a person who was already
  there when the video started or who holds perfectly still.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from workbench.detections import Detections, box_iou
from workbench.tracking import FaceTrack

FULL_FRAME = 0.6  # regions covering more than this fraction of the frame: search it all
STILL_SPEED = 0.5  # face heights per second below which a tracked face counts as still


class DetectionPlan:
    def __init__(
        self,
        min_face_px: int,
        refresh_s: float = 10.0,
        still_interval_s: float = 1.0,
        search_interval_s: float = 0.0,
    ):
        self.min_face_px = min_face_px
        self.refresh_s = refresh_s
        self.still_interval_s = still_interval_s
        self.search_interval_s = search_interval_s
        self._last_full: datetime | None = None
        self._last_detect: datetime | None = None
        self._last_search: datetime | None = None

    def regions(
        self, shape: tuple[int, ...], ts: datetime, motion: np.ndarray, tracks: list[FaceTrack]
    ) -> np.ndarray | None:
        """Boxes to search (n, 4); the whole frame as one box; or None to skip this frame."""
        h, w = shape[:2]
        full = np.array([[0, 0, w, h]], np.float32)
        if self._last_full is None or (ts - self._last_full).total_seconds() >= self.refresh_s:
            self._last_full = ts
            return self._ran(ts, full)
        moving_tracks = [t for t in tracks if _speed(t) >= STILL_SPEED]
        if len(motion) and not self._search_due(ts):
            motion = motion[:0]  # new faces are looked for at the next search
        if not len(motion) and not tracks:
            return None
        if not len(motion) and not moving_tracks:
            since = (ts - self._last_detect).total_seconds() if self._last_detect else np.inf
            if since < self.still_interval_s:
                return None
        areas = [_grow(b, max(self.min_face_px, 0.25 * (b[3] - b[1]))) for b in motion]
        for t in tracks:
            dt = (ts - t.last_ts).total_seconds()
            box = t.box.copy()
            if t.velocity is not None:
                box += np.tile(t.velocity * dt, 2).astype(np.float32)
            areas.append(_grow(box, 1.5 * (box[3] - box[1])))
        merged = _merge(np.clip(np.array(areas, np.float32), 0, [w, h, w, h]))
        covered = ((merged[:, 2:] - merged[:, :2]).prod(axis=1)).sum() / (w * h)
        if len(motion):
            self._last_search = ts
        if covered > FULL_FRAME:
            return self._ran(ts, full)
        return self._ran(ts, merged)

    def _search_due(self, ts: datetime) -> bool:
        last = self._last_search
        return last is None or (ts - last).total_seconds() >= self.search_interval_s - 1e-6

    def _ran(self, ts: datetime, regions: np.ndarray) -> np.ndarray:
        self._last_detect = ts
        return regions


def _speed(track: FaceTrack) -> float:
    if track.velocity is None:
        return np.inf  # seen once: it may be on its way anywhere
    return float(np.linalg.norm(track.velocity)) / max(float(track.box[3] - track.box[1]), 1.0)


def _grow(box: np.ndarray, margin: float) -> np.ndarray:
    return np.array(
        [box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin], np.float32
    )


def _merge(boxes: np.ndarray) -> np.ndarray:
    """Union overlapping boxes until none overlap (a handful of boxes: quadratic is fine)."""
    boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = np.concatenate([np.minimum(a[:2], b[:2]), np.maximum(a[2:], b[2:])])
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return np.array(boxes, np.float32).reshape(-1, 4)


def detect_in(detector, image: np.ndarray, regions: np.ndarray) -> Detections:
    """Run ``detector`` on each region of ``image``; boxes back in frame pixels, duplicates
    (the same face found from two regions) removed."""
    found = []
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in regions.astype(int):
        if x1 <= 0 and y1 <= 0 and x2 >= w and y2 >= h:
            found.append(detector.detect(image))
            continue
        dets = detector.detect(image[y1:y2, x1:x2])
        if len(dets):
            dets.xyxy = dets.xyxy + np.array([x1, y1, x1, y1], np.float32)
            found.append(dets)
    if not found:
        return Detections.empty()
    dets = Detections(
        np.concatenate([d.xyxy for d in found]), np.concatenate([d.score for d in found])
    )
    keep: list[int] = []
    for i in np.argsort(-dets.score):
        if not keep or box_iou(dets.xyxy[i : i + 1], dets.xyxy[keep]).max() < 0.5:
            keep.append(int(i))
    return dets[np.array(keep, np.int64)]
