"""``workbench customers ...``: see, name, merge, split and erase anonymous customers."""

from __future__ import annotations

import json

import click

from workbench.cli_common import _store, store_option


@click.group()
def customers():
    """Anonymous customers: list, show, label, staff, merge, split, forget, consolidate."""


def _table(df) -> str:
    return df.to_string(index=False) if len(df) else "(none)"


@customers.command("list")
@store_option
@click.option("--staff/--no-staff", default=None, help="Only staff, or only customers.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def list_(ctx, store_dir, staff, as_json):
    """Every customer with first/last seen, visit count, label and staff flag."""
    from workbench.customers import list_customers

    df = list_customers(_store(ctx, store_dir), staff=staff)
    if as_json:
        click.echo(df.to_json(orient="records", date_format="iso"))
    else:
        click.echo(_table(df.drop(columns=["snapshot"])))


@customers.command()
@click.argument("customer_id")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def show(ctx, customer_id, store_dir, as_json):
    """A customer's summary, visits and tracks (track ids are what `split --tracks` takes)."""
    from workbench.customers import show as show_customer

    rec = show_customer(_store(ctx, store_dir), customer_id)
    if as_json:
        out = {
            "customer": rec["customer"],
            "visits": json.loads(rec["visits"].to_json(orient="records", date_format="iso")),
            "tracks": json.loads(rec["tracks"].to_json(orient="records", date_format="iso")),
        }
        click.echo(json.dumps(out, indent=1, default=str))
        return
    for k, v in rec["customer"].items():
        click.echo(f"{k}: {v}")
    click.echo("\nvisits:\n" + _table(rec["visits"]))
    click.echo("\ntracks:\n" + _table(rec["tracks"].drop(columns=["snapshot"])))


@customers.command()
@click.argument("customer_id")
@click.argument("text", required=False)
@store_option
@click.pass_context
def label(ctx, customer_id, text, store_dir):
    """Give CUSTOMER_ID a name or note (no TEXT clears it)."""
    from workbench.customers import label as set_label

    set_label(_store(ctx, store_dir), customer_id, text)
    click.echo(f"{customer_id}: label {text!r}" if text else f"{customer_id}: label cleared")


@customers.command()
@click.argument("customer_id")
@click.option("--off", is_flag=True, help="Mark as a customer again.")
@store_option
@click.pass_context
def staff(ctx, customer_id, off, store_dir):
    """Mark CUSTOMER_ID as staff: still recognised, left out of customer analytics."""
    from workbench.customers import set_staff

    set_staff(_store(ctx, store_dir), customer_id, not off)
    click.echo(f"{customer_id}: {'customer' if off else 'staff'}")


@customers.command()
@click.argument("into")
@click.argument("others", nargs=-1, required=True)
@store_option
@click.pass_context
def merge(ctx, into, others, store_dir):
    """Merge OTHERS into INTO (one person under several ids). Undo with `split INTO OTHER`."""
    from workbench.customers import merge as do_merge

    merged = do_merge(_store(ctx, store_dir), into, list(others))
    click.echo(f"merged {', '.join(merged)} into {into}")


@customers.command()
@click.argument("customer_id")
@click.argument("other", required=False)
@click.option("--tracks", help="Comma-separated track ids to move to a new customer id.")
@store_option
@click.pass_context
def split(ctx, customer_id, other, tracks, store_dir):
    """Undo the merge of OTHER into CUSTOMER_ID, or move --tracks to a new customer.

    The two are then recorded as different people and never merged again.
    """
    from workbench.customers import split as do_split

    track_ids = [t.strip() for t in tracks.split(",") if t.strip()] if tracks else None
    new = do_split(_store(ctx, store_dir), customer_id, other, track_ids)
    click.echo(f"{new} is now separate from {customer_id}")


@customers.command()
@click.argument("customer_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@store_option
@click.pass_context
def forget(ctx, customer_id, yes, store_dir):
    """Erase CUSTOMER_ID everywhere: embeddings, key images, tracks, sightings (right to erasure)."""
    from workbench.customers import forget as do_forget

    if not yes:
        click.confirm(f"Erase every record of {customer_id}? This cannot be undone", abort=True)
    stats = do_forget(_store(ctx, store_dir), customer_id)
    click.echo(
        f"forgot {customer_id}: {stats['tracks']} tracks, {stats['sightings']} sightings, "
        f"{stats['key_images']} key images, {stats['transactions_unlinked']} till records unlinked"
    )


@customers.command()
@click.option(
    "--distance",
    type=click.FloatRange(0.1, 1.0),
    help="Average-linkage distance to merge at (default: recognition.consolidate_distance).",
)
@click.option("--dry-run", is_flag=True, help="Show the merges without making them.")
@store_option
@click.pass_context
def consolidate(ctx, distance, dry_run, store_dir):
    """Re-cluster all identified tracks and merge customers the online pass split."""
    from workbench.consolidate import consolidate as run

    result = run(_store(ctx, store_dir), distance=distance, dry_run=dry_run)
    for m in result["merges"]:
        verb = "would merge" if dry_run else "merged"
        click.echo(f"{verb} {', '.join(m['merged'])} into {m['into']} (distance {m['distance']})")
    click.echo(f"{result['customers_merged']} customers merged" + (" (dry run)" if dry_run else ""))
