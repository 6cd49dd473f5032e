"""``workbench import transactions`` and ``workbench query``: till records in, any SQL out."""

from __future__ import annotations

import json
import sys

import click

from workbench.cli_common import _store, store_option
from workbench.errors import WorkbenchError


@click.group("import")
def import_():
    """Bring records from outside into the store (till records)."""


@import_.command("transactions")
@click.argument("file", type=click.Path(dir_okay=False))
@store_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def transactions(ctx, file, store_dir, as_json):
    """Import till records from FILE (.csv or .xlsx).

    Columns: transaction_id, timestamp, customer_id (may be empty), payment_mode,
    can_size, number_of_cans, amount, payment_status (Paid/Unpaid). Times without
    an offset are the till camera's local time. Bad rows are listed with their line
    and reason, the others imported; importing the same file again replaces it.
    Exits with status 1 when any row was left out.
    """
    from workbench.transactions import WHY, import_transactions

    r = import_transactions(_store(ctx, store_dir), file)
    if as_json:
        click.echo(json.dumps({k: v for k, v in vars(r).items() if k != "path"}, default=str))
    else:
        click.echo(
            f"{r.path.name}: {r.rows} rows, {r.imported} imported ({r.new} new, {r.changed} "
            f"changed, {r.unchanged} already in the store), {len(r.problems)} left out"
            + (f", {r.blank_lines} blank lines skipped" if r.blank_lines else "")
        )
        for status, n in sorted(r.links.items(), key=lambda kv: -kv[1]):
            lines = r.unlinked_lines.get(status, [])
            where = f" ({r.where}s {', '.join(map(str, lines[:10]))}{', ...' if len(lines) > 10 else ''})"
            click.echo(f"  {n} {WHY[status]}" + (where if lines else ""))
        if r.unknown_customers:
            click.echo(
                f"  customer ids the store has never seen: {', '.join(r.unknown_customers[:10])}"
            )
        for line, text in r.warnings:
            click.echo(f"warning: {r.where} {line}: {text}", err=True)
        for line, reason in r.problems:
            click.echo(f"error: {r.where} {line}: {reason}", err=True)
    if r.problems:
        sys.exit(1)


@click.command()
@click.argument("sql")
@click.option("--csv", "fmt", flag_value="csv", help="Print CSV.")
@click.option("--json", "fmt", flag_value="json", help="Print JSON records.")
@store_option
@click.pass_context
def query(ctx, sql, fmt, store_dir):
    """Run SQL over the store's views and print the result.

    Views: visits, all_visits, customers, transactions, track_spans, tracks,
    sightings, daily_summary, hourly_traffic, payment_summary, cans_per_day,
    customer_spend, unpaid, repeat_defaulters, runs; local_time(camera, ts) gives a
    camera's wall-clock time. Example: workbench query "SELECT * FROM daily_summary"
    """
    import duckdb

    store = _store(ctx, store_dir)
    try:
        df = store.query(sql)
    except duckdb.Error as exc:
        views = store.query(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name NOT LIKE '\\_%' "
            "ESCAPE '\\' ORDER BY 1"
        )["view_name"]
        raise WorkbenchError(
            f"query failed: {str(exc).splitlines()[0]}\nviews: {', '.join(views)}"
        ) from None
    if fmt == "csv":
        df.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        click.echo(df.to_json(orient="records", date_format="iso"))
    else:
        click.echo(df.to_string(index=False) if len(df) else "(no rows)")
