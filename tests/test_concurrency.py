"""A writer and readers at the same time, and a writer killed midway, with real footage."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from workbench.store import Store

CLIP = (
    Path(__file__).resolve().parents[2]
    / "shared/data/face-recognition-ageitgey/examples/short_hamilton_clip.mp4"
)
pytestmark = pytest.mark.skipif(
    not CLIP.exists(), reason="needs ../shared/data (real footage); absent in a user's clone"
)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """The clip five times over in one file (46 s): an ingest that lasts long enough to be
    read during and killed midway, however fast the 9 s clip alone is (1.5 s on a quiet
    machine: the first flush, 2 s after the first frame, would come after the last)."""
    cap = cv2.VideoCapture(str(CLIP))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    out = tmp_path_factory.mktemp("clip") / "long.mp4"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(5):
        for frame in frames:
            writer.write(frame)
    writer.release()
    return out


def start_ingest(store: Path, video: Path, *more: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "ingest",
            str(video),
            *more,
            "--camera",
            "door",
            "--start",
            "2026-11-20T10:00:00Z",
            "--store",
            str(store),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def count(store: Store, table: str = "sightings") -> int:
    return int(store.query(f"SELECT count(*) AS n FROM {table}").n[0])


def test_reader_sees_rows_during_ingest_without_errors(tmp_path, long_clip):
    root = tmp_path / "store"
    store = Store(root)
    proc = start_ingest(root, long_clip)
    seen: list[tuple[float, int]] = []
    errors = []
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 120:
        try:
            seen.append((time.monotonic() - t0, count(Store(root))))
        except Exception as exc:  # any error here is what the test is about
            errors.append(repr(exc))
        time.sleep(0.5)
    out = proc.communicate()[0]
    assert proc.returncode == 0, out
    finished = time.monotonic() - t0
    assert not errors
    growing = [n for _, n in seen if n > 0]
    assert growing, "the reader saw no rows while the ingest ran"
    first_seen = next(t for t, n in seen if n > 0)
    # the first flush comes 2 s after the first frame; start-up (imports, models, the
    # gallery) takes seconds more on a loaded 2-core machine
    assert first_seen < finished - 2, seen
    # new rows keep arriving while the writer runs: no silent stretch longer than 5 s
    changes = [t for (t, n), (_, prev) in zip(seen[1:], seen) if n != prev]
    assert all(b - a <= 5.0 for a, b in zip([first_seen, *changes], [*changes, finished])), seen
    assert count(store) >= seen[-1][1]


def test_killed_ingest_leaves_consistent_store_and_rerun_matches(tmp_path, long_clip):
    clean_root = tmp_path / "clean"
    clean = start_ingest(clean_root, long_clip)
    assert clean.wait(120) == 0
    expected = {
        t: count(Store(clean_root), t) for t in ("sightings", "tracks", "visits", "customers")
    }

    root = tmp_path / "store"
    proc = start_ingest(root, long_clip)
    t0 = time.monotonic()
    while not list(root.glob("events/sightings/**/*.parquet")) and time.monotonic() - t0 < 60:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store(root)
    partial = count(store)
    assert 0 < partial < expected["sightings"]
    assert store.query("SELECT status FROM runs").status.tolist() == ["running"]
    store.query("SELECT * FROM visits")  # every view still answers

    rerun = start_ingest(root, long_clip)
    assert rerun.wait(120) == 0
    got = {t: count(Store(root), t) for t in expected}
    assert got == expected
    assert Store(root).query("SELECT status FROM runs").status.tolist() == ["complete"]
