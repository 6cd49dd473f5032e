"""The REST API and the WebSocket camera ingest of ``workbench serve`` (FastAPI).

Read endpoints (``/api/v1/...``) answer from the store through ``workbench.live_data``;
with API keys configured every one needs the header ``X-API-Key``. The OpenAPI spec is
at ``/openapi.json`` (browsable at ``/docs``).

Remote cameras (config ``source: push``) connect to ``/api/v1/ingest/{camera}`` with
their token (``?token=`` or ``Authorization: Bearer``) and send JPEG frames as binary
messages, a text message ``end`` when they have finished; the frames feed a
``PushedSource`` in the server's live service, which runs the same pipeline as
``workbench live``.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated

import duckdb
from fastapi import Depends, FastAPI, HTTPException, Query, Response, WebSocket
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from starlette.websockets import WebSocketDisconnect

from workbench import live_data
from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.live import LiveService
from workbench.store import Store

log = logging.getLogger(__name__)

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def secrets_from_env(name: str) -> set[str]:
    """The comma-separated secrets in environment variable ``name`` (empty set when unset)."""
    return {s.strip() for s in os.environ.get(name, "").split(",") if s.strip()}


def _matches(given: str | None, allowed: set[str]) -> bool:
    return given is not None and any(hmac.compare_digest(given, k) for k in allowed)


def push_cameras(config: Config) -> set[str]:
    return {c.id for c in config.cameras if c.source == "push"}


def create_app(
    store: Store, service: LiveService | None = None, local_cameras: dict | None = None
) -> FastAPI:
    """The API over ``store``. ``service`` (a LiveService, not yet entered) receives pushed
    cameras and runs ``local_cameras`` ({camera: source spec}); the app starts and stops it."""
    config = store.config
    keys = secrets_from_env(config.api.keys_env)
    tokens = secrets_from_env(config.api.push_token_env)
    pushable = push_cameras(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stop = threading.Event()
        ticker = None
        if service is not None:
            service.__enter__()
            for camera, spec in (local_cameras or {}).items():
                service.add_camera(camera, spec)
            ticker = threading.Thread(target=service.run, args=(stop,), name="ticker", daemon=True)
            ticker.start()
        try:
            yield
        finally:
            stop.set()
            if ticker is not None:
                ticker.join()
                service.__exit__(None, None, None)

    app = FastAPI(
        title="workbench",
        version="1",
        summary="Shop CCTV customer analytics: who is in now, daily figures, heat, alerts, cameras.",
        lifespan=lifespan,
    )

    @app.exception_handler(duckdb.Error)
    def store_busy(request, exc: duckdb.Error) -> JSONResponse:
        # a file replaced by the live writer while a query read it; the next try reads the new one
        log.warning("%s: %s", request.url.path, exc)
        return JSONResponse(
            {"detail": "the store changed while it was read; retry"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    api_key = APIKeyHeader(
        name="X-API-Key", auto_error=False, description="A key from $" + config.api.keys_env
    )

    def check_key(key: str | None = Depends(api_key)) -> None:
        if keys and not _matches(key, keys):
            raise HTTPException(401, "missing or wrong X-API-Key header")

    guarded = {"dependencies": [Depends(check_key)]}

    @app.get("/api/v1/customers/current", **guarded)
    def customers_current() -> dict:
        """People in the shop now: customers whose visit is open, people in view per camera."""
        return live_data.current_customers(store)

    @app.get("/api/v1/analytics/daily", **guarded)
    def analytics_daily(
        day: Annotated[
            date | None, Query(alias="date", description="YYYY-MM-DD (default: today)")
        ] = None,
        camera: str | None = None,
    ) -> dict:
        """A day's visits, customers new and returning, sales, hourly traffic, line entries."""
        return live_data.daily(store, day or live_data.today(store), camera)

    @app.get(
        "/api/v1/heatmap/latest",
        responses={200: {"content": {"image/png": {}}}, 404: {"description": "no heat yet"}},
        response_class=Response,
        **guarded,
    )
    def heatmap_latest(camera: str | None = None) -> Response:
        """The latest day's heat map of a camera (PNG, the camera's picture size)."""
        found = live_data.heatmap_png(store, camera)
        if found is None:
            raise HTTPException(404, f"no heat recorded{' for camera ' + camera if camera else ''}")
        cam, day, png = found
        return Response(png, media_type="image/png", headers={"X-Camera": cam, "X-Day": str(day)})

    @app.get("/api/v1/alerts", **guarded)
    def alerts(
        since: Annotated[datetime | None, Query(description="ISO 8601 time")] = None,
    ) -> list[dict]:
        """Alerts raised from ``since`` on (all when absent), oldest first."""
        return live_data.alerts_since(store, since)

    @app.get("/api/v1/cameras", **guarded)
    def cameras() -> list[dict]:
        """Each camera's newest health: fps in and out, latency, last frame, drops, status."""
        return live_data.camera_health(store)

    @app.websocket("/api/v1/ingest/{camera}")
    async def ingest(ws: WebSocket, camera: str, token: str | None = None) -> None:
        auth = ws.headers.get("authorization", "")
        given = token or (auth[7:] if auth.lower().startswith("bearer ") else None)
        reason = None
        if not tokens:
            reason = f"pushing is off: set ${config.api.push_token_env} on the server"
        elif not _matches(given, tokens):
            reason = "wrong or missing push token"
        elif camera not in pushable or service is None:
            reason = f"camera {camera!r} is not configured with `source: push` on this server"
        if reason is None:
            try:
                source = service.pushed(camera)
                if source.connected:
                    reason = f"camera {camera!r} is already connected"
            except WorkbenchError as exc:
                reason = str(exc)
        await ws.accept()  # then close with the reason: a refused handshake would lose it
        if reason is not None:
            log.warning("push to %s refused: %s", camera, reason)
            await ws.close(code=1008, reason=reason[:120])
            return
        source.set_connected(True)
        try:
            while True:
                msg = await ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                if msg.get("bytes"):
                    source.push(msg["bytes"])
                elif msg.get("text") == "end":
                    source.end_session()
        except WebSocketDisconnect:
            pass
        finally:
            source.set_connected(False)

    return app


def check_exposure(host: str, config: Config) -> None:
    """Refuse to serve beyond this machine without an API key."""
    if host not in LOCAL_HOSTS and not secrets_from_env(config.api.keys_env):
        raise WorkbenchError(
            f"refusing to serve on {host} without an API key: set ${config.api.keys_env} "
            "(comma-separated keys clients send as X-API-Key), or serve on 127.0.0.1"
        )
