"""Widgets of the live_capture notebook: pick a source, start/stop, watch it annotated.

The capture is the live service of ``workbench live`` (``workbench.live.LiveService``)
with one camera, so it writes to the store exactly as the service does while dashboards
read it. A display thread (stopped by Stop, by the end of a file, or by ``run_for``)
updates a ``widgets.Image`` a few times a second: the newest frame with face boxes,
track ids and customer ids (once a track is identified), and the camera's counting
lines and zones; counters come from the store (in the shop now, entries today, new
and returning customers) and the FPS from the source.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

import cv2
import duckdb
import numpy as np

from workbench import live_data
from workbench.config import Config, load_config
from workbench.errors import WorkbenchError
from workbench.live import CameraRunner, LiveService
from workbench.live_sources import RateMeter
from workbench.store import Store
from workbench.ui_common import guarded, jpeg, say, status_line

log = logging.getLogger(__name__)

FRAME_EVERY_S = 0.2  # picture updates per second: 5
COUNTERS_EVERY_S = 3.0  # store reads for the counters
BOX_WINDOW_S = 0.6  # face boxes this close in time to the picture are drawn on it
GREEN, YELLOW, CYAN = (60, 200, 60), (0, 215, 255), (255, 200, 0)


def annotate(image: np.ndarray, runner: CameraRunner, config: Config) -> np.ndarray:
    """A copy of ``image`` with lines, zones, and the face boxes of its moment."""
    out = image.copy()
    cam = next((c for c in config.cameras if c.id == runner.camera), None)
    for zone in cam.zones if cam else []:
        pts = np.asarray(zone.points, np.int32)
        cv2.polylines(out, [pts], True, YELLOW, 2)
        cv2.putText(out, zone.name, tuple(pts[0]), cv2.FONT_HERSHEY_SIMPLEX, 0.5, YELLOW, 1)
    for line in cam.lines if cam else []:
        a, b = (tuple(int(v) for v in p) for p in line.points)
        cv2.line(out, a, b, CYAN, 2)
        cv2.putText(out, line.name, a, cv2.FONT_HERSHEY_SIMPLEX, 0.5, CYAN, 1)
    frame = runner.source.last_frame
    who = {r["track_id"]: r["customer_id"] for r in runner.stats.customers}
    for row in list(runner.stats.recent):
        if frame is None or abs(row["ts"] - frame.ts) > timedelta(seconds=BOX_WINDOW_S):
            continue
        x, y, w, h = (int(row[k]) for k in ("x", "y", "w", "h"))
        cv2.rectangle(out, (x, y), (x + w, y + h), GREEN, 2)
        label = f"{row['track_id'].split('-')[-1]} {who.get(row['track_id'], '')}".strip()
        cv2.putText(out, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, GREEN, 1)
    return out


def counters(store: Store) -> dict:
    """In the shop now, entries (line crossings, else visits) today, new and returning."""
    now = live_data.current_customers(store)
    day = live_data.daily(store, live_data.today(store))
    s = day["summary"]
    return {
        "in the shop now": len(now["customers"]) or sum(now["people_in_view"].values()),
        "entries today": day["entries"] or s.get("visits") or 0,
        "new today": s.get("new_customers") or 0,
        "returning today": s.get("returning_customers") or 0,
    }


class LiveCapture:
    """The widget (``.widget``) and its controller: ``start()``, ``stop()``, ``run_for(s)``."""

    def __init__(self, store: Store, source: str = "", camera: str = "live"):
        import ipywidgets as widgets

        self.store = store
        self.source = widgets.Text(
            source, description="Source", placeholder="0 | rtsp://... | http://... | clip.mp4"
        )
        self.camera = widgets.Text(camera, description="Camera id")
        self.start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.image = widgets.Image(format="jpeg", layout=widgets.Layout(max_width="960px"))
        self.counters = widgets.HTML()
        self.fps = widgets.HTML()
        self.status = status_line()
        self.start_button.on_click(guarded(self.status)(lambda _: self.start()))
        self.stop_button.on_click(guarded(self.status)(lambda _: self.stop()))
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.source, self.camera, self.start_button, self.stop_button]),
                self.status,
                widgets.HBox([self.image, widgets.VBox([self.counters, self.fps])]),
            ]
        )
        self.service: LiveService | None = None
        self.runner: CameraRunner | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        """Start capturing from the chosen source (raises WorkbenchError, shown in the status)."""
        if self.service is not None:
            return "already running"
        spec, camera = self.source.value.strip(), self.camera.value.strip()
        if not spec:
            raise WorkbenchError("choose a source: a camera index, a stream URL or a video file")
        service = LiveService(self.store, self.store.config).__enter__()
        try:
            self.runner = service.add_camera(camera, spec)
        except BaseException:
            service.__exit__(None, None, None)
            raise
        self.service = service
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="live display", daemon=True)
        self._thread.start()
        self.start_button.disabled, self.stop_button.disabled = True, False
        return f"capturing {spec} as camera {camera!r} into {self.store.root}"

    def stop(self) -> str:
        """Stop the capture: the run is closed and everything written."""
        if self.service is None:
            return "not running"
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        return self._close()

    def _close(self) -> str:
        service, self.service = self.service, None
        if service is None:
            return "stopped"
        service.__exit__(None, None, None)
        self.start_button.disabled, self.stop_button.disabled = False, True
        done = self.runner.sessions
        frames = sum(s.frames for s in done)
        msg = f"stopped: {frames} frames, {sum(s.tracks for s in done)} face tracks written"
        if self.runner.error:
            msg += f"; error: {self.runner.error}"
        self._show_counters()  # with the tracks the close just wrote
        say(self.status, msg, error=bool(self.runner.error))
        return msg

    def _show_counters(self) -> None:
        try:
            figures = counters(self.store)
        except duckdb.Error as exc:  # a file replaced while read: the next update will do
            log.warning("counters not updated: %s", exc)
            return
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td><b>{v}</b></td></tr>" for k, v in figures.items()
        )
        self.counters.value = f"<table>{rows}</table>"

    def run_for(self, seconds: float) -> str:
        """Start, capture for ``seconds`` (or until the source ends), stop; for papermill."""
        self.start()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.service is not None and self.service.running:
            time.sleep(0.2)
        return self.stop()

    def _loop(self) -> None:
        meter, last_counts = RateMeter(), 0.0
        while not self._stop.wait(FRAME_EVERY_S):
            svc, runner = self.service, self.runner
            if svc is None or not svc.running:
                break
            try:
                svc.tick()
                frame = runner.source.last_frame
                if frame is not None:
                    self.image.value = jpeg(annotate(frame.image, runner, self.store.config), 960)
                fps = meter.rate(runner.source.delivered)
                self.fps.value = (
                    f"<b>{fps:.1f}</b> fps processed, {runner.source.dropped} frames dropped, "
                    f"status {runner.source.status}"
                )
                if time.monotonic() - last_counts >= COUNTERS_EVERY_S:
                    last_counts = time.monotonic()
                    self._show_counters()
            except Exception as exc:  # keep the picture going; say what failed
                log.exception("live display")
                say(self.status, f"display: {exc}", error=True)
        if not self._stop.is_set():  # the source ended by itself
            self._close()


def live_capture_ui(
    store: str | Path, source: str = "", camera: str = "live", config: str | None = None
) -> LiveCapture:
    """The live capture widget for the store at ``store`` (with the config file's cameras,
    lines and zones when ``config`` is given, or $WORKBENCH_CONFIG / ./workbench.yml)."""
    cfg = load_config(config)
    cfg.store = Path(store)
    return LiveCapture(Store(cfg.store, cfg), source, camera)
