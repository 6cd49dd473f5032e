"""The video pipeline: the only module that wires stages together.

source -> frames at the detection rate -> face detection -> tracking -> quality ->
embeddings (a few best faces per track) -> identity per ended track -> store.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from tqdm import tqdm

from workbench.config import Config
from workbench.detections import Detections
from workbench.errors import WorkbenchError
from workbench.face_detectors import make_face_detector
from workbench.faces import describe, embed_chips, face_chip, load_models
from workbench.gating import DetectionPlan, detect_in
from workbench.identity import Gallery, MatchRule
from workbench.motion import MOTION_HEIGHT, MotionDetector, shrink
from workbench.parts import prepare
from workbench.pipeline_people import PeoplePipeline
from workbench.sources import Frame, FrameSource, open_source, prefetch
from workbench.store import Store
from workbench.tracking import FaceTrack, FaceTracker
from workbench.writer import EventObserver, RunWriter

log = logging.getLogger(__name__)

SCENE_CUT_CORRELATION = 0.5  # grey-histogram correlation below this between samples = a cut
MIN_EMBED_INTERVAL_S = 0.3  # faces kept for a track at least this far apart in time
# a live track is identified provisionally (for alerts) once it has this many good faces
PREVIEW_FACES = 2
# ... and told new only if it is new even with every match distance this much larger:
# a face near someone known is not announced from two faces, but looked at again with
# all its faces (recognition.embeddings_per_track) or decided when the track ends
PREVIEW_MARGIN = 1.1
LOST_PREVIEW_S = 0.5  # a track not seen for this long is identified provisionally
# people counting may run this many sampled frames behind the face side (it catches up
# when faces are quick; frames are held meanwhile: 6 MB each at 1080p)
PEOPLE_BEHIND = 10
# ... but while decoding set the pace at least once in this many samples (2 s at 5 fps), the
# face side has time to spare: a light frame is counted there, in turn, not in a third busy
# thread that takes cores and the GIL from decoding (docs/benchmarks.md, people counting
# round 22: on the office video, wall ratio to counting off 1.251 -> 1.218)
PACE_SAMPLES = 10
# after this many samples in a row with nothing moving and nobody tracked, every second
# sample is skipped until something moves (someone who walks in is seen 0.2 s later at
# most at 5 fps; a scene where little happens costs half as much)
QUIET_SAMPLES = 5


def _histogram(grey: np.ndarray) -> np.ndarray:
    """Grey-level histogram of a frame, from its ``MOTION_HEIGHT``-row copy made grey."""
    hist = cv2.calcHist([grey], [0], None, [32], [0, 256])
    return cv2.normalize(hist, hist).flatten()


@dataclass
class Step:
    """What perception produced from some frames: the input of identity and the writer."""

    frame_index: int  # last frame seen
    sightings: list[dict] = field(default_factory=list)
    people: dict[str, list[dict]] = field(default_factory=dict)
    # face tracks that ended, in batches as they ended, each with the first sighting time
    # of the tracks still going then (identity keeps recent tracks for that long)
    ended: list[tuple[list[FaceTrack], datetime | None]] = field(default_factory=list)
    # copies of tracks still going that have just got PREVIEW_FACES good faces
    ready: list[FaceTrack] = field(default_factory=list)
    # on the last Step of a source only
    final: bool = False
    frame_count: int | None = None
    problems: list[str] = field(default_factory=list)


class FaceTracks:
    """Per-camera face perception: ``process(frame)`` finds, tracks, scores and embeds faces.

    It returns the frame's sightings and the tracks that ended; nothing here needs the
    store, so it runs as well in a worker process as in the ingesting one.
    """

    def __init__(self, config: Config, camera: str, run_tag: str, stills: bool = False):
        self.cfg = config
        # still photos: each is its own view (a cut before every one)
        self.stills = stills
        self.camera = camera
        self.run_tag = run_tag
        det = config.detection
        self.detector = make_face_detector(det.face_detector, det.min_face_px, weak=True)
        load_models()  # landmarks and descriptor: a missing model fails here, not mid-video
        self.tracker = FaceTracker(det.track_max_gap_s, start_score=self.detector.start_score)
        gate = det.motion_gating and not stills
        self.motion = MotionDetector(det.motion_threshold) if gate else None
        self.plan = DetectionPlan(
            det.min_face_px, det.refresh_s, search_interval_s=1 / det.search_fps
        )
        self._last_hist: np.ndarray | None = None
        self._glanced: tuple[int, np.ndarray | None] | None = None  # (frame index, moving)
        self.ready: list[FaceTrack] = []

    def pop_ready(self) -> list[FaceTrack]:
        """Copies of tracks that have just become identifiable while still in view."""
        ready, self.ready = self.ready, []
        return ready

    @staticmethod
    def prepare(frame: Frame) -> None:
        """Make the frame's ``MOTION_HEIGHT``-row copy (the decode thread does, ahead)."""
        frame.small = shrink(frame.image, MOTION_HEIGHT)

    def glance(self, frame: Frame) -> np.ndarray | None:
        """Check ``frame`` for a scene cut and motion, before ``process``: the boxes where
        something moved (frame pixels; None without motion gating), which people counting
        uses too rather than making its own motion picture."""
        if frame.small is None:
            self.prepare(frame)
        grey = cv2.cvtColor(frame.small, cv2.COLOR_BGR2GRAY)
        hist = _histogram(grey)
        if self.stills or (
            self._last_hist is not None
            and cv2.compareHist(self._last_hist, hist, cv2.HISTCMP_CORREL) < SCENE_CUT_CORRELATION
        ):
            self.tracker.end_all()
        self._last_hist = hist
        moving = None if self.motion is None else self.motion.update_grey(grey, frame.image.shape)
        self._glanced = (frame.index, moving)
        return moving

    def process(self, frame: Frame) -> tuple[list[dict], list[FaceTrack]]:
        """Find, track and describe the faces of ``frame`` (glanced at first if not yet)."""
        if self._glanced is None or self._glanced[0] != frame.index:
            self.glance(frame)
        moving = self._glanced[1]
        self._glanced = None
        searched = True
        if moving is None:
            dets = self.detector.detect(frame.image)
        else:
            regions = self.plan.regions(
                frame.image.shape, frame.ts, moving, list(self.tracker.active.values())
            )
            searched = regions is not None
            dets = (
                Detections.empty()
                if regions is None
                else detect_in(self.detector, frame.image, regions)
            )
        dets = self.tracker.update(dets, frame.ts)
        rows = self._describe(frame, dets)
        if searched:
            self._preview_lost(frame.ts)
        return rows, _finished(self.tracker.pop_ended())

    def close(self) -> list[FaceTrack]:
        self.tracker.end_all()
        return _finished(self.tracker.pop_ended())

    def idle(self) -> bool:
        """Whether no face is being tracked."""
        return not self.tracker.active

    def oldest_active(self) -> datetime | None:
        return min((t.first_ts for t in self.tracker.active.values()), default=None)

    def _describe(self, frame: Frame, dets: Detections) -> list[dict]:
        if not len(dets):
            return []
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        rec = self.cfg.recognition
        rows = []
        faces = describe(frame.image, rgb, dets, self.detector.confidence)
        for face, tid in zip(faces, dets.tracker_id, strict=True):
            box, q = face.box, face.quality
            track = self.tracker.active[int(tid)]
            if q > track.best_quality:
                track.best_quality = q
                track.best_image = _key_image(frame.image, box)
            if q >= rec.min_face_quality and self._wants_face(track, q, frame.ts):
                track.chips.append((q, face_chip(rgb, face.shape), None))
                track.chips.sort(key=lambda c: -c[0])
                del track.chips[rec.embeddings_per_track :]
                track.last_embed_ts = frame.ts
                full = rec.embeddings_per_track
                if not track.previewed and len(track.chips) >= PREVIEW_FACES:
                    self._preview(track)
                elif track.previewed and track.previewed < full <= len(track.chips):
                    self._preview(track)  # a second look, with all its faces
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

    def _preview(self, track: FaceTrack) -> None:
        track.previewed = len(track.chips)
        _embed(track)
        self.ready.append(replace(track, faces=list(track.faces), chips=[]))

    def _preview_lost(self, ts: datetime) -> None:
        """Tracks whose face has been looked for and not found for ``LOST_PREVIEW_S``
        (probably gone) are previewed from the good faces they have, not when they end
        ``track_max_gap_s`` later: a face seen too briefly for PREVIEW_FACES still raises
        its alert within seconds. (Not at the first miss: a face missed once and found
        again would be judged on one face.)"""
        enough = 1 if self.stills else self.cfg.detection.min_track_sightings
        for track in self.tracker.active.values():
            lost = (ts - track.last_ts).total_seconds() >= LOST_PREVIEW_S
            if not track.previewed and track.chips and lost and track.sightings >= enough:
                self._preview(track)

    def _wants_face(self, track: FaceTrack, quality: float, ts: datetime) -> bool:
        if (
            track.last_embed_ts is not None
            and (ts - track.last_embed_ts).total_seconds() < MIN_EMBED_INTERVAL_S
        ):
            return False
        full = len(track.chips) >= self.cfg.recognition.embeddings_per_track
        return not full or quality > track.chips[-1][0]


