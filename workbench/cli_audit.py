"""``workbench audit ...``: check accuracy on the shop's own labelled data."""

from __future__ import annotations

import json

import click

from workbench.config import Config, config_path, load_config

# the audit warns when this share of the truth's people are under the smallest size looked for
SHORT_WARNING = 0.2


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


def _line(ctx, param, value):
    if value is None:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: write the line's two ends as x1,y1,x2,y2 (pixels)"
        ) from None
    if (x1, y1) == (x2, y2):
        raise click.BadParameter("the line's two ends are the same point")
    return x1, y1, x2, y2


@audit.command()
@click.argument("video", type=click.Path())
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, exists=True),
    help="Ground truth in MOTChallenge format: frame,id,x,y,w,h,... with 1-based frames "
    "(default for a MOTChallenge sequence folder: its gt/gt.txt).",
)
@click.option(
    "--line",
    callback=_line,
    help="Also count crossings of this line, x1,y1,x2,y2 in pixels ('in' = towards the right-hand side walking from 1 to 2).",
)
@click.option(
    "--detector",
    type=click.Choice(["auto", "hog+motion", "hog", "motion", "dnn"]),
    help="Person detector (default: people.detector from the config).",
)
@click.option("--model", help="DNN model name for --detector dnn (see `workbench models`).")
@click.option(
    "--fps",
    type=click.FloatRange(0.1, 120),
    help="Detect this often per second of video (default: every frame, as MOTChallenge scores).",
)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON result.")
@click.pass_context
def counting(ctx, video, truth, line, detector, model, fps, as_json):
    """Score people detection, tracking and counting on VIDEO against ground truth.

    VIDEO is a video file or a MOTChallenge sequence folder (seqinfo.ini, frames in img1/).

    Prints frames, people_true, people_pred (distinct tracks), count_mae (people in
    frame, mean absolute error), mota and idf1 (py-motmetrics, IoU >= 0.5), and with
    --line, crossings_true and crossings_pred. Also the smallest person height looked
    for and the share of the truth's boxes below it, with a note when that is a fifth
    or more (people.min_person_px is the remedy).
    """
    from workbench.audit_counting import audit_counting

    file = config_path(ctx.obj)
    cfg = load_config(file) if file else Config()
    if detector:
        cfg.people.detector = detector
    if model:
        cfg.people.model = model
    result = audit_counting(video, truth, cfg, line=line, fps=fps)
    if as_json:
        click.echo(json.dumps(result))
        return
    for k, v in result.items():
        click.echo(f"{k}: {v}")
    if result.get("truth_below_smallest", 0) >= SHORT_WARNING:
        click.echo(
            f"note: {result['truth_below_smallest']:.0%} of the people in the truth are shorter "
            f"than the smallest person looked for ({result['smallest_person_px']} px); set "
            "people.min_person_px in the config for this camera (detection time grows with "
            "the square of how much lower), or fetch a network, which has no such floor: "
            "workbench models --fetch centernet"
        )
