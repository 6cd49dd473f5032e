"""The ``workbench`` command: thin wrappers over the package.

Only this module configures logging. Every WorkbenchError becomes one line on
stderr and exit status 1; bad arguments exit with 2 (click's convention).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from workbench.cli_alerts import COMMANDS as ALERT_COMMANDS
from workbench.cli_audit import audit
from workbench.cli_common import _store, store_option
from workbench.cli_customers import customers
from workbench.cli_dashboard import dashboard, report
from workbench.cli_data import import_, query
from workbench.cli_live import COMMANDS as LIVE_COMMANDS
from workbench.cli_people import models
from workbench.errors import WorkbenchError

log = logging.getLogger("workbench")

DEMO_STORE = Path("data/demo")


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WorkbenchError as exc:
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Config file (default: $WORKBENCH_CONFIG, else ./workbench.yml).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="workbench")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, verbose: int) -> None:
    """Workbench: customer analytics from shop CCTV.

    Ingest footage, explore the store with SQL or notebooks, and produce reports.
    """
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = config_file


def _parse_start(value: str | None, tz: str) -> datetime | None:
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date-time; write e.g. 2026-11-20T09:30:00+05:30",
            param_hint="--start",
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=ZoneInfo(tz))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--camera", required=True, help="Camera id the footage comes from.")
@click.option(
    "--start",
    help="Wall-clock time of the first frame, ISO 8601 (default: file metadata, else modification time). Without an offset, the camera's timezone.",
)
@store_option
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Files processed at once, each in its own process (default: the cores available).",
)
@click.pass_context
def ingest(ctx, paths, camera, start, store_dir, quiet, workers):
    """Process recorded footage (video files or folders of images) into the store.

    Re-ingesting the same file for the same camera replaces its earlier events.
    """
    from workbench.pipeline import ingest as run_ingest

    store = _store(ctx, store_dir)
    begin = _parse_start(start, store.timezone(camera))
    store.ensure_writable()
    results = run_ingest(
        list(paths),
        camera,
        store,
        store.config,
        start=begin,
        progress=not quiet,
        workers=workers,
    )
    problems = []
    for r in results:
        customers = store.query(
            "SELECT count(DISTINCT customer_id) AS n FROM tracks WHERE run_id = ?", [r.run_id]
        )["n"].iloc[0]
        click.echo(
            f"{Path(r.path).name}: {r.frames} frames, {r.sightings} face sightings, {r.tracks} tracks, {customers} customers"
        )
        problems += r.problems
    for p in problems:
        click.echo(f"error: {p}", err=True)
    if problems:
        sys.exit(1)


@main.command()
@click.argument(
    "table",
    type=click.Choice(["customers", "visits", "sightings", "tracks", "transactions", "report"]),
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: .csv, .parquet or .xlsx (report: .xlsx).",
)
@click.option(
    "--from", "start", help="report: first day, YYYY-MM-DD (default: 30 days before --to)."
)
@click.option("--to", "end", help="report: last day, YYYY-MM-DD (default: yesterday).")
@click.option("--camera", help="report: one camera only (default: all).")
@store_option
@click.pass_context
def export(ctx, table, out, start, end, camera, store_dir):
    """Export a table, or `report`: an Excel workbook of a period (one formatted sheet per
    table, with charts). Table timestamps are ISO 8601 in the camera's timezone.

    Example: workbench export report --from 2026-11-01 --to 2026-11-30 --out november.xlsx
    """
    store = _store(ctx, store_dir)
    if table != "report":
        if start or end or camera:
            raise click.UsageError("--from, --to and --camera apply to `export report` only")
        from workbench.export import export_table

        n = export_table(store, table, out)
        click.echo(f"wrote {n} rows to {out}")
        return
    from workbench.excel import export_report

    tz = ZoneInfo(store.config.timezone)
    last = _parse_day(end, "--to") if end else datetime.now(tz).date() - timedelta(days=1)
    first = _parse_day(start, "--from") if start else last - timedelta(days=29)
    rows = export_report(store, first, last, out, camera=camera)
    click.echo(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in rows.items()))


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; write YYYY-MM-DD", param_hint=option
        ) from None


@main.command()
@click.option(
    "--store",
    "store_dir",
    type=click.Path(file_okay=False),
    default=str(DEMO_STORE),
    show_default=True,
    help="Where to build the demo store.",
)
@click.option(
    "--video",
    type=click.Path(exists=True),
    help="Also ingest this footage (camera 'door', today) into the demo store.",
)
@click.option(
    "--days",
    default=28,
    show_default=True,
    type=click.IntRange(1, 366),
    help="Days of simulated history.",
)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), default="reports", show_default=True
)
def demo(store_dir, video, days, out_dir):
    """Build a demo store of SIMULATED shop history (and optional real footage), then the daily report."""
    from workbench.demo import build_demo

    build_demo(
        Path(store_dir),
        video=Path(video) if video else None,
        days=days,
        out_dir=Path(out_dir),
        echo=click.echo,
    )


@main.command()
@store_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def info(ctx, store_dir, as_json):
    """Versions, the store's location and size, its tables and row counts."""
    from workbench.info import store_info

    data = store_info(_store(ctx, store_dir))
    if as_json:
        click.echo(json.dumps(data, indent=1, default=str))
        return
    for section, values in data.items():
        click.echo(f"{section}:")
        for k, v in values.items():
            click.echo(f"  {k}: {v}")


@main.command()
@store_option
@click.pass_context
def compact(ctx, store_dir):
    """Merge small event files, drop replaced runs and stray temporary files."""
    stats = _store(ctx, store_dir).compact()
    click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in stats.items()))


main.add_command(customers)
main.add_command(import_)
main.add_command(query)
main.add_command(audit)
main.add_command(models)
main.add_command(dashboard)  # and report: notebooks served or run (workbench.cli_dashboard)
main.add_command(report)
for command in LIVE_COMMANDS:  # live, serve, push, cameras
    main.add_command(command)
for command in ALERT_COMMANDS:  # alerts, retention
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