def _embed(track: FaceTrack) -> None:
    """Embed the kept face chips not embedded yet: ``track.faces`` from ``track.chips``.

    A track keeps chips of its best faces as it goes and is embedded only when its
    identity is wanted (a preview, its end), so faces later replaced by better ones
    cost a 0.6 ms chip, not a 25-35 ms descriptor.
    """
    todo = [c for _, c, e in track.chips if e is None]
    new = iter(embed_chips(todo) if todo else [])
    track.chips = [(q, c, next(new) if e is None else e) for q, c, e in track.chips]
    track.faces = [(q, e) for q, _, e in track.chips]


def _finished(tracks: list[FaceTrack]) -> list[FaceTrack]:
    """Ended tracks embedded, their chips dropped (only embeddings travel on)."""
    for track in tracks:
        _embed(track)
        track.chips = []
    return tracks


def perceive(source: FrameSource, config: Config, camera: str, run_tag: str) -> Iterator[Step]:
    """Run face and people perception over a source: one Step per frame sampled.

    Decoding runs in its own thread; frames between detection samples are grabbed, not
    decoded. People counting runs in a thread of its own, up to ``PEOPLE_BEHIND`` frames
    behind the face side (both spend their time in OpenCV, dlib and BLAS, which release the
    GIL), with the face side's motion boxes; a light frame is counted after the faces
    instead while decoding sets the pace (``PACE_SAMPLES``). While nothing moves and nobody is tracked (``QUIET_SAMPLES`` in a
    row), only every second sample is looked at. The last Step carries the source's
    frame count and problems.
    """
    people = PeoplePipeline(config, camera, run_tag, enabled=not source.stills)
    step = max(1, round(source.fps / config.detection.detect_fps))
    last = -1
    waited: deque[bool] = deque(maxlen=PACE_SAMPLES)  # frames not decoded yet when due
    try:
        faces = FaceTracks(config, camera, run_tag, stills=source.stills)
        frames = prefetch(source.frames(step), source.read_ahead, faces.prepare, waited)
        # decoding stops (the generator closed) before the source is closed, also on errors
        with ThreadPoolExecutor(1, thread_name_prefix="people") as counting, closing(frames):
            behind: deque[Future] = deque()  # frames being counted, oldest first
            quiet = 0  # samples in a row where nothing moved and nobody was tracked
            for frame in frames:
                last = frame.index
                if quiet >= QUIET_SAMPLES and quiet % 2:
                    quiet += 1
                    continue
                moving = faces.glance(frame)
                # counted here, after the faces, while decoding sets the pace and counting
                # is light; else in the counting thread (in order: here only once it is done)
                here = any(waited) and all(f.done() for f in behind) and people.light()
                if not here:
                    behind.append(counting.submit(people.process, frame, moving))
                rows, ended = faces.process(frame)
                counted: dict[str, list[dict]] = defaultdict(list)
                while behind and (behind[0].done() or len(behind) > PEOPLE_BEHIND):
                    for table, more in behind.popleft().result().items():
                        counted[table] += more
                if here:
                    for table, more in people.process(frame, moving).items():
                        counted[table] += more
                still = moving is not None and not len(moving)
                quiet = quiet + 1 if still and faces.idle() and people.idle() else 0
                yield Step(
                    frame.index,
                    rows,
                    counted,
                    [(ended, faces.oldest_active())] if ended else [],
                    faces.pop_ready(),
                )
            counted = defaultdict(list)
            for done in behind:
                for table, more in done.result().items():
                    counted[table] += more
        for table, more in people.close().items():
            counted[table] += more
        yield Step(
            last,
            people=counted,
            ended=[(faces.close(), None)],
            final=True,
            frame_count=source.frame_count,
            problems=list(source.problems),
        )
    finally:
        source.close()


