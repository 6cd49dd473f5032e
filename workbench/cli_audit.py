"""``workbench audit ...``: check accuracy on the shop's own labelled data."""

from __future__ import annotations

import json

import click

from workbench.config import Config, config_path, load_config


@click.group()
def audit():
    """Accuracy audits on your own labelled data."""


@audit.command()
@click.option(
    "--labels",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV with columns file,identity: one face per file, rows in the order seen.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    help="Folder the files are relative to (default: the CSV's folder).",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON result.")
@click.pass_context
def faces(ctx, labels, root, as_json):
    """Replay labelled face images through the identity logic and score the customer ids.

    Pairs of images are scored: same customer id vs same true identity.
    """
    from workbench.audit import audit_faces

    file = config_path(ctx.obj)
    result = audit_faces(labels, root, load_config(file) if file else Config())
    if as_json:
        click.echo(json.dumps(result, default=str))
        return
    keys = [
        "images", "faces_found", "identified", "people_true", "customers_pred",
        "pair_precision", "pair_recall", "pair_f1", "false_merges", "people_split",
        "returning_recall", "match_distance", "wall_s",
    ]  # fmt: skip
    for k in keys:
        click.echo(f"{k}: {result[k]}")
    for kind, files in result["problems"].items():
        click.echo(f"{kind.replace('_', ' ')}: {len(files)} ({', '.join(files[:5])})")
    for cid, people in result["customers"].items():
        if len(people) > 1:
            click.echo(f"false merge: {cid} holds {', '.join(people)}")
