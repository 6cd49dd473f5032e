"""Person tracking: ByteTrack from roboflow's ``trackers`` over workbench's Detections."""

from __future__ import annotations

import numpy as np

from workbench.detections import Detections


class PersonTracker:
    """ByteTrack (roboflow ``trackers``) over our Detections; ``update`` returns confirmed tracks.

    An id survives ``max_gap_s`` unseen, so short occlusions keep it; for ``COAST_S``
    after a miss the track's predicted box is still reported (score 0), so a person
    hidden for a moment is still counted.
    """

    COAST_S = 0.3

    def __init__(self, fps: float, max_gap_s: float):
        from trackers import ByteTrackTracker

        self._bt = ByteTrackTracker(
            lost_track_buffer=max(1, round(max_gap_s * 30)),  # counted in 30 fps frames
            frame_rate=fps,
            track_activation_threshold=0.5,
            high_conf_det_threshold=0.5,
            minimum_consecutive_frames=2,
            minimum_iou_threshold=0.1,
        )

    def follow(self, detector, image: np.ndarray, ts: float) -> Detections:
        """Detect people in ``image`` (searching around where tracks are) and track them."""
        return self.update(detector.detect(image, self.boxes()), ts)

    def boxes(self) -> np.ndarray:
        """Where every held track (confirmed or not, seen or lost) was last estimated."""
        if not self._bt.tracks:
            return np.zeros((0, 4), np.float32)
        return np.array([t.get_state_bbox() for t in self._bt.tracks], np.float32)

    def update(self, dets: Detections, ts: float) -> Detections:
        import supervision as sv

        out = self._bt.update(sv.Detections(xyxy=dets.xyxy, confidence=dets.score), timestamp=ts)
        keep = out.tracker_id >= 0
        xyxy = [out.xyxy[keep]]
        score = [np.asarray(out.confidence)[keep]]
        ids = [out.tracker_id[keep]]
        coasting = [
            t for t in self._bt.tracks
            if t.tracker_id >= 0 and 0 < t.time_since_update_seconds <= self.COAST_S
        ]  # fmt: skip
        if coasting:
            xyxy.append(np.array([t.get_state_bbox() for t in coasting]))
            score.append(np.zeros(len(coasting)))
            ids.append(np.array([t.tracker_id for t in coasting]))
        return Detections(
            np.concatenate(xyxy).astype(np.float32).reshape(-1, 4),
            np.concatenate(score).astype(np.float32),
            np.concatenate(ids).astype(np.int64),
        )