class Identifier:
    """Identity for ended face tracks, in the order they ended: customer ids, key images, rows."""

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
        # in still photos a face seen once is enough; in video a glimpse is not identified
        self.min_sightings = 1 if stills else config.detection.min_track_sightings
        self.camera = camera
        self.store = store
        self.gallery = gallery
        self.run_tag = run_tag
        self._recent: list[FaceTrack] = []  # identified tracks that may overlap later ones
        self._provisional: dict[int, str] = {}  # new ids given to tracks still going
        self._previewed: set[int] = set()  # tracks still going given a provisional identity

    def preview(self, track: FaceTrack) -> dict | None:
        """A provisional identity for a track still in view (for alerts; nothing enrolled),
        or None: it has one already, or it looks new but is near someone known
        (``PREVIEW_MARGIN``), so it waits for more faces or its end.

        A new id given now is the one the track gets when it ends if it is still new then.
        """
        if track.id in self._previewed:
            return None
        emb = np.stack([f[1] for f in track.faces])
        quality = np.array([f[0] for f in track.faces], np.float32)
        rule = MatchRule.from_config(self.cfg.recognition)
        exclude = self._concurrent(track, [])
        decision = self.gallery.decide(emb, quality, rule, str, exclude=exclude, enroll=False)
        if decision.is_new:
            wider = rule.widened(PREVIEW_MARGIN)
            if not self.gallery.decide(emb, quality, wider, str, exclude, enroll=False).is_new:
                return None
            cid = self.store.allocate_customer_ids(1)[0]
            decision.customer_id = self._provisional[track.id] = cid
        self._previewed.add(track.id)
        return {
            "camera": self.camera,
            "track_id": f"{self.run_tag}-{track.id}",
            "start": track.first_ts,  # the face's first frame
            "ts": track.last_ts,  # now
            "customer_id": decision.customer_id,
            "is_new": decision.is_new,
            "match_distance": decision.distance,
            "snapshot": self._snapshot(track),
        }

    def identify(self, tracks: list[FaceTrack], oldest_active: datetime | None) -> list[dict]:
        """Track rows for ``tracks`` (ended together); ``oldest_active``: first sighting of
        the earliest track still going, which may yet overlap a recent one."""
        rec = self.cfg.recognition
        firsts = [t.first_ts for t in tracks] + ([oldest_active] if oldest_active else [])
        if firsts:
            horizon = min(firsts) - timedelta(seconds=self.cfg.detection.track_max_gap_s)
            self._recent = [t for t in self._recent if t.last_ts >= horizon]
        rows = []
        for track in sorted(tracks, key=lambda t: -len(t.faces)):
            faces = track.faces if track.sightings >= self.min_sightings else []
            provisional = self._provisional.pop(track.id, None)
            self._previewed.discard(track.id)
            decision = self.gallery.decide(
                np.stack([f[1] for f in faces]) if faces else np.zeros((0, 128)),
                np.array([f[0] for f in faces], np.float32),
                MatchRule.from_config(rec),
                lambda p=provisional: p or self.store.allocate_customer_ids(1)[0],
                exclude=self._concurrent(track, tracks),
            )
            track.customer_id = decision.customer_id
            self._recent.append(track)
            rows.append(self._row(track, decision))
        return rows

    def _concurrent(self, track: FaceTrack, batch: list[FaceTrack]) -> set[str]:
        """Customers of other tracks in view together with this one for a while (not one instant:
        a single frame may show a poster, a mirror or a collage)."""
        return {
            t.customer_id
            for t in [*self._recent, *batch]
            if t is not track
            and t.customer_id is not None
            and max(t.first_ts, track.first_ts) < min(t.last_ts, track.last_ts)
        }

    def _snapshot(self, track: FaceTrack) -> str | None:
        """Save the track's key image (a later, better one replaces it); its store path."""
        if track.best_image is None:
            return None
        day = track.first_ts.astimezone(ZoneInfo(self.store.timezone(self.camera)))
        return self.store.save_snapshot(
            f"{self.camera}/{day:%Y-%m-%d}/{self.run_tag}-{track.id}.jpg", track.best_image
        )

    def _row(self, track: FaceTrack, decision) -> dict:
        mean = decision.pooled
        return {
            "camera": self.camera,
            "track_id": f"{self.run_tag}-{track.id}",
            "start": track.first_ts,
            "end": track.last_ts,
            "customer_id": decision.customer_id,
            "sightings": track.sightings,
            "embedded": len(track.faces),
            "quality": track.best_quality,
            "match_distance": decision.distance,
            "embedding": None if mean is None else mean.astype(np.float32).tolist(),
            "snapshot": self._snapshot(track),
        }


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
    key = key or source_key(camera, source.name)
    writer = RunWriter(
        store, key, camera, source.name, kind=kind, flush_s=flush_s, observers=observers
    )
    steps = perceive(source, config, camera, writer.run_id[:8])
    return write_run(source, camera, steps, writer, gallery, config, progress)


