"""Network cameras end to end: an RTSP server and an MJPEG-over-HTTP server (real servers,
real clip frames) read by ``workbench.live_sources`` through OpenCV's FFmpeg, as IP cameras
are; the live service's events reach a separate reader within seconds; camera health
follows the camera going away and coming back; the manager dashboard redraws itself with
the new visits.

USB/V4L2 cameras (an index) go through the same ``StreamSource`` but no device exists on
the test machines, so they are not tested here.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from datetime import UTC, datetime

import pytest
from live_servers import HAMILTON, MjpegServer, RtspServer, clip_frames, clip_jpegs, wait_until

from workbench import live
from workbench.config import parse_config
from workbench.dashboard import ManagerDashboard
from workbench.live import LiveService
from workbench.live_sources import StreamSource
from workbench.store import Store

needs_data = pytest.mark.skipif(
    not HAMILTON.exists(), reason="needs ../shared/data (real footage); absent in a user's clone"
)
VISIBLE_S = 5.0  # the budget: a live event is visible to readers this soon after its frame


class Handed:
    """An observer of the live pipeline: when each sighting (by its frame's time) was handed
    to the writer."""

    def __init__(self):
        self.at: dict[datetime, datetime] = {}

    def observe(self, table: str, rows: list[dict]) -> None:
        if table == "sightings":
            now = datetime.now(UTC)
            for row in rows:
                self.at.setdefault(row["ts"], now)


@needs_data
def test_rtsp_camera_reconnects_with_backoff():
    server = RtspServer(clip_frames(20)).start()
    src = StreamSource(server.url).start_capture()
    got: list = []
    consumer = threading.Thread(target=lambda: got.extend(src.frames(1)))
    consumer.start()
    try:
        wait_until(lambda: len(got) >= 10, 30, "frames from the RTSP camera")
        assert got[0].image.shape == (360, 640, 3)  # decoded H.264 pictures of the clip
        assert src.online()
        server.stop()
        wait_until(lambda: src.status == "offline", 15, "the camera to go offline")
        before, reconnects = len(got), src.reconnects
        time.sleep(3)  # retries after 0.5, 1, 2 s: a few, not hundreds
        assert 1 <= src.reconnects - reconnects <= 4, src.reconnects
        assert len(got) == before and not src.online()
        server.start()  # back on the same port
        wait_until(lambda: len(got) >= before + 10, 30, "frames after the camera came back")
        assert src.online() and consumer.is_alive()  # one session across the outage
        indexes = [f.index for f in got]
        assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    finally:
        src.stop()
        server.stop()
        consumer.join(10)
    assert not consumer.is_alive()


def _first_seen(root, seen: dict, after: datetime | None = None) -> int:
    """Poll as a dashboard does (a new Store and DuckDB connection): note when each sighting
    (by its frame's time) first became visible; returns how many are from after ``after``."""
    rows = Store(root).query("SELECT ts FROM sightings WHERE camera = 'door'")
    now = datetime.now(UTC)
    for ts in rows["ts"]:
        seen.setdefault(ts.to_pydatetime(), now)
    return sum(1 for ts in seen if after is None or ts > after)


def _kpi(board: ManagerDashboard, key: str) -> int:
    """A key figure as the dashboard shows it now (0 for '-')."""
    found = re.search(rf"data-kpi='{key}'>.*?<div class='v'>([\d,]+|-)</div>", board.kpis.value)
    return int(found.group(1).replace(",", "")) if found and found.group(1) != "-" else 0


def _health(root) -> list[tuple[datetime, str]]:
    rows = Store(root).query(
        "SELECT ts, status FROM camera_health WHERE camera = 'door' ORDER BY ts"
    )
    return [(r.ts.to_pydatetime(), r.status) for r in rows.itertuples()]


@needs_data
def test_mjpeg_camera_events_reach_a_reader_within_seconds_and_health_follows_outage(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(live, "HEALTH_EVERY_S", 1.0)  # a health row a second, not every 5 s
    root = tmp_path / "store"
    cfg = parse_config(
        {
            "store": str(root),
            "timezone": "UTC",
            "people": {"enabled": False},
            "cameras": [{"id": "door"}],
        }
    )
    server = MjpegServer(clip_jpegs(40), fps=10)
    server.start()
    seen: dict[datetime, datetime] = {}
    handed = Handed()
    stop = threading.Event()
    with LiveService(Store(root, cfg), cfg, observers=[handed], alerts=False) as svc:
        runner = svc.add_camera("door", server.url)
        ticker = threading.Thread(target=svc.run, args=(stop,))
        ticker.start()
        board = None
        try:
            # faces of the stream become sightings another reader sees while it runs: within
            # the budget of the pipeline handing them to the writer (flushed every second),
            # and of the frame (this adds the pipeline's own time: CPU-bound, so loosely)
            wait_until(lambda: _first_seen(root, seen) >= 8, 60, "sightings")
            written = [(at - handed.at[ts]).total_seconds() for ts, at in seen.items()]
            assert statistics.median(written) <= VISIBLE_S, written
            assert max(written) <= 2 * VISIBLE_S, written  # a starved reader: slow polls
            captured = [(at - ts).total_seconds() for ts, at in seen.items()]
            assert max(captured) <= 4 * VISIBLE_S, captured

            board = ManagerDashboard(Store(root), poll_s=1.0)  # the manager's page, kept live
            board.start()

            server.stop()  # the camera goes away: health says so
            wait_until(lambda: "offline" in {s for _, s in _health(root)}, 20, "offline")
            down = max(ts for ts, s in _health(root) if s == "offline")
            assert runner.source.reconnects >= 1
            server.start()  # back on the same port: online again, new frames become events
            back = datetime.now(UTC)
            wait_until(
                lambda: any(ts > down and s == "online" for ts, s in _health(root)), 30, "online"
            )
            wait_until(lambda: _first_seen(root, seen, after=back), 30, "sightings after return")
            # tracks ended by the outage are visits now, and what came after it was drawn too:
            # the dashboard redrew itself (a track may have ended before the page opened)
            wait_until(
                lambda: board.renders >= 2 and _kpi(board, "visits") >= 1,
                45,
                "the dashboard to redraw, showing visits",
            )
        finally:
            if board is not None:
                board.stop()
            stop.set()
            ticker.join(30)
            server.stop()
    statuses = [s for _, s in _health(root)]
    first_off = statuses.index("offline")
    assert "online" in statuses[:first_off] and "online" in statuses[first_off:]
    assert statuses[-1] == "ended"
    runs = Store(root).query("SELECT status FROM runs WHERE kind = 'live'")
    assert set(runs["status"]) == {"complete"}  # every session (one or two) closed cleanly
