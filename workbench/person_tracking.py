"""Person tracking: ByteTrack from roboflow's ``trackers`` over workbench's Detections."""

from __future__ import annotations

import numpy as np

from workbench.detections import Detections


class PersonTracker:
    """ByteTrack (roboflow ``trackers``) over our Detections; ``update`` returns confirmed tracks.

    An id survives ``max_gap_s`` unseen, so short occlusions keep it; for ``COAST_S``
    after a miss the track's predicted box is still reported (score 0), so a person
    hidden for a moment is still counted. A person found with a score of ``SURE`` or more
    gets an id at once (``trackers`` waits for a second detection in a row, which at 5 fps
    someone the detector finds every other frame never gets).
    """

    COAST_S = 0.3
    SURE = 0.75  # HOG's SVM margin 0.55; blobs (0.6 at most) still need a second sighting

    def __init__(self, fps: float, max_gap_s: float):
        from trackers import ByteTrackTracker

        self._last = Detections.empty()  # the tracks as of the last update
        self._size: dict[int, np.ndarray] = {}  # track id -> (w, h) when last detected
        # where the held tracks are and how long each has gone unseen: they change only in
        # ``update``, so between updates (frames the detector did not look at) they are kept
        self._held: tuple[np.ndarray, np.ndarray] | None = None
        self._bt = ByteTrackTracker(
            lost_track_buffer=max(1, round(max_gap_s * 30)),  # counted in 30 fps frames
            frame_rate=fps,
            track_activation_threshold=0.5,
            high_conf_det_threshold=0.5,
            minimum_consecutive_frames=2,
            minimum_iou_threshold=0.1,
        )

    def follow(
        self,
        detector,
        image: np.ndarray,
        ts: float,
        moving: np.ndarray | None = None,
        small: np.ndarray | None = None,
    ) -> Detections:
        """Detect people in ``image`` (searching around where tracks are and ``moving``
        boxes, if given; ``small``: its motion copy, if made) and track them; if the
        detector did not look, the tracks as they were."""
        boxes, unseen = self.held()
        dets = detector.detect(image, boxes, moving, unseen, small)
        return self._last if dets is None else self.update(dets, ts)

    def held(self) -> tuple[np.ndarray, np.ndarray]:
        """Where every held track (confirmed or not, seen or lost) was last estimated, and
        the seconds since each was last seen."""
        if self._held is None:
            tracks = self._bt.tracks
            boxes = [t.get_state_bbox() for t in tracks]
            self._held = (
                np.array(boxes, np.float32).reshape(-1, 4),
                np.array([t.time_since_update_seconds for t in tracks], np.float32),
            )
            for a in self._held:
                a.flags.writeable = False  # handed out at every frame until the next update
        return self._held

    def update(self, dets: Detections, ts: float) -> Detections:
        import supervision as sv

        if not len(dets) and not self._bt.tracks:  # nobody seen, nobody held: nothing to do
            self._last = Detections(dets.xyxy, dets.score, np.zeros(0, np.int64))
            return self._last
        self._held = None
        out = self._bt.update(sv.Detections(xyxy=dets.xyxy, confidence=dets.score), timestamp=ts)
        self._confirm_sure(out)
        keep = out.tracker_id >= 0
        xyxy = [out.xyxy[keep]]
        score = [np.asarray(out.confidence)[keep]]
        ids = [out.tracker_id[keep]]
        held = {t.tracker_id for t in self._bt.tracks}
        self._size = {i: s for i, s in self._size.items() if i in held}
        self._size.update(zip(ids[0].tolist(), xyxy[0][:, 2:] - xyxy[0][:, :2]))
        coasting = [
            t for t in self._bt.tracks
            if t.tracker_id >= 0 and 0 < t.time_since_update_seconds <= self.COAST_S
        ]  # fmt: skip
        if coasting:
            xyxy.append(np.array([self._coast_box(t) for t in coasting]))
            score.append(np.zeros(len(coasting)))
            ids.append(np.array([t.tracker_id for t in coasting]))
        self._last = Detections(
            np.concatenate(xyxy).astype(np.float32).reshape(-1, 4),
            np.concatenate(score).astype(np.float32),
            np.concatenate(ids).astype(np.int64),
        )
        return self._last

    def _coast_box(self, track) -> np.ndarray:
        """Where a track not seen this frame is predicted to be, as large as it was when
        last seen. (The filter moves each corner on its own: a track whose first two boxes
        shrank, HOG's whole person then their upper half, was predicted through zero
        height within 0.3 s and counted as a person of negative height.)"""
        box = track.get_state_bbox()
        size = self._size.get(track.tracker_id)
        if size is None:
            return box
        centre = (box[:2] + box[2:]) / 2
        return np.concatenate([centre - size / 2, centre + size / 2])

    def _confirm_sure(self, out) -> None:
        """Give an id now to each track this update started from a ``SURE`` detection."""
        sure = np.flatnonzero((out.tracker_id < 0) & (np.asarray(out.confidence) >= self.SURE))
        if not len(sure):
            return
        for t in self._bt.tracks:
            if t.tracker_id != -1 or t.number_of_successful_consecutive_updates != 1:
                continue  # held already, or not started by this update
            same = np.abs(out.xyxy[sure] - t.get_state_bbox()).max(1) < 1e-3
            if same.any():
                t.tracker_id = self._bt._allocate_tracker_id()  # as trackers does on confirming
                out.tracker_id[sure[same.argmax()]] = t.tracker_id