def write_run(
    source: FrameSource,
    camera: str,
    steps: Iterable[Step],
    writer: RunWriter,
    gallery: Gallery,
    config: Config,
    progress: bool,
) -> IngestResult:
    """Identify the ended tracks of ``steps`` in order and write everything as one run."""
    identifier = Identifier(
        config, camera, writer.store, gallery, writer.run_id[:8], stills=source.stills
    )
    with writer:
        result = IngestResult(source.name, writer.run_id, 0, 0, 0)
        bar = tqdm(
            total=source.frame_count,
            unit="frame",
            desc=Path(source.name).name,
            disable=not progress,
            smoothing=0.1,
        )
        last = Step(-1)
        try:
            for last in steps:
                result.sightings += len(last.sightings)
                writer.frames = last.frame_index + 1
                bar.update(max(0, last.frame_index + 1 - bar.n))
                if last.sightings:
                    writer.add("sightings", last.sightings)
                if last.ready and writer.observers:
                    previews = [p for t in last.ready if (p := identifier.preview(t))]
                    if previews:
                        writer.notify("identified", previews)
                for tracks, oldest_active in last.ended:
                    if rows := identifier.identify(tracks, oldest_active):
                        writer.add("tracks", rows)
                for table, rows in last.people.items():
                    writer.add(table, rows)
                writer.flush_due()
            bar.update(max(0, (last.frame_count or 0) - bar.n))
        finally:
            bar.close()
        result.problems = list(last.problems)
        if result.problems:
            writer.message = "; ".join(result.problems)
            writer.finish(status="partial")
    result.frames = last.frame_count or writer.frames
    result.tracks = writer.rows_written["tracks"]
    return result


