"""The video pipeline: the only module that wires stages together.

source -> frames at the detection rate -> face detection -> tracking -> quality ->
embeddings (a few best faces per track) -> identity per ended track -> store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from tqdm import tqdm

from workbench.config import Config
from workbench.detections import Detections
from workbench.errors import WorkbenchError
from workbench.faces import HogFaceDetector, describe, embed
from workbench.gating import DetectionPlan, detect_in
from workbench.identity import Gallery
from workbench.motion import MotionDetector
from workbench.pipeline_people import PeoplePipeline
from workbench.sources import Frame, FrameSource, open_source, prefetch
from workbench.store import Store
from workbench.tracking import FaceTrack, FaceTracker
from workbench.writer import EventObserver, RunWriter

log = logging.getLogger(__name__)

SCENE_CUT_CORRELATION = 0.5  # grey-histogram correlation below this between samples = a cut
MIN_EMBED_INTERVAL_S = 0.3  # embeddings of one track at least this far apart in time
# HOG detections scoring from this up to 0 (dlib's own threshold) only extend a face track:
# on the labelled group photos, -0.5 adds 5 false faces in 9 photos and -0.25 none, so weak
# detections are kept to follow a hard face, not to start one
WEAK_FACE_SCORE = -0.5


def _histogram(image: np.ndarray) -> np.ndarray:
    small = cv2.cvtColor(
        cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
    )
    hist = cv2.calcHist([small], [0], None, [32], [0, 256])
    return cv2.normalize(hist, hist).flatten()


class FacePipeline:
    """Per-camera face pipeline: ``process(frame)`` returns sightings; ended tracks go to ``on_track``."""

    def __init__(
        self,
        config: Config,
        camera: str,
        store: Store,
        gallery: Gallery,
        run_tag: str,
        stills: bool = False,
    ):
        self.cfg = config
        # still photos: each is its own view (a cut before every one), a face in one is enough
        self.stills = stills
        self.min_sightings = 1 if stills else config.detection.min_track_sightings
        self.camera = camera
        self.store = store
        self.gallery = gallery
        self.run_tag = run_tag
        self.detector = HogFaceDetector(config.detection.min_face_px, threshold=WEAK_FACE_SCORE)
        self.tracker = FaceTracker(config.detection.track_max_gap_s)
        gate = config.detection.motion_gating and not stills
        self.motion = MotionDetector(config.detection.motion_threshold) if gate else None
        self.plan = DetectionPlan(config.detection.min_face_px, config.detection.refresh_s)
        self._last_hist: np.ndarray | None = None
        self._recent: list[FaceTrack] = []  # identified tracks that may overlap later ones
        self.track_rows: list[dict] = []

    def process(self, frame: Frame) -> list[dict]:
        hist = _histogram(frame.image)
        if self.stills or (
            self._last_hist is not None
            and cv2.compareHist(self._last_hist, hist, cv2.HISTCMP_CORREL) < SCENE_CUT_CORRELATION
        ):
            self.tracker.end_all()
        self._last_hist = hist
        if self.motion is None:
            dets = self.detector.detect(frame.image)
        else:
            regions = self.plan.regions(
                frame.image.shape,
                frame.ts,
                self.motion.update(frame.image),
                list(self.tracker.active.values()),
            )
            dets = (
                Detections.empty()
                if regions is None
                else detect_in(self.detector, frame.image, regions)
            )
        dets = self.tracker.update(dets, frame.ts)
        rows = self._describe(frame, dets)
        self._finish(self.tracker.pop_ended())
        return rows

    def close(self) -> None:
        self.tracker.end_all()
        self._finish(self.tracker.pop_ended())

    def _describe(self, frame: Frame, dets: Detections) -> list[dict]:
        if not len(dets):
            return []
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        rec = self.cfg.recognition
        rows = []
        for face, tid in zip(describe(frame.image, rgb, dets), dets.tracker_id, strict=True):
            box, q = face.box, face.quality
            track = self.tracker.active[int(tid)]
            if q > track.best_quality:
                track.best_quality = q
                track.best_image = _key_image(frame.image, box)
            if q >= rec.min_face_quality and self._wants_embedding(track, q, frame.ts):
                track.faces.append((q, embed(rgb, face.shape)))
                track.faces.sort(key=lambda f: -f[0])
                del track.faces[rec.embeddings_per_track :]
                track.last_embed_ts = frame.ts
            x1, y1, x2, y2 = (float(v) for v in box)
            rows.append(
                {
                    "camera": self.camera,
                    "ts": frame.ts,
                    "frame": frame.index,
                    "track_id": f"{self.run_tag}-{tid}",
                    "x": x1,
                    "y": y1,
                    "w": x2 - x1,
                    "h": y2 - y1,
                    "score": face.score,
                    "quality": q,
                }
            )
        return rows

    def _concurrent(self, track: FaceTrack, live: list[FaceTrack]) -> set[str]:
        """Customers of other tracks in view together with this one for a while (not one instant:
        a single frame may show a poster, a mirror or a collage)."""
        return {
            t.customer_id
            for t in [*self._recent, *live]
            if t is not track
            and t.customer_id is not None
            and max(t.first_ts, track.first_ts) < min(t.last_ts, track.last_ts)
        }

    def _wants_embedding(self, track: FaceTrack, quality: float, ts: datetime) -> bool:
        if (
            track.last_embed_ts is not None
            and (ts - track.last_embed_ts).total_seconds() < MIN_EMBED_INTERVAL_S
        ):
            return False
        full = len(track.faces) >= self.cfg.recognition.embeddings_per_track
        return not full or quality > track.faces[-1][0]

    def _finish(self, tracks: list[FaceTrack]) -> None:
        rec = self.cfg.recognition
        # people in view at the same time as a track are not that track's person
        live = [*self.tracker.active.values(), *tracks]
        if live:
            horizon = min(t.first_ts for t in live) - timedelta(
                seconds=self.cfg.detection.track_max_gap_s
            )
            self._recent = [t for t in self._recent if t.last_ts >= horizon]
        for track in sorted(tracks, key=lambda t: -len(t.faces)):
            faces = track.faces if track.sightings >= self.min_sightings else []
            decision = self.gallery.decide(
                np.stack([f[1] for f in faces]) if faces else np.zeros((0, 128)),
                np.array([f[0] for f in faces], np.float32),
                rec.match_distance,
                lambda: self.store.allocate_customer_ids(1)[0],
                exclude=self._concurrent(track, live),
            )
            track.customer_id = decision.customer_id
            self._recent.append(track)
            customer, distance, mean = decision.customer_id, decision.distance, decision.pooled
            track_id = f"{self.run_tag}-{track.id}"
            snapshot = None
            if track.best_image is not None:
                day = track.first_ts.astimezone(
                    ZoneInfo(self.store.timezone(self.camera))
                ).strftime("%Y-%m-%d")
                snapshot = self.store.save_snapshot(
                    f"{self.camera}/{day}/{track_id}.jpg", track.best_image
                )
            self.track_rows.append(
                {
                    "camera": self.camera,
                    "track_id": track_id,
                    "start": track.first_ts,
                    "end": track.last_ts,
                    "customer_id": customer,
                    "sightings": track.sightings,
                    "embedded": len(track.faces),
                    "quality": track.best_quality,
                    "match_distance": distance,
                    "embedding": None if mean is None else mean.astype(np.float32).tolist(),
                    "snapshot": snapshot,
                }
            )


def _key_image(image: np.ndarray, box: np.ndarray) -> bytes:
    """A JPEG of the person around a face: the face box grown to show head and shoulders."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    fw, fh = x2 - x1, y2 - y1
    crop = image[
        int(max(0, y1 - fh)) : int(min(h, y2 + 1.5 * fh)),
        int(max(0, x1 - fw)) : int(min(w, x2 + fw)),
    ]
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else b""


