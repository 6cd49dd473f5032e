"""The live service: the pipeline on live cameras, continuously, until stopped.

One process runs every camera (``workbench live``, ``workbench serve`` for pushed
cameras, the live_capture notebook): a thread per camera runs
``pipeline.ingest_source`` over sessions of its live source (``workbench.live_sources``),
each session one run of the store (key ``live:<camera>:<session start>``) flushed every
second, so readers see events within seconds. The service holds the store's writer lock.

Identity: the cameras share one ``Gallery``, guarded by a lock, so a person walking from
the door camera to the till camera keeps one customer id at once; separate processes
would each hold their own gallery and only learn of each other's customers on restart.
The store stays the truth (the gallery is rebuilt from its tracks when a service starts).

Every ``HEALTH_EVERY_S`` seconds a ``camera_health`` row per camera is written (fps in
and out, latency from capture to face event, last frame time, dropped frames, status).
``stop()`` stops the sources; each pipeline then closes its tracks and flushes, and its
run is closed: nothing reported as written is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.face_detectors import make_face_detector
from workbench.faces import load_models
from workbench.identity import Gallery
from workbench.live_sources import LiveSource, PushedSource, RateMeter, open_live_source
from workbench.parts import prepare
from workbench.pipeline import ingest_source
from workbench.store import Store
from workbench.writer import EventObserver, RunWriter

log = logging.getLogger(__name__)

HEALTH_EVERY_S = 5.0
TICK_S = 1.0  # alert rules' clock
LIVE_FLUSH_S = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


class _Locked:
    """One object used by several camera threads: its calls take turns."""

    def __init__(self, target, lock: threading.Lock):
        self._target, self._lock = target, lock

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._lock:
                return attr(*args, **kwargs)

        return call


@dataclass
class CameraStats:
    """What one camera's pipeline has produced, seen by an observer as rows are added."""

    camera: str
    rows: dict[str, int] = field(default_factory=dict)  # rows produced per table
    latency_s: float | None = None  # capture -> face sighting, newest
    recent: list[dict] = field(default_factory=list)  # the last face sightings (display)
    customers: list[dict] = field(default_factory=list)  # the last identified tracks (display)

    IDENTITIES = ("identified", "tracks")  # provisional while in view, final when it ends

    def observe(self, table: str, rows: list[dict]) -> None:
        if not rows:
            return
        self.rows[table] = self.rows.get(table, 0) + len(rows)
        if table == "sightings":
            self.latency_s = (_now() - max(r["ts"] for r in rows)).total_seconds()
            self.recent = (self.recent + rows)[-50:]
        elif table in self.IDENTITIES:
            self.customers = (self.customers + [r for r in rows if r["customer_id"]])[-20:]


@dataclass
class SessionResult:
    camera: str
    run_id: str
    frames: int
    sightings: int
    tracks: int


class CameraRunner:
    """Runs the pipeline over one camera's sessions on a thread until the source stops."""

    def __init__(self, service: LiveService, camera: str, source: LiveSource):
        self.service, self.camera, self.source = service, camera, source
        self.stats = CameraStats(camera)
        self.sessions: list[SessionResult] = []
        self.error: str | None = None
        self._in, self._out = RateMeter(), RateMeter()
        self._dropped = 0
        self._online: bool | None = None
        self.key: str | None = None  # the current session's run key
        self.thread = threading.Thread(target=self._run, name=f"live {camera}", daemon=True)

    def _run(self) -> None:
        svc = self.service
        try:
            while not self.source.stopped:
                if not self.source.wait_frames(1.0):
                    continue
                self.key = f"live:{self.camera}:{_now().isoformat(timespec='seconds')}"
                session = self.source.session()
                if svc.alerts is not None:  # alerts without a face get a picture of the scene
                    session = svc.alerts.watch(session, self.camera)
                result = ingest_source(
                    session,
                    self.camera,
                    svc.store,
                    svc.config,
                    svc.gallery,
                    progress=False,
                    observers=[self.stats, *svc.observers],
                    kind="live",
                    key=self.key,
                    flush_s=LIVE_FLUSH_S,
                )
                self.sessions.append(
                    SessionResult(
                        self.camera, result.run_id, result.frames, result.sightings, result.tracks
                    )
                )
                log.info("%s: session %s closed", self.camera, result.run_id)
        except WorkbenchError as exc:
            self.error = str(exc)
            log.error("%s: %s", self.camera, exc)
        except Exception as exc:  # the other cameras go on
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("%s: pipeline failed", self.camera)
        finally:
            self.source.stop()

    def run_id(self) -> str | None:
        """The current (or last) session's run, once it has written something."""
        runs = self.service.store.read_state("runs")
        runs = runs[runs["source_key"] == self.key]
        return None if runs.empty else str(runs["run_id"].iloc[-1])

    def health(self, now: datetime) -> dict:
        src = self.source
        online = src.online()
        dropped, self._dropped = src.dropped - self._dropped, src.dropped
        return {
            "camera": self.camera,
            "ts": now,
            "fps_in": round(self._in.rate(src.captured), 2),
            "fps_out": round(self._out.rate(src.delivered), 2),
            "latency_s": self.stats.latency_s,
            "last_frame_ts": src.last_frame_ts,
            "dropped_frames": dropped,
            "status": "ended" if src.stopped else "online" if online else "offline",
        }


