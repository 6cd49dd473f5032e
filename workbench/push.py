"""``workbench push``: send a camera's frames to a central ``workbench serve`` over a WebSocket.

The camera is any live source (index, stream URL, or a video file played at its real
rate); its newest frames are sent as JPEG binary messages to
``ws://host:port/api/v1/ingest/<camera>`` with the camera's token. When the server is
unreachable the client retries after 0.5 s, 1 s, 2 s, ... up to 30 s; frames of the
outage are not queued (a live picture is only useful now). At the end of a file it
sends ``end``, so the server closes the run at once.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import cv2
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from workbench.errors import WorkbenchError
from workbench.live_sources import BACKOFF_FIRST_S, BACKOFF_MAX_S, open_live_source

log = logging.getLogger(__name__)

REFUSED = 1008  # policy violation: the server said no (token, camera); retrying cannot help


class PushError(WorkbenchError):
    """The server refused the camera, or the address is not a WebSocket URL."""


@dataclass
class PushStats:
    sent: int = 0
    bytes: int = 0
    connections: int = 0
    dropped: int = 0  # frames the source had that could not be sent in time


def ingest_url(server: str, camera: str) -> str:
    """``ws://host:port`` (or a full ingest URL) -> the camera's ingest URL."""
    server = server.rstrip("/")
    if not server.startswith(("ws://", "wss://")):
        raise PushError(f"{server!r} is not a WebSocket address; write ws://host:port")
    return server if "/api/v1/ingest/" in server else f"{server}/api/v1/ingest/{quote(camera)}"


def push(
    spec: int | str,
    server: str,
    camera: str,
    token: str,
    max_fps: float = 10.0,
    quality: int = 80,
    stop: threading.Event | None = None,
    echo: Callable[[str], None] = log.info,
) -> PushStats:
    """Push frames from ``spec`` until it ends or ``stop`` is set; returns what was sent."""
    url = ingest_url(server, camera)
    stop = stop or threading.Event()
    source = open_live_source(spec)
    stats = PushStats()
    delay = BACKOFF_FIRST_S
    try:
        while not (stop.is_set() or source.stopped):
            try:
                with connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    compression=None,
                    proxy=None,
                    open_timeout=5,
                ) as ws:
                    stats.connections += 1
                    echo(f"connected to {url}")
                    delay = BACKOFF_FIRST_S
                    step = max(1, round(source.fps / max_fps))
                    for frame in source.frames(step, idle_end_s=math.inf):
                        ok, jpeg = cv2.imencode(
                            ".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, quality]
                        )
                        ws.send(jpeg.tobytes())
                        stats.sent += 1
                        stats.bytes += len(jpeg)
                        if stop.is_set():
                            break
                    ws.send("end")  # finished on purpose: the server closes the run now
                    return stats
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == REFUSED:
                    raise PushError(
                        f"{url}: the server refused the camera: {exc.rcvd.reason}"
                    ) from None
                echo(f"connection to {url} lost; reconnecting in {delay:g} s")
            except InvalidURI as exc:
                raise PushError(f"{url}: {exc}") from None
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                echo(f"cannot reach {url} ({exc}); retrying in {delay:g} s")
            if stop.wait(delay):
                break
            delay = min(delay * 2, BACKOFF_MAX_S)
        return stats
    finally:
        stats.dropped = source.dropped
        source.stop()