def ingest(
    paths: list[str | os.PathLike],
    camera: str,
    store: Store,
    config: Config,
    start: datetime | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> list[IngestResult]:
    """Ingest recorded footage (files or image folders) for one camera, in order.

    ``start`` is the wall-clock time of the first frame of the first path; later
    paths start where the previous one ends. Without it, each file's own
    metadata (else its modification time) is used.

    With several paths, up to ``workers`` processes (default: the cores available)
    perceive files at once; this process identifies their tracks in time order, so
    customer ids are the same as with one worker.
    """
    from workbench.workers import available_cores, perceive_in_workers

    sources = [open_source(p) for p in paths]  # fail early on a bad path, before writing
    if start is not None:
        for source in sources:
            source.start = start
            start += timedelta(seconds=(source.frame_count or 0) / source.fps)
    results = []
    with store.writer_lock():
        gallery = Gallery.load(store, config.recognition.gallery_size)
        writers = [
            RunWriter(store, source_key(camera, s.name), camera, s.name, kind="video")
            for s in sources
        ]
        tags = [w.run_id[:8] for w in writers]
        n = min(len(sources), workers or available_cores())
        if n > 1:
            all_steps = perceive_in_workers(sources, config, camera, tags, n)
        else:
            all_steps = (perceive(s, config, camera, t) for s, t in zip(sources, tags))
        for source, writer, steps in zip(sources, writers, all_steps):
            results.append(write_run(source, camera, steps, writer, gallery, config, progress))
        if config.recognition.consolidate_after_ingest:
            from workbench.consolidate import consolidate_locked

            merged = consolidate_locked(store)["customers_merged"]
            if merged:
                log.info("consolidation merged %d customers", merged)
        # what the new events change in the derived tables, worked out once here rather
        # than by every dashboard or report that opens the store next
        prepare(store)
    return results


__all__ = [
    "FaceTracks",
    "Identifier",
    "IngestResult",
    "ingest",
    "ingest_source",
    "perceive",
    "WorkbenchError",
]
