"""The REST API of `workbench serve`: auth, OpenAPI, figures, and remote cameras pushing
frames over a WebSocket from another process (real server, real client, real footage)."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient

from workbench import analytics
from workbench.api import create_app
from workbench.cli import main
from workbench.store import Store
from workbench.writer import RunWriter

HAMILTON = (
    Path(__file__).resolve().parents[2]
    / "shared/data/face-recognition-ageitgey/examples/short_hamilton_clip.mp4"
)
WORKBENCH = str(Path(sys.executable).parent / "workbench")


def test_api_key_required_and_openapi_served(demo_store, demo_end, monkeypatch):
    monkeypatch.setenv("WORKBENCH_API_KEYS", "first-key, second-key")
    with TestClient(create_app(demo_store)) as client:
        spec = client.get("/openapi.json").json()
        for path in (
            "/api/v1/customers/current",
            "/api/v1/analytics/daily",
            "/api/v1/heatmap/latest",
            "/api/v1/alerts",
            "/api/v1/cameras",
        ):
            assert path in spec["paths"]
            assert spec["paths"][path]["get"]["security"] == [{"APIKeyHeader": []}]
        assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
        assert client.get("/docs").status_code == 200
        assert client.get("/api/v1/cameras").status_code == 401
        assert client.get("/api/v1/cameras", headers={"X-API-Key": "first"}).status_code == 401
        key = {"X-API-Key": "second-key"}
        assert client.get("/api/v1/cameras", headers=key).json() == []
        assert client.get("/api/v1/alerts", headers=key).json() == []
        daily = client.get(f"/api/v1/analytics/daily?date={demo_end}", headers=key).json()
        expected = analytics.daily_summary(demo_store, demo_end, demo_end).iloc[0]
        assert daily["summary"]["visits"] == expected["visits"] > 0
        assert daily["summary"]["new_customers"] == expected["new_customers"]
        assert sum(h["visits"] for h in daily["hours"]) == expected["visits"]
        assert client.get("/api/v1/analytics/daily?date=nope", headers=key).status_code == 422
        missing = client.get("/api/v1/heatmap/latest?camera=door", headers=key)
        assert missing.status_code == 404 and "no heat" in missing.json()["detail"]


def test_heatmap_png_shows_where_people_stood(make_store):
    store = make_store(timezone="UTC")
    now = datetime.now(UTC)
    cell = {"camera": "door", "ts": now, "space": "image", "cell_size": 20.0, "heading": ""}
    with RunWriter(store, "test:heat", "door", "test", kind="video") as writer:
        writer.add(
            "heat",
            [
                {**cell, "cell_x": 3, "cell_y": 2, "samples": 500, "seconds": 100.0},
                {**cell, "cell_x": 10, "cell_y": 5, "samples": 5, "seconds": 1.0},
            ],
        )
    with TestClient(create_app(store)) as client:
        heat = client.get("/api/v1/heatmap/latest?camera=door")
        assert client.get("/api/v1/heatmap/latest?camera=till").status_code == 404
    assert heat.status_code == 200 and heat.headers["content-type"] == "image/png"
    assert heat.headers["x-day"] == str(now.date())
    png = cv2.imdecode(np.frombuffer(heat.content, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert png.shape == (6 * 20, 32 * 20)  # heat_cells columns of cell_size pixels
    busy, light, empty = png[2 * 20 + 10, 3 * 20 + 10], png[5 * 20 + 10, 10 * 20 + 10], png[0, 0]
    assert busy > light > empty


def test_serve_refuses_a_public_address_without_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_API_KEYS", raising=False)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--store", str(tmp_path)])
    assert result.exit_code == 1
    assert "refusing to serve on 0.0.0.0 without an API key" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lines(stream) -> queue.Queue:
    q: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [q.put(line) for line in stream], daemon=True).start()
    return q


@pytest.mark.skipif(
    not HAMILTON.exists(), reason="needs ../shared/data (real footage); absent in a user's clone"
)
def test_frames_pushed_over_websocket_become_events_in_the_api(tmp_path):
    cfg = tmp_path / "workbench.yml"
    cfg.write_text(
        yaml.safe_dump(
            {"store": "store", "timezone": "UTC", "cameras": [{"id": "door", "source": "push"}]}
        )
    )
    port = _free_port()
    env = {**os.environ, "WORKBENCH_API_KEYS": "k3y", "WORKBENCH_PUSH_TOKEN": "t0ken"}
    server = subprocess.Popen(
        [WORKBENCH, "--config", str(cfg), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    errors = _lines(server.stderr)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": "k3y"}, timeout=60
    )
    to = f"ws://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if api.get("/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, list(errors.queue)
                time.sleep(0.3)
        refused = subprocess.run(
            [WORKBENCH, "push", str(HAMILTON), "--to", to, "--camera", "door", "--token", "bad"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert refused.returncode == 1
        assert "refused the camera: wrong or missing push token" in refused.stderr
        pushed = subprocess.run(
            [WORKBENCH, "push", str(HAMILTON), "--to", to, "--camera", "door", "--fps", "10"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,  # the token from $WORKBENCH_PUSH_TOKEN
        )
        assert pushed.returncode == 0, pushed.stderr
        sent = int(pushed.stdout.split("sent ")[1].split()[0])
        assert 60 <= sent <= 95  # 9.2 s of video at 10 frames a second at most

        def current():
            while (answer := api.get("/api/v1/customers/current")).status_code == 503:
                time.sleep(float(answer.headers["retry-after"]))  # read while being written
            return answer.json()["customers"]

        deadline = time.monotonic() + 90
        while not current():  # the server closes the run at `end`, writing the tracks
            assert time.monotonic() < deadline, list(errors.queue)
            time.sleep(1)
        store = Store(tmp_path / "store")
        tracks = store.query(
            "SELECT DISTINCT customer_id FROM tracks WHERE customer_id IS NOT NULL"
        )
        now = current()
        assert {c["customer_id"] for c in now} == set(tracks["customer_id"])
        assert all(c["camera"] == "door" and c["is_new"] for c in now)
        cams = api.get("/api/v1/cameras").json()
        assert [c["camera"] for c in cams] == ["door"]
        health = store.query("SELECT max(fps_in) AS f FROM camera_health WHERE camera = 'door'")
        assert health["f"].iloc[0] > 3  # frames arrived at about the rate they were sent
        heat = api.get("/api/v1/heatmap/latest", params={"camera": "door"})
        heat_rows = store.query("SELECT count(*) AS n FROM heat")["n"].iloc[0]
        assert heat.status_code == (200 if heat_rows else 404)  # people seen long enough
        assert api.get("/api/v1/alerts", headers={"X-API-Key": "nope"}).status_code == 401
        assert isinstance(api.get("/api/v1/alerts").json(), list)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(60)
    assert code == 0, list(errors.queue)
    runs = Store(tmp_path / "store").query("SELECT * FROM runs WHERE kind = 'live'")
    assert len(runs) == 1 and runs["status"].iloc[0] == "complete"
