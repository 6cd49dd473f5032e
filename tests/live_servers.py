"""Real network cameras for the live tests: an MJPEG-over-HTTP server and an RTSP server
(the ``rtsp`` package: RTSP/RTP in Python, H.264 encoded by PyAV), each serving frames of
a real clip and able to go away and come back on the same port."""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading
import time
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HAMILTON = SHARED / "face-recognition-ageitgey/examples/short_hamilton_clip.mp4"


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def clip_frames(n: int = 20, path: Path = HAMILTON) -> list[np.ndarray]:
    """The first ``n`` frames of a clip (BGR)."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < n:
        ok, image = cap.read()
        assert ok, f"{path} has fewer than {n} frames"
        out.append(image)
    cap.release()
    return out


def clip_jpegs(n: int = 20) -> list[bytes]:
    return [cv2.imencode(".jpg", image)[1].tobytes() for image in clip_frames(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MjpegServer:
    """An MJPEG-over-HTTP camera (multipart/x-mixed-replace) that can go away and come back."""

    def __init__(self, jpegs: list[bytes], fps: float = 20.0):
        self.jpegs, self.fps, self.port = jpegs, fps, 0
        self.alive = threading.Event()
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> int:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                while owner.alive.is_set():
                    jpeg = owner.jpegs[i % len(owner.jpegs)]
                    i += 1
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                    try:
                        self.wfile.write(head % len(jpeg) + jpeg + b"\r\n")
                    except OSError:
                        return
                    time.sleep(1 / owner.fps)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.alive.set()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.port

    def stop(self) -> None:
        self.alive.clear()  # open streams end
        self.server.shutdown()
        self.server.server_close()


class RtspServer:
    """An RTSP camera (H.264 over RTP) looping ``frames``; ``stop()`` ends its sessions."""

    def __init__(self, frames: list[np.ndarray], fps: float = 10.0):
        from PIL import Image

        self.images = [Image.fromarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)) for f in frames]
        self.fps, self.port = fps, free_port()
        self._source = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/live"

    def start(self) -> RtspServer:
        import rtsp

        self._source = rtsp.Source(self.url, fps=self.fps, frame_buffer=self.images)
        assert self._source.wait_ready(10), "the RTSP server did not start"
        return self

    def stop(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
