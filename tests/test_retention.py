"""Retention: old key images, one-time visitors' embeddings and old alerts go; faces get blurred."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from workbench import retention
from workbench.cli import main
from workbench.config import parse_config
from workbench.faces import HogFaceDetector
from workbench.identity import Gallery
from workbench.store import Store
from workbench.writer import RunWriter

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
OBAMA = SHARED / "face-recognition-ageitgey" / "examples" / "obama-480p.jpg"
NOW = datetime.now(UTC)


def faces_in(jpeg: bytes) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return len(HogFaceDetector(min_face_px=40).detect(image))


@pytest.mark.skipif(not OBAMA.exists(), reason="needs ../shared/data (a real face photo)")
def test_blur_hides_the_face_and_marks_the_image():
    jpeg = OBAMA.read_bytes()
    assert faces_in(jpeg) == 1
    blurred = retention.blur_faces(jpeg)
    assert faces_in(blurred) == 0 and retention.is_blurred(blurred)
    assert not retention.is_blurred(jpeg)
    # a key image where no face is found is blurred whole when asked
    plain = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (80, 80, 3), np.uint8))
    whole = retention.blur_faces(plain[1].tobytes(), whole_when_none=True)
    img = cv2.imdecode(np.frombuffer(whole, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img.std() < 30  # noise blurred flat


def _track(cid: str, start: datetime, n: int) -> dict:
    emb = np.random.default_rng(n).normal(0, 0.1, 128).astype(np.float32).tolist()
    return {
        "camera": "door",
        "track_id": f"r-{n}",
        "start": start,
        "end": start + timedelta(seconds=30),
        "customer_id": cid,
        "sightings": 5,
        "embedded": 3,
        "quality": 0.9,
        "match_distance": None,
        "embedding": emb,
        "snapshot": f"snapshots/door/{start:%Y-%m-%d}/r-{n}.jpg",
    }


def test_policy_run_through_the_cli(tmp_path):
    root = tmp_path / "store"
    settings = {
        "store": str(root),
        "timezone": "UTC",
        "retention": {"images_days": 30, "one_time_embeddings_days": 90, "alerts_days": 60},
    }
    config = tmp_path / "workbench.yml"
    config.write_text(json.dumps(settings))
    store = Store(root, parse_config(settings))
    old, recent = NOW - timedelta(days=100), NOW - timedelta(days=2)
    tracks = [
        _track("C00001", old, 1),  # one visit, long ago: embedding goes
        _track("C00002", old, 2),  # two visits: a regular, kept
        _track("C00002", recent, 3),
        _track("C00003", recent, 4),  # one visit, recent: kept
    ]
    with RunWriter(store, "test:retention", "door", "test", "video") as w:
        w.add("tracks", tracks)
        for t in tracks:
            store.save_snapshot(t["snapshot"].removeprefix("snapshots/"), b"\xff\xd8jpeg")
        for ts in (old, recent):
            w.add(
                "alerts",
                {
                    "alert_id": f"a{ts:%j}",
                    "ts": ts,
                    "camera": "door",
                    "kind": "capacity",
                    "customer_id": None,
                    "message": "m",
                    "snapshot": None,
                    "details": "{}",
                },
            )
    stray = root / "snapshots" / "misc.jpg"
    stray.write_bytes(b"\xff\xd8")
    os.utime(stray, (old.timestamp(), old.timestamp()))

    dry = CliRunner().invoke(main, ["--config", str(config), "retention", "run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would remove: 3 key images, 1 one-time visitors' embeddings, 1 alerts" in dry.output
    assert len(list(root.glob("snapshots/**/*.jpg"))) == 5

    with store.writer_lock():  # a live service holds the lock: the CLI says so
        busy = CliRunner().invoke(main, ["--config", str(config), "retention", "run"])
    assert busy.exit_code == 1 and "in use by" in busy.output

    done = CliRunner().invoke(main, ["--config", str(config), "retention", "run"])
    assert done.exit_code == 0, done.output
    assert "removed: 3 key images, 1 one-time visitors' embeddings, 1 alerts" in done.output
    left = sorted(p.name for p in root.glob("snapshots/**/*.jpg"))
    assert left == ["r-3.jpg", "r-4.jpg"]
    emb = store.query(
        "SELECT customer_id, embedding IS NOT NULL AS has FROM tracks ORDER BY track_id"
    )
    assert list(emb.has) == [False, True, True, True]
    assert len(Gallery.load(store, 10)) == 2  # C00001 is no longer recognised
    assert store.query("SELECT count(*) AS n FROM visits WHERE customer_id = 'C00001'").n[0] == 1
    assert list(store.query("SELECT alert_id FROM alerts").alert_id) == [f"a{recent:%j}"]
    again = CliRunner().invoke(main, ["--config", str(config), "retention", "run"])
    assert "removed: 0 key images, 0 one-time visitors' embeddings, 0 alerts" in again.output
