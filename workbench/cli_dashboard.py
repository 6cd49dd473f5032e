"""``workbench dashboard`` (the manager's Voila dashboard) and ``workbench report``."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from datetime import date
from pathlib import Path

import click

from workbench import REPO_ROOT
from workbench.cli_common import _store, store_option
from workbench.config import CONFIG_ENV, config_path
from workbench.errors import WorkbenchError

DASHBOARDS = REPO_ROOT / "notebooks" / "dashboards"
TEMPLATES = DASHBOARDS / "share"  # voila/templates/workbench: the lab template without CDN links
TOKEN_ENV = "WORKBENCH_DASHBOARD_TOKEN"


class DashboardError(WorkbenchError):
    """The dashboard server cannot start."""


def _loopback(ip: str) -> bool:
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def _free_port(ip: str, port: int) -> int:
    """``port`` if it can be bound on ``ip`` (0: any free one), else a DashboardError."""
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        try:
            s.bind((ip, port))
        except OSError as exc:
            raise DashboardError(
                f"cannot listen on {ip}:{port} ({exc.strerror or exc}); "
                "pick another port with --port (0 picks a free one) or another --ip"
            ) from None
        return s.getsockname()[1]


def voila_argv(notebook: Path, ip: str, port: int, token: str, idle_minutes: float) -> list[str]:
    """Voila's settings: the offline template, this Python's kernel, idle kernels culled."""
    import zmq

    argv = [
        str(notebook),
        "--no-browser",
        "--template=workbench",
        f"--Voila.ip={ip}",
        f"--Voila.port={port}",
        "--Voila.port_retries=0",
        f"--Voila.token={token}",
        "--VoilaConfiguration.kernel_spec_manager_class=workbench.kernels.ThisPythonKernelSpecs",
        # one kernel kept ready with the dashboard drawn: a page opens without waiting for a
        # kernel to start and import; the pool refills in the background
        "--VoilaConfiguration.preheat_kernel=True",
        "--VoilaConfiguration.default_pool_size=1",
        # a viewer's kernel is shut down once its page has been closed for idle_minutes
        "--VoilaConfiguration.multi_kernel_manager_class=workbench.kernels.PageKernelManager",
        f"--PageKernelManager.cull_idle_timeout={round(idle_minutes * 60)}",
        f"--PageKernelManager.cull_interval={max(1, min(60, round(idle_minutes * 30)))}",
        "--Voila.log_level=WARN",
    ]
    if zmq.has("curve"):
        argv.append("--KernelManager.transport_encryption=auto")
    return argv


@click.command()
@store_option
@click.option("--port", default=8866, show_default=True, type=click.IntRange(0, 65535),
              help="Port to serve on (0: any free port).")  # fmt: skip
@click.option("--ip", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 serves the whole network (a token is required).")  # fmt: skip
@click.option(
    "--token", envvar=TOKEN_ENV, help=f"Access token (default: ${TOKEN_ENV}, else a random one)."
)
@click.option("--no-token", is_flag=True, help="No token (only when listening on localhost).")
@click.option("--idle-minutes", default=15.0, show_default=True, type=click.FloatRange(0.05, 24 * 60),
              help="Shut a viewer's kernel down this long after its page was closed.")  # fmt: skip
@click.pass_context
def dashboard(ctx, store_dir, port, ip, token, no_token, idle_minutes):
    """Serve the manager dashboard (Voila) and print its URL.

    Today's figures against the same weekday last week, occupancy, heat map,
    regulars, unpaid and alerts; it redraws itself while live capture writes.
    Works offline. Stop with Ctrl-C. Example, after `make demo`:

        workbench dashboard --store data/demo
    """
    from tornado.ioloop import IOLoop
    from voila.app import Voila

    from workbench.dashboard import STORE_ENV, dashboard_store

    file = config_path(ctx.obj)
    if file is not None:  # the kernels read the same config
        os.environ[CONFIG_ENV] = str(file.resolve())
    root = dashboard_store(_store(ctx, store_dir).root.resolve()).root  # refuses a non-store
    if no_token and not _loopback(ip):
        raise DashboardError(f"--no-token is refused on {ip}: anyone on the network could look")
    token = "" if no_token else (token or secrets.token_urlsafe(24))
    port = _free_port(ip, port)
    os.environ[STORE_ENV] = str(root)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(TEMPLATES), os.environ.get("JUPYTER_PATH")) if p
    )
    host = ip if ip not in ("0.0.0.0", "::") else socket.gethostname()
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")

    app = Voila()
    app.initialize(voila_argv(DASHBOARDS / "manager.ipynb", ip, port, token, idle_minutes))
    # printed once the server listens (the loop runs only after a successful listen)
    IOLoop.current().add_callback(
        lambda: click.echo(f"Manager dashboard ({root}): {url}\nStop it with Ctrl-C.")
    )
    app.start()


@click.command()
@click.argument("kind", type=click.Choice(["daily", "weekly"]))
@click.option(
    "--date", "day", help="A day of the report, YYYY-MM-DD (default: yesterday; weekly: last week)."
)
@click.option("--format", "formats", default="html", show_default=True,
              help="Comma-separated: html, pdf, xlsx.")  # fmt: skip
@click.option("--email", is_flag=True, help="Send the files to alerts.email's recipients.")
@store_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports",
              show_default=True, help="Folder for the report files.")  # fmt: skip
@click.pass_context
def report(ctx, kind, day, formats, email, store_dir, out_dir):
    """Write the daily or weekly report: offline HTML (charts inlined), PDF, Excel; --email sends it.

    Example (cron, every night at 00:30): workbench report daily --format html,pdf,xlsx --email
    """
    from workbench.report import make_report

    wanted = [f.strip().lower() for f in formats.split(",") if f.strip()]
    store = _store(ctx, store_dir)
    try:
        when = date.fromisoformat(day) if day else None  # None: the last full day or week
    except ValueError:
        raise click.BadParameter(
            f"{day!r} is not a date; write YYYY-MM-DD", param_hint="--date"
        ) from None
    made = make_report(store.root, kind, when, Path(out_dir), config=store.config,
                       formats=wanted, email=email)  # fmt: skip
    for fmt, path in made.files.items():
        click.echo(f"{fmt}: {path}")
    if made.emailed_to:
        click.echo(f"emailed to {', '.join(made.emailed_to)}")
