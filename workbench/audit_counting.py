"""``workbench audit counting``: people detection, tracking and counting against ground truth.

The truth is a MOTChallenge file (``frame,id,x,y,w,h,conf,...``, 1-based frames; rows
with conf 0 are ignored; with 9 columns, as MOT16/17/20, only class 1, pedestrians, is
scored, and predictions on the distractor classes are left out, as MOTChallenge does).
The video may be a MOTChallenge sequence folder (``seqinfo.ini``, frames in ``img1``), whose
``gt/gt.txt`` is then the truth unless another is given.
Tracking is scored with py-motmetrics (MOTA, IDF1: boxes match at IoU >= 0.5); the
count is the number of tracked people in each frame against the true number.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.config import Config
from workbench.config_people import LineConfig
from workbench.counting import LineCounter, foot_points
from workbench.detections import box_iou
from workbench.errors import WorkbenchError
from workbench.people import make_detector, smallest_person
from workbench.person_tracking import PersonTracker
from workbench.sources import mot_sequence, open_source

MATCH_IOU = 0.5
# MOT16/17/20 classes: person on a vehicle, static person, distractor, reflection
DISTRACTORS = [2, 7, 8, 12]


def _load_mot(path: str | Path) -> np.ndarray:
    try:
        raw = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as exc:
        raise WorkbenchError(
            f"{path}: cannot read as MOTChallenge csv (frame,id,x,y,w,h,...): {exc}"
        ) from None
    if raw.shape[1] < 6:
        raise WorkbenchError(f"{path}: needs at least 6 columns frame,id,x,y,w,h")
    return raw


def _boxes(r: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frame": r[:, 0].astype(int) - 1,
            "id": r[:, 1].astype(int),
            "x1": r[:, 2],
            "y1": r[:, 3],
            "x2": r[:, 2] + r[:, 4],
            "y2": r[:, 3] + r[:, 5],
        }
    )


def read_mot(path: str | Path) -> pd.DataFrame:
    """Ground truth as frame (0-based video frame), id, x1, y1, x2, y2."""
    raw = _load_mot(path)
    keep = np.ones(len(raw), bool)
    if raw.shape[1] >= 7:
        keep &= raw[:, 6] != 0
    if raw.shape[1] == 9:
        keep &= raw[:, 7] == 1
    return _boxes(raw[keep])


def read_distractors(path: str | Path) -> pd.DataFrame:
    """The boxes of a MOT16/17/20 truth (9 columns) that are people but not to be scored:
    on a vehicle, standing still, distractors, reflections (``DISTRACTORS``)."""
    raw = _load_mot(path)
    if raw.shape[1] != 9:
        return _boxes(raw[:0])
    return _boxes(raw[np.isin(raw[:, 7], DISTRACTORS)])


def drop_distractors(
    pred: pd.DataFrame, truth: pd.DataFrame, distractors: pd.DataFrame
) -> pd.DataFrame:
    """``pred`` less the boxes that match a distractor, as MOTChallenge's evaluation does:
    in each frame, predictions are matched one to one (IoU >= 0.5, the most overlap in all) to
    the true people and the distractors together; those matched to a distractor are
    neither right nor wrong, so they are left out."""
    from scipy.optimize import linear_sum_assignment

    if not len(distractors) or not len(pred):
        return pred
    cols = ["x1", "y1", "x2", "y2"]
    truth_by = dict(tuple(truth.groupby("frame")))
    drop = []
    for f, d in distractors.groupby("frame"):
        p = pred[pred["frame"] == f]
        if not len(p):
            continue
        g = pd.concat([truth_by.get(f, truth.iloc[:0]), d])
        iou = box_iou(g[cols].to_numpy(float), p[cols].to_numpy(float))
        rows, found = linear_sum_assignment(np.where(iou >= MATCH_IOU, iou, 0), maximize=True)
        hit = iou[rows, found] >= MATCH_IOU
        on_distractor = rows >= len(g) - len(d)
        drop += p.index[found[hit & on_distractor]].tolist()
    return pred.drop(index=drop)


def audit_line(line: tuple[float, float, float, float]) -> LineConfig:
    """A counting line from x1,y1,x2,y2; 'in' is towards the right-hand side walking from 1 to 2."""
    x1, y1, x2, y2 = line
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    dx, dy = x2 - x1, y2 - y1
    norm = max(np.hypot(dx, dy), 1e-9)
    return LineConfig(
        name="audit", points=[[x1, y1], [x2, y2]], inside=[mx - dy / norm, my + dx / norm]
    )


def track_video(
    video: str | Path, config: Config, fps: float | None = None
) -> tuple[pd.DataFrame, dict]:
    """Detect and track people in ``video`` (every frame, or ``fps`` per second).

    Returns rows frame, id, x1, y1, x2, y2 and facts: frames, fps, detector, seconds.
    """
    source = open_source(video)
    if source.stills:
        source.close()
        raise WorkbenchError(
            f"{video}: a folder of separate photos has no frame rate to track people at; "
            "give a video file, or a MOTChallenge sequence folder (seqinfo.ini with frameRate)"
        )
    step = 1 if fps is None else max(1, round(source.fps / fps))
    cfg = config.people
    detector = make_detector(cfg, Path(cfg.models_dir), source.fps / step)
    tracker = PersonTracker(source.fps / step, cfg.track_max_gap_s)
    rows, frames, busy, height = [], [], 0.0, 0
    try:
        for frame in source.frames(step):
            height = height or frame.image.shape[0]
            t0 = time.perf_counter()
            dets = tracker.follow(detector, frame.image, frame.index / source.fps)
            busy += time.perf_counter() - t0
            frames.append(frame.index)
            rows += [
                (frame.index, int(t), *map(float, b)) for t, b in zip(dets.tracker_id, dets.xyxy)
            ]
    finally:
        source.close()
    facts = {
        "frames": len(frames),
        "fps": round(source.fps / step, 3),
        "video_fps": source.fps,
        "detector": detector.name if detector.name != "dnn" else f"dnn:{detector.spec.name}",
        "ms_per_frame": round(1000 * busy / max(1, len(frames)), 1),
        # people shorter than this are not looked for (a network has no such floor)
        "smallest_person_px": None
        if detector.name == "dnn" or not height
        else round(smallest_person(cfg.min_person_px, height)),
        "processed": frames,
    }
    return pd.DataFrame(rows, columns=["frame", "id", "x1", "y1", "x2", "y2"]), facts


def _crossings(tracks: pd.DataFrame, line: LineConfig, fps: float, confirm_s: float) -> dict:
    counter = LineCounter(line, confirm_s)
    events = []
    for frame, group in tracks.sort_values("frame").groupby("frame"):
        feet = foot_points(group[["x1", "y1", "x2", "y2"]].to_numpy(float))
        events += counter.update(frame / fps, group["id"].to_numpy(), feet)
    events += counter.end(tracks["id"].unique().tolist())
    return {d: sum(e.direction == d for e in events) for d in ("in", "out")}


def score(truth: pd.DataFrame, pred: pd.DataFrame, frames: list[int]) -> dict:
    """MOTA, IDF1 (py-motmetrics) and count error over ``frames``."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    errors = []
    cols = ["x1", "y1", "x2", "y2"]
    truth_by = dict(tuple(truth.groupby("frame")))
    pred_by = dict(tuple(pred.groupby("frame")))
    empty = truth.iloc[:0]
    for f in frames:
        g, p = truth_by.get(f, empty), pred_by.get(f, empty)
        dist = np.full((len(g), len(p)), np.nan)
        if len(g) and len(p):
            iou = box_iou(g[cols].to_numpy(float), p[cols].to_numpy(float))
            dist = np.where(iou >= MATCH_IOU, 1 - iou, np.nan)
        acc.update(g["id"].tolist(), p["id"].tolist(), dist)
        errors.append(abs(len(g) - len(p)))
    summary = mm.metrics.create().compute(
        acc, metrics=["mota", "idf1", "num_switches", "precision", "recall"], name="all"
    )
    r = summary.loc["all"]
    scored = set(frames)
    return {
        "people_true": int(truth[truth["frame"].isin(scored)]["id"].nunique()),
        "people_pred": int(pred[pred["frame"].isin(scored)]["id"].nunique()),
        "count_mae": round(float(np.mean(errors)), 3) if errors else None,
        "mota": round(float(r["mota"]), 3),
        "idf1": round(float(r["idf1"]), 3),
        "id_switches": int(r["num_switches"]),
        "precision": round(float(r["precision"]), 3),
        "recall": round(float(r["recall"]), 3),
    }


