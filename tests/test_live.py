"""Live sources and `workbench live`: reconnecting streams, real-rate files, clean SIGTERM.

Real transports only: an MJPEG HTTP server started here (OpenCV's FFmpeg reads it as an IP
camera would), and `workbench live` as a separate process killed with SIGTERM.
"""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from live_servers import HAMILTON, SHARED, MjpegServer, clip_jpegs, wait_until

from workbench.errors import SourceError
from workbench.live_sources import RealtimeFileSource, StreamSource, open_live_source
from workbench.store import Store

WALKING = SHARED / "intel-sample-videos/one-by-one-person-detection.mp4"
needs_data = pytest.mark.skipif(
    not HAMILTON.exists() or not WALKING.exists(),
    reason="needs ../shared/data (real footage); absent in a user's clone",
)
WORKBENCH = str(Path(sys.executable).parent / "workbench")


@needs_data
def test_stream_reconnects_with_backoff_and_keeps_the_session():
    server = MjpegServer(clip_jpegs())
    port = server.start()
    src = StreamSource(f"http://127.0.0.1:{port}/stream.mjpg").start_capture()
    got: list[int] = []
    consumer = threading.Thread(target=lambda: got.extend(f.index for f in src.frames(1)))
    consumer.start()
    try:
        wait_until(lambda: len(got) >= 10, 20, "frames from the MJPEG camera")
        assert src.online()
        server.stop()
        wait_until(lambda: src.status == "offline", 10, "the camera to go offline")
        before = len(got)
        time.sleep(4)  # down for 4 s: retries after 0.5, 1, 2 s (then 4 s), not hundreds
        assert 2 <= src.reconnects <= 5, src.reconnects
        assert len(got) == before and not src.online()
        server.start()  # back on the same port
        wait_until(lambda: len(got) >= before + 10, 20, "frames after the camera came back")
        assert src.online() and consumer.is_alive()  # one session across the outage
        assert got == sorted(got) and len(set(got)) == len(got)  # newest frames, in order
    finally:
        src.stop()
        server.alive.clear()
        consumer.join(5)
    assert not consumer.is_alive()  # stop() ends the session


@needs_data
def test_realtime_file_keeps_only_the_newest_frame():
    src = RealtimeFileSource(HAMILTON).start_capture()
    frames = []
    start = time.monotonic()
    for frame in src.frames(step=3):  # about 10 frames a second of 30
        frames.append(frame)
        time.sleep(0.25)  # a pipeline slower than the camera
    took = time.monotonic() - start
    assert 8.5 < took < 14  # 9.2 s of video take their real time, whatever the consumer does
    assert src.status == "ended" and src.captured >= 100  # of 275 (a busy machine skips some)
    assert src.dropped > 0 and len(frames) < 45  # the slow consumer skipped frames...
    gaps = [(b.ts - a.ts).total_seconds() for a, b in zip(frames, frames[1:])]
    assert max(gaps) < 1.0  # ...but always got the newest one, never a backlog


def test_open_live_source_names_what_it_accepts(tmp_path):
    with pytest.raises(SourceError, match="not a camera index"):
        open_live_source("nope.mp4")
    with pytest.raises(SourceError, match="folder of images"):
        open_live_source(str(tmp_path))
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(SourceError, match="cannot decode"):
        open_live_source(str(tmp_path / "bad.mp4"))


def _reader(proc: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _counts(text: str) -> dict[str, int]:
    return {t: int(n) for t, n in re.findall(r"(\w+) (\d+)", text.split("written:")[1])}


@needs_data
def test_live_sigterm_loses_nothing_reported_as_written(tmp_path):
    cfg = tmp_path / "workbench.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "store": "store",
                "timezone": "UTC",
                "cameras": [{"id": "door", "source": str(WALKING)}],
            }
        )
    )
    proc = subprocess.Popen(
        [WORKBENCH, "--config", str(cfg), "live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    lines = _reader(proc)
    store = Store(tmp_path / "store")
    reported: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 120

        def someone_counted() -> bool:  # the clip's first walker is in view from ~14 s
            if "occupancy" not in reported:
                return False
            return store.query("SELECT max(people_max) AS n FROM occupancy")["n"].iloc[0] >= 1

        while not someone_counted():
            line = lines.get(timeout=max(1, deadline - time.monotonic()))
            assert line is not None, proc.stderr.read()
            if line.startswith("door:") and "written:" in line and "nothing yet" not in line:
                reported = _counts(line)
                # what the service reports as written is visible to a reader at once
                for table, n in reported.items():
                    seen = store.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0]
                    assert seen >= n, (table, seen, n)
        proc.send_signal(signal.SIGTERM)
        out = []
        while (line := lines.get(timeout=90)) is not None:
            out.append(line)
        assert proc.wait(30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    closed = [line for line in out if re.match(r"door: run \w+ closed", line)]
    assert len(closed) == 1, out
    run_id = closed[0].split()[2]
    final = _counts(closed[0])
    for table, n in reported.items():
        assert final[table] >= n  # nothing reported earlier went missing
    for table, n in final.items():
        in_store = store.query(f"SELECT count(*) AS n FROM {table} WHERE run_id = ?", [run_id])
        assert in_store["n"].iloc[0] == n, table
    assert final["person_tracks"] >= 1  # the people counted: ended, or in view and closed
    run = store.query("SELECT * FROM runs WHERE run_id = ?", [run_id]).iloc[0]
    assert run["kind"] == "live" and run["status"] == "complete"
    assert run["finished_at"] is not None and run["frames"] > 0
    frames = int(re.search(r"(\d+) frames", closed[0]).group(1))
    assert frames < 700  # stopped mid-clip (1394 frames), not at the end of the file
    health = store.query("SELECT * FROM camera_health WHERE camera = 'door' ORDER BY ts")
    assert len(health) >= 2 and health["fps_in"].max() > 2  # of 10 (a busy machine skips some)
    assert health["status"].iloc[-1] == "ended"