class LiveService:
    """Live cameras in one process. Use as a context manager (it holds the writer lock).

    ``observers`` see every camera's events; they are called from the camera threads one
    at a time. With ``alerts``, the alert rules (``workbench.alerts.AlertEngine``) see them
    too, get ``tick`` every second and ``camera_status`` on every change.
    """

    def __init__(
        self,
        store: Store,
        config: Config,
        observers: Sequence[EventObserver] = (),
        alerts: bool = True,
    ):
        self.store, self.config = store, config
        self._lock = threading.Lock()
        self.observers = [_Locked(o, self._lock) for o in observers]
        self._want_alerts = alerts
        self.alerts = None
        self.runners: dict[str, CameraRunner] = {}
        self.gallery = None
        self._lock_cm = None
        self._health: RunWriter | None = None
        self._last_health = 0.0
        self._last_tick = 0.0

    def __enter__(self) -> LiveService:
        self._lock_cm = self.store.writer_lock()
        self._lock_cm.__enter__()
        try:
            # models load now, not on a camera's first frames (a missing one fails here)
            det = self.config.detection
            make_face_detector(det.face_detector, det.min_face_px, weak=True)
            load_models()
            gallery = Gallery.load(self.store, self.config.recognition.gallery_size)
            self.gallery = _Locked(gallery, threading.Lock())
            if self._want_alerts:
                from workbench.alerts import AlertEngine

                self.alerts = AlertEngine(self.config, self.store)
                self.observers.append(self.alerts)
            started = _now().isoformat(timespec="seconds")
            self._health = RunWriter(
                self.store, f"health:{started}", "", "live service", kind="health", flush_s=60
            ).__enter__()
        except BaseException:
            self._lock_cm.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.stop()
        finally:
            self._lock_cm.__exit__(None, None, None)

    # ------------------------------------------------------------------ cameras
    def add_camera(self, camera: str, source: LiveSource | int | str) -> CameraRunner:
        """Start the pipeline on a camera (a LiveSource, or a spec for ``open_live_source``)."""
        if camera in self.runners and self.runners[camera].thread.is_alive():
            raise WorkbenchError(f"camera {camera!r} is already running")
        if not isinstance(source, LiveSource):
            source = open_live_source(source)
        runner = CameraRunner(self, camera, source)
        self.runners[camera] = runner
        runner.thread.start()
        return runner

    def pushed(self, camera: str) -> PushedSource:
        """The source that frames pushed for ``camera`` go to (its pipeline starts on first use)."""
        runner = self.runners.get(camera)
        if runner is None or not runner.thread.is_alive():
            runner = self.add_camera(camera, PushedSource(camera))
        if not isinstance(runner.source, PushedSource):
            raise WorkbenchError(f"camera {camera!r} is not a pushed camera (its source is local)")
        return runner.source

    @property
    def running(self) -> bool:
        return any(r.thread.is_alive() for r in self.runners.values())

    # ------------------------------------------------------------------ clock
    def tick(self) -> list[dict]:
        """Call about once a second: alert rules' clock, camera status, health rows.

        Returns the health rows written now (empty between writes)."""
        now, mono = _now(), time.monotonic()
        if self.alerts is not None and mono - self._last_tick >= TICK_S:
            self._last_tick = mono
            self.alerts.tick(now)
        if mono - self._last_health < HEALTH_EVERY_S:
            return []
        self._last_health = mono
        return self._write_health(now)

    def _write_health(self, now: datetime) -> list[dict]:
        rows = [r.health(now) for r in self.runners.values()]
        for runner, row in zip(self.runners.values(), rows, strict=True):
            online = row["status"] == "online"
            if self.alerts is not None and online != runner._online:
                self.alerts.camera_status(runner.camera, online, now)
            runner._online = online
        if rows:
            self._health.add("camera_health", rows)
            self._health.flush()
        return rows

    def run(
        self, stop: threading.Event, report: Callable[[list[dict]], None] | None = None
    ) -> None:
        """Tick until ``stop`` is set or every camera has ended."""
        while not stop.wait(0.25):
            rows = self.tick()
            if rows and report is not None:
                report(rows)
            if self.runners and not self.running:
                break

    def stop(self) -> None:
        """Stop every source, wait for each pipeline to close its run, close the health run."""
        for runner in self.runners.values():
            runner.source.stop()
        for runner in self.runners.values():
            runner.thread.join()
        if self._health is not None:
            self._write_health(_now())
            self._health.__exit__(None, None, None)
            self._health = None
        if self.alerts is not None:
            self.alerts.close()
            self.alerts = None
        prepare(self.store)  # what the session changed, recomputed once for the readers to come


def written_rows(store: Store, run_id: str) -> dict[str, int]:
    """Rows of a run that are in the store now, per table (from the Parquet footers)."""
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    # day folders, or a closed month's folder once compacted
    for path in store.events_dir.glob(f"*/*=*/camera=*/{run_id}-*.parquet"):
        table = path.parents[2].name
        counts[table] = counts.get(table, 0) + pq.ParquetFile(path).metadata.num_rows
    return counts