def audit_counting(
    video: str | Path,
    truth: str | Path | None,
    config: Config,
    line: tuple[float, float, float, float] | None = None,
    fps: float | None = None,
) -> dict:
    """Score people counting on ``video`` against MOTChallenge ground truth ``truth``
    (None: the sequence's own ``gt/gt.txt``)."""
    started = time.perf_counter()
    if truth is None:
        seq = mot_sequence(video)
        truth = None if seq is None else seq.folder / "gt" / "gt.txt"
        if truth is None or not truth.is_file():
            raise WorkbenchError(
                f"{video}: give the ground truth (--truth): only a MOTChallenge sequence "
                "folder with gt/gt.txt has its own"
            )
    gt = read_mot(truth)
    pred, facts = track_video(video, config, fps)
    pred = drop_distractors(pred, gt, read_distractors(truth))
    frames = facts.pop("processed")
    result = {**facts, **score(gt, pred, frames)}
    if facts["smallest_person_px"] is not None:
        scored = gt[gt["frame"].isin(set(frames))]
        short = (scored["y2"] - scored["y1"]) < facts["smallest_person_px"]
        result["truth_below_smallest"] = round(float(short.mean()), 3) if len(scored) else 0.0
    if line is not None:
        cfg = audit_line(line)
        confirm = config.people.confirm_s
        gt_seen = gt[gt["frame"].isin(set(frames))]
        true = _crossings(gt_seen, cfg, result["video_fps"], confirm)
        found = _crossings(pred, cfg, result["video_fps"], confirm)
        result.update(
            crossings_true=true["in"] + true["out"],
            crossings_pred=found["in"] + found["out"],
            crossings_in_true=true["in"],
            crossings_in_pred=found["in"],
        )
    result["wall_s"] = round(time.perf_counter() - started, 2)
    return result
