"""Live frame sources: cameras, streams, a file played at its real rate, pushed frames.

Every live source captures on its own thread and keeps only the newest frame, so the
pipeline always works on the present and never lags further behind as time passes;
frames it had no time for are counted as dropped. A stream that drops reconnects with
exponential backoff, for as long as the service runs. ``open_live_source(spec)`` picks
the class from the spec: a camera index (``0``), a stream URL (``rtsp://``,
``http(s)://``, MJPEG too), ``push`` (a remote camera pushing JPEG frames to
``workbench serve``) or a video file (played at its real rate, for tests and demos).

A source serves *sessions* (``session()``: a FrameSource for one run of the pipeline).
A session ends when the source stops, a file ends, a pushing camera says it has finished,
or the camera has been offline for ``idle_end_s``: the run is then closed, so tracks in
progress are identified and written, and the service starts a new session when frames
come back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from workbench.errors import SourceError
from workbench.sources import Frame, FrameSource

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5  # first reconnect delay; doubles after each failure
BACKOFF_MAX_S = 30.0
OFFLINE_AFTER_S = 3.0  # no frame for this long: the camera is offline
IDLE_END_S = 10.0  # offline this long: the session (run) ends; a new one starts on return
STREAM_TIMEOUT_MS = 5000  # opening or reading a stream gives up after this long
URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")


def _now() -> datetime:
    return datetime.now(UTC)


class LiveSource(FrameSource):
    """A source fed by a producer (a capture thread or a WebSocket) through a newest-frame slot.

    Subclasses call ``_deliver(image)`` for every frame they capture and ``_ended()`` when
    no more will come. ``stop()`` ends everything for good.
    """

    live = True
    read_ahead = 1  # the pipeline decodes no further ahead: it works on the newest frame

    def __init__(self, name: str, fps: float = 25.0):
        super().__init__(name=name, start=_now(), fps=fps)
        self.status = "offline"  # online, offline, ended
        self.last_error = ""
        self.reconnects = 0
        self.captured = 0  # frames received from the camera
        self.delivered = 0  # frames handed to the pipeline
        self.dropped = 0  # wanted frames replaced by a newer one before the pipeline took them
        self.last_frame_ts: datetime | None = None
        self.last_frame: Frame | None = None  # newest frame handed to the pipeline (display)
        self._interval = 0.0  # seconds between wanted frames (from the pipeline's step)
        self._next_due = 0.0
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._finished = False  # no more frames will come (end of file)
        self._end_session = False  # a pushing camera said it is done
        self._last_mono = 0.0

    # ------------------------------------------------------------- producer side
    def _deliver(self, image: np.ndarray) -> None:
        now = time.monotonic()
        with self._cond:
            self.captured += 1
            self.last_frame_ts = _now()
            self._last_mono = now
            if self.status != "online":
                self.status = "online"
            if now < self._next_due:
                return  # between detection samples
            self._next_due = max(self._next_due + self._interval, now)
            if self._slot is not None:
                self.dropped += 1
            self._slot = Frame(self.captured - 1, self.last_frame_ts, image)
            if self.last_frame is None and image.ndim == 3:  # a picture before the pipeline's first
                self.last_frame = self._slot
            self._cond.notify_all()

    def _ended(self) -> None:
        with self._cond:
            self._finished = True
            self.status = "ended"
            self._cond.notify_all()

    def _set_offline(self, error: str = "") -> None:
        with self._cond:
            self.last_error = error or self.last_error
            if self.status == "online":
                self.status = "offline"
            self._cond.notify_all()

    # ------------------------------------------------------------- consumer side
    @property
    def stopped(self) -> bool:
        return self._stop.is_set() or self._finished

    def online(self) -> bool:
        """Frames are coming (the status is refreshed here: offline after OFFLINE_AFTER_S)."""
        with self._cond:
            if self.status == "online" and time.monotonic() - self._last_mono > OFFLINE_AFTER_S:
                self.status = "offline"
            return self.status == "online"

    def frames(self, step: int = 1, idle_end_s: float = IDLE_END_S) -> Iterator[Frame]:
        """The newest frame each time the pipeline asks, at most ``fps / step`` a second."""
        self._interval = max(1, int(step)) / self.fps
        while True:
            with self._cond:
                while self._slot is None:
                    if self._stop.is_set() or self._finished or self._end_session:
                        self._end_session = False
                        return
                    idle = time.monotonic() - (self._last_mono or time.monotonic())
                    if self._last_mono and idle > idle_end_s:
                        self._last_mono = 0.0  # the next session waits for new frames
                        return
                    self._cond.wait(0.2)
                frame, self._slot = self._slot, None
                self.delivered += 1
            frame = self._decode(frame)
            if frame is not None:
                self.last_frame = frame
                yield frame

    def _decode(self, frame: Frame) -> Frame | None:
        return frame

    def wait_frames(self, timeout: float) -> bool:
        """Wait until a frame is waiting (True) or the source stopped or timed out (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._slot is None and not self.stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
            return self._slot is not None

    def session(self) -> FrameSource:
        """A FrameSource for one run of the pipeline; closing it leaves this source running."""
        return _Session(self)

    def stop(self) -> None:
        """Stop capturing for good; sessions end after the frame in hand."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        self.stop()


class _Session(FrameSource):
    read_ahead = 1

    def __init__(self, source: LiveSource):
        super().__init__(name=source.name, start=_now(), fps=source.fps)
        self.source = source

    def frames(self, step: int = 1) -> Iterator[Frame]:
        return self.source.frames(step)


class _ThreadSource(LiveSource):
    """A LiveSource whose frames come from ``_capture()`` running on a daemon thread."""

    def start_capture(self) -> LiveSource:
        self._thread = threading.Thread(target=self._run, name=f"capture {self.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._capture()
        except Exception as exc:  # a capture thread must never die silently
            log.exception("%s: capture failed", self.name)
            self.last_error = str(exc)
        finally:
            self._ended()

    def _capture(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        super().stop()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=STREAM_TIMEOUT_MS / 1000 + 2)


class StreamSource(_ThreadSource):
    """A USB/V4L2 camera (an index) or a stream URL (RTSP, HTTP, MJPEG) read with OpenCV.

    A connection that fails or drops is retried after 0.5 s, 1 s, 2 s, ... up to 30 s,
    until ``stop()``; the delay goes back to 0.5 s once frames flow again.
    """

    def __init__(self, spec: int | str, fps: float = 25.0):
        super().__init__(str(spec), fps)
        self.spec = spec

    def _open(self) -> cv2.VideoCapture:
        if isinstance(self.spec, int):
            return cv2.VideoCapture(self.spec)
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
        ]
        return cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG, params)

    def _capture(self) -> None:
        delay = BACKOFF_FIRST_S
        while not self._stop.is_set():
            cap = self._open()
            if cap.isOpened():
                fps = cap.get(cv2.CAP_PROP_FPS)
                if fps and 1 <= fps <= 240:
                    self.fps = float(fps)
                while not self._stop.is_set():
                    ok, image = cap.read()
                    if not ok:
                        break
                    self._deliver(image)
                    delay = BACKOFF_FIRST_S
            cap.release()
            if self._stop.is_set():
                return
            self.reconnects += 1
            self._set_offline(f"cannot read {self.name}; retrying in {delay:g} s")
            log.warning("%s: no frames; reconnecting in %.1f s", self.name, delay)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, BACKOFF_MAX_S)


class RealtimeFileSource(_ThreadSource):
    """A video file played at its real rate, as if a camera were filming it now (tests, demos)."""

    def __init__(self, path: str | Path):
        path = Path(path)
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened() or not cap.grab():
            cap.release()
            raise SourceError(
                f"{path}: cannot decode this file as video; check it plays, or re-encode it to H.264 MP4"
            )
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = cap.get(cv2.CAP_PROP_FPS)
        super().__init__(str(path), float(fps) if fps and 1 <= fps <= 240 else 25.0)
        self._cap = cap

    def _capture(self) -> None:
        t0, n = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                # a camera does not wait: frames whose time has passed are skipped undecoded
                while (time.monotonic() - t0) * self.fps > n + 1:
                    if not self._cap.grab():
                        return
                    n += 1
                ok, image = self._cap.read()
                if not ok:
                    return
                wait = t0 + n / self.fps - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
                self._deliver(image)
                n += 1
        finally:
            self._cap.release()


class PushedSource(LiveSource):
    """Frames a remote camera pushes as JPEG over a WebSocket (``/api/v1/ingest/{camera}``).

    The endpoint calls ``push(jpeg)``; JPEGs are decoded on the pipeline's side, only
    those it has time for. ``end_session()``: the camera said it has finished.
    """

    def __init__(self, camera: str):
        super().__init__(f"push:{camera}", fps=25.0)
        self.connected = False

    def push(self, jpeg: bytes) -> None:
        self._deliver(np.frombuffer(jpeg, np.uint8))

    def set_connected(self, connected: bool) -> None:
        self.connected = connected
        if not connected:
            self._set_offline("the camera disconnected")

    def end_session(self) -> None:
        with self._cond:
            self._end_session = True
            self._cond.notify_all()

    def _decode(self, frame: Frame) -> Frame | None:
        image = cv2.imdecode(frame.image, cv2.IMREAD_COLOR)
        if image is None:
            self.problems.append(f"{self.name}: frame {frame.index} is not a JPEG; skipped")
            del self.problems[:-10]  # keep the latest few
            return None
        return Frame(frame.index, frame.ts, image)


class RateMeter:
    """Events per second over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 5.0):
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def rate(self, count: int) -> float:
        now = time.monotonic()
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        t0, c0 = self._samples[0]
        return (count - c0) / (now - t0) if now > t0 else 0.0


def open_live_source(spec: int | str) -> LiveSource:
    """A live source from a camera index, a stream URL, ``push``, or a video file (real rate).

    Capture starts at once (``push`` waits for its camera to connect to ``workbench serve``).
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return StreamSource(int(spec)).start_capture()
    spec = spec.strip()
    if spec == "push":
        raise SourceError(
            "source 'push' frames come from remote cameras through `workbench serve`; "
            "run `workbench serve` and `workbench push` on the camera's machine"
        )
    if spec.lower().startswith(URL_SCHEMES):
        return StreamSource(spec).start_capture()
    path = Path(spec).expanduser()
    if path.is_file():
        return RealtimeFileSource(path).start_capture()
    if path.is_dir():
        raise SourceError(
            f"{spec}: a folder of images cannot be played live; use `workbench ingest` for it"
        )
    raise SourceError(
        f"{spec!r} is not a camera index (0, 1, ...), a stream URL (rtsp://, http://, https://), "
        "'push' or an existing video file; check the camera's `source:`"
    )
