"""``workbench live``, ``serve``, ``push`` and ``cameras``: live cameras, the API, remote cameras."""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

import click

from workbench.cli_common import _store, store_option
from workbench.errors import ConfigError


@contextmanager
def _stop_on_signals():
    """An Event set by the first SIGINT or SIGTERM; a second one interrupts at once."""
    stop = threading.Event()

    def handler(signum, frame):
        click.echo(f"{signal.Signals(signum).name}: stopping, closing runs...", err=True)
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _cameras(config, chosen: tuple[str, ...], source: str | None) -> dict:
    """{camera: source spec} of the configured cameras to run (all local ones by default)."""
    known = {c.id: c.source for c in config.cameras}
    if source is not None:
        if len(chosen) != 1:
            raise click.UsageError("--source needs exactly one --camera")
        return {chosen[0]: source}
    for cam in chosen:
        if cam not in known:
            raise ConfigError(
                f"camera {cam!r} is not in the config (cameras: {', '.join(known) or 'none'})"
            )
    run = {
        c: s for c, s in known.items() if (not chosen or c in chosen) and s not in (None, "push")
    }
    if not run:
        raise ConfigError(
            "no camera to run: give cameras a `source:` (index, stream URL or video file) in the "
            "config, or use --camera ID --source SPEC"
        )
    return run


def _health_line(row: dict, written: dict[str, int]) -> str:
    latency = "-" if row["latency_s"] is None else f"{row['latency_s']:.2f}s"
    counts = ", ".join(f"{t} {n}" for t, n in sorted(written.items())) or "nothing yet"
    return (
        f"{row['camera']}: {row['status']} in {row['fps_in']:.1f} fps, out {row['fps_out']:.1f} fps, "
        f"latency {latency}, dropped {row['dropped_frames']}; written: {counts}"
    )


@click.command()
@click.option(
    "--camera",
    "cameras",
    multiple=True,
    help="Camera id to run (repeat; default: all with a local source).",
)
@click.option(
    "--source",
    help="Source for the one --camera instead of the config's: index, URL or video file.",
)
@store_option
@click.pass_context
def live(ctx, cameras, source, store_dir):
    """Run the pipeline on live cameras until stopped (Ctrl-C or SIGTERM).

    Sources: a camera index (0), a stream URL (rtsp://, http(s)://, MJPEG), or a video file,
    played at its real rate. Events are written every second; a health line per camera is
    printed every few seconds with what is already in the store.
    """
    from workbench.live import LiveService, written_rows

    store = _store(ctx, store_dir)
    run = _cameras(store.config, cameras, source)
    with (
        _stop_on_signals() as stop,
        LiveService(store, store.config) as svc,
    ):
        for camera, spec in run.items():
            svc.add_camera(camera, spec)
        click.echo(f"live: {', '.join(run)} -> {store.root} (pid {os.getpid()}); Ctrl-C stops")

        def report(rows):
            for row in rows:
                runner = svc.runners[row["camera"]]
                run_id = runner.run_id()
                click.echo(_health_line(row, written_rows(store, run_id) if run_id else {}))

        svc.run(stop, report)
    failed = False
    for runner in svc.runners.values():
        for s in runner.sessions:
            written = written_rows(store, s.run_id)
            counts = ", ".join(f"{t} {n}" for t, n in sorted(written.items())) or "nothing"
            click.echo(
                f"{runner.camera}: run {s.run_id} closed, {s.frames} frames; written: {counts}"
            )
        if runner.error:
            click.echo(f"error: {runner.camera}: {runner.error}", err=True)
            failed = True
    sys.exit(1 if failed else 0)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--live",
    "with_live",
    is_flag=True,
    help="Also run the configured local cameras (as `workbench live`).",
)
@store_option
@click.pass_context
def serve(ctx, host, port, with_live, store_dir):
    """Serve the REST API (/api/v1/..., OpenAPI at /docs) and the WebSocket ingest of remote
    cameras (`source: push`). Beyond localhost it needs API keys ($WORKBENCH_API_KEYS)."""
    import uvicorn

    from workbench.api import check_exposure, create_app, push_cameras
    from workbench.live import LiveService

    store = _store(ctx, store_dir)
    config = store.config
    check_exposure(host, config)
    local = _cameras(config, (), None) if with_live else {}
    service = None
    if local or push_cameras(config):
        service = LiveService(store, config)
    app = create_app(store, service, local)
    click.echo(f"serving http://{host}:{port}/api/v1 (OpenAPI: http://{host}:{port}/docs)")
    # uvicorn shuts down on SIGINT/SIGTERM, then re-raises the signal to the handler it
    # found: make that a no-op, so a clean shutdown exits with status 0
    old = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    click.echo("stopped")


@click.command("push")
@click.argument("source")
@click.option("--to", "server", required=True, help="The server, ws://host:port.")
@click.option(
    "--camera", required=True, help="Camera id on the server (configured with `source: push`)."
)
@click.option(
    "--token",
    envvar="WORKBENCH_PUSH_TOKEN",
    required=True,
    help="Push token (default: $WORKBENCH_PUSH_TOKEN).",
)
@click.option(
    "--fps",
    "max_fps",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="Frames sent per second at most.",
)
def push_cmd(source, server, camera, token, max_fps):
    """Send a camera's frames (index, stream URL or video file at its real rate) to `workbench serve`."""
    from workbench.push import push

    with _stop_on_signals() as stop:
        stats = push(source, server, camera, token, max_fps=max_fps, stop=stop, echo=click.echo)
    click.echo(
        f"sent {stats.sent} frames ({stats.bytes / 1e6:.1f} MB) over {stats.connections} connection(s)"
    )


@click.command()
@store_option
@click.pass_context
def cameras(ctx, store_dir):
    """Each camera's newest health row: status, fps in/out, latency, last frame, drops."""
    from workbench.live_data import camera_health

    rows = camera_health(_store(ctx, store_dir))
    if not rows:
        click.echo("no camera health yet: it is written while `workbench live` or `serve` runs")
    for r in rows:
        latency = "-" if r["latency_s"] is None else f"{r['latency_s']:.2f}s"
        click.echo(
            f"{r['camera']}: {r['status']} at {r['ts']}, in {r['fps_in']:.1f} fps, out "
            f"{r['fps_out']:.1f} fps, latency {latency}, last frame {r['last_frame_ts']}, "
            f"dropped {r['dropped_frames']}"
        )


COMMANDS = [live, serve, push_cmd, cameras]