@dataclass
class IngestResult:
    path: str
    run_id: str
    frames: int
    sightings: int
    tracks: int
    problems: list[str] = field(default_factory=list)


def source_key(camera: str, path: str | os.PathLike) -> str:
    """Identity of a recorded source: re-ingesting the same file for the same camera replaces it."""
    return f"file:{camera}:{Path(path).resolve()}"


def ingest_source(
    source: FrameSource,
    camera: str,
    store: Store,
    config: Config,
    gallery: Gallery,
    progress: bool = True,
    observers: Sequence[EventObserver] = (),
    kind: str = "video",
    key: str | None = None,
    flush_s: float = 2.0,
) -> IngestResult:
    """Run the face and people pipelines over one source and write its events as one run.

    Recorded files use the defaults. A live service passes ``kind="live"``, its own
    ``key`` (one per camera session), a short ``flush_s`` and the ``observers`` (alert
    rules, counters) that must see events as they happen.
    """
    step = max(1, round(source.fps / config.detection.detect_fps))
    key = key or source_key(camera, source.name)
    with RunWriter(
        store, key, camera, source.name, kind=kind, flush_s=flush_s, observers=observers
    ) as writer:
        pipe = FacePipeline(config, camera, store, gallery, writer.run_id[:8], stills=source.stills)
        people = PeoplePipeline(config, camera, writer.run_id[:8], enabled=not source.stills)
        result = IngestResult(source.name, writer.run_id, 0, 0, 0)
        bar = tqdm(
            total=source.frame_count,
            unit="frame",
            desc=Path(source.name).name,
            disable=not progress,
            smoothing=0.1,
        )
        try:
            for frame in prefetch(source.frames(step)):
                rows = pipe.process(frame)
                result.sightings += len(rows)
                writer.frames = frame.index + 1
                bar.update(frame.index + 1 - bar.n)
                _drain(pipe, writer, rows)
                for table, people_rows in people.process(frame).items():
                    writer.add(table, people_rows)
            pipe.close()
            _drain(pipe, writer, [])
            for table, people_rows in people.close().items():
                writer.add(table, people_rows)
            bar.update(max(0, (source.frame_count or 0) - bar.n))
        finally:
            bar.close()
            source.close()
        result.problems = list(source.problems)
        if source.problems:
            writer.message = "; ".join(source.problems)
            writer.finish(status="partial")
    result.frames = source.frame_count or writer.frames
    result.tracks = writer.rows_written["tracks"]
    return result


