"""``workbench alerts list|test|flush`` and ``workbench retention run``."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import click

from workbench.cli_common import _store, store_option
from workbench.config_alerts import ALERT_KINDS
from workbench.errors import ConfigError


@click.group()
def alerts():
    """Alerts raised by the rules (alerts.rules) and their delivery queue."""


@alerts.command("list")
@click.option(
    "--days",
    type=click.FloatRange(min=0),
    default=7,
    show_default=True,
    help="Alerts of the last N days.",
)
@click.option("--kind", type=click.Choice(ALERT_KINDS), help="Only this kind.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@click.pass_context
def list_(ctx, days, kind, limit, as_json, store_dir):
    """The latest alerts, newest first, and how many deliveries are still queued."""
    from workbench.alert_queue import DeliveryQueue

    store = _store(ctx, store_dir)
    since = datetime.now(UTC) - timedelta(days=days)
    rows = store.query(
        "SELECT ts, camera, kind, customer_id, message, snapshot, alert_id FROM alerts "
        "WHERE ts >= ? AND (? IS NULL OR kind = ?) ORDER BY ts DESC LIMIT ?",
        [since, kind, kind, limit],
    )
    queue = DeliveryQueue(store, store.config.alerts)
    if as_json:
        for row in rows.to_dict("records"):
            click.echo(json.dumps({**row, "ts": row["ts"].isoformat()}))
        return
    for row in rows.itertuples():
        click.echo(f"{row.ts:%Y-%m-%d %H:%M:%S}  {row.kind:<18} {row.camera:<10} {row.message}")
    if rows.empty:
        click.echo(f"no alerts in the last {days:g} days")
    pending, failed = len(queue.pending()), len(queue.pending(failed=True))
    click.echo(f"deliveries queued: {pending}; failed: {failed}")


@alerts.command()
@click.option("--kind", type=click.Choice(ALERT_KINDS), default="new_customer", show_default=True)
@store_option
@click.pass_context
def test(ctx, kind, store_dir):
    """Send a test alert to every channel now (not stored, not queued) and say what happened.

    It carries the store's newest key image, if there is one.
    """
    from workbench.channels import Alert, DeliveryError, deliver, targets

    store = _store(ctx, store_dir)
    config = store.config.alerts
    images = sorted(store.snapshots_dir.glob("**/*.jpg"), key=lambda p: p.stat().st_mtime)
    now = datetime.now(UTC)
    alert = Alert(
        alert_id=f"test-{uuid.uuid4().hex[:6]}",
        ts=now.isoformat(),
        local_time=f"{now.astimezone():%Y-%m-%d %H:%M:%S}",
        camera="test",
        kind=kind,
        customer_id="C00000"
        if kind in ("new_customer", "returning_customer", "defaulter")
        else None,
        message="Test alert from workbench: this channel works",
        snapshot=images[-1].relative_to(store.root).as_posix() if images else None,
    )
    channels = targets(config, kind)
    if not channels:
        raise ConfigError(
            f"no channel takes {kind} alerts; configure alerts.email, alerts.webhooks or alerts.sms"
        )
    failed = 0
    for target in channels:
        try:
            deliver(target, alert, store.root, config.retry.timeout_s)
            click.echo(f"{target['key']}: sent")
        except DeliveryError as exc:
            failed += 1
            click.echo(f"{target['key']}: FAILED: {exc}")
    if failed:
        raise SystemExit(1)


@alerts.command()
@click.option(
    "--failed", "retry_failed", is_flag=True, help="Also retry deliveries that were given up."
)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Keep retrying for up to this many seconds while some remain.",
)
@store_option
@click.pass_context
def flush(ctx, retry_failed, wait, store_dir):
    """Send queued alerts now, without waiting for their next retry.

    `workbench live` sends the queue itself; use this when it is not running (a
    server was down when the service stopped). Exit status 1 if some remain.
    """
    from workbench.alert_queue import DeliveryQueue

    store = _store(ctx, store_dir)
    queue = DeliveryQueue(store, store.config.alerts)
    deadline = time.monotonic() + wait
    with queue.sender():
        if retry_failed:
            click.echo(f"requeued {queue.requeue_failed()} failed deliveries")
        delivered, left = queue.send_due(force=True)
        while left and time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            sent, left = queue.send_due(force=True)
            delivered += sent
    click.echo(f"delivered {delivered}; still queued {left}")
    for _, item in queue.pending():
        click.echo(
            f"  {item['alert']['alert_id']} -> {item['target']['key']}: {item['last_error']}"
        )
    if left:
        raise SystemExit(1)


@click.group()
def retention():
    """Key images and embeddings kept only as long as the retention policy says."""


@retention.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@store_option
@click.pass_context
def run(ctx, dry_run, store_dir):
    """Apply the retention policy (retention in the config) once.

    Deletes old key images, the face embeddings of one-time visitors and old alerts,
    and blurs faces in stored images when retention.blur_faces is on. `workbench
    live` does this once a day by itself.
    """
    from workbench import retention as policy

    store = _store(ctx, store_dir)
    if dry_run:
        stats = policy.run(store, store.config, dry_run=True)
    else:
        with store.writer_lock():
            stats = policy.run(store, store.config)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb}: {stats['images_deleted']} key images, {stats['embeddings_deleted']} "
        f"one-time visitors' embeddings, {stats['alerts_deleted']} alerts; "
        f"blurred {stats['images_blurred']} images"
    )


COMMANDS = (alerts, retention)