def _drain(pipe: FacePipeline, writer: RunWriter, rows: list[dict]) -> None:
    if rows:
        writer.add("sightings", rows)
    if pipe.track_rows:
        writer.add("tracks", pipe.track_rows)
        pipe.track_rows = []


def ingest(
    paths: list[str | os.PathLike],
    camera: str,
    store: Store,
    config: Config,
    start: datetime | None = None,
    progress: bool = True,
) -> list[IngestResult]:
    """Ingest recorded footage (files or image folders) for one camera, in order.

    ``start`` is the wall-clock time of the first frame of the first path; later
    paths start where the previous one ended. Without it, each file's own
    metadata (else its modification time) is used.
    """
    sources = [
        open_source(p) for p in paths
    ]  # fail early on a bad path, before anything is written
    results = []
    with store.writer_lock():
        gallery = Gallery.load(store, config.recognition.gallery_size)
        next_start = start
        for source in sources:
            if next_start is not None:
                source.start = next_start
            result = ingest_source(source, camera, store, config, gallery, progress)
            results.append(result)
            if start is not None:
                next_start = source.start + timedelta(seconds=result.frames / source.fps)
        if config.recognition.consolidate_after_ingest:
            from workbench.consolidate import consolidate_locked

            merged = consolidate_locked(store)["customers_merged"]
            if merged:
                log.info("consolidation merged %d customers", merged)
    return results


__all__ = ["FacePipeline", "IngestResult", "ingest", "ingest_source", "WorkbenchError"]
