"""Accuracy audits a shop runs on its own data.

``audit_faces`` replays labelled face images, in the order given, through the
same identity logic as the pipeline (quality gate, open-set gallery decision,
exemplar updates), each image as a new sighting, and scores the customer ids it
hands out against the true identities.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from workbench.config import Config
from workbench.errors import WorkbenchError
from workbench.faces import embed, photo_faces
from workbench.identity import Gallery, MatchRule


def read_labels(path: str | Path) -> pd.DataFrame:
    """A ``file,identity`` CSV (extra columns ignored); clear errors for anything else."""
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such labels file") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise WorkbenchError(f"{path}: not a CSV file ({exc})") from None
    missing = {"file", "identity"} - set(df.columns)
    if missing:
        raise WorkbenchError(
            f"{path}: needs columns file,identity (missing {', '.join(sorted(missing))}); "
            f"found {', '.join(df.columns)}"
        )
    empty = df.index[(df["file"].str.strip() == "") | (df["identity"].str.strip() == "")]
    if len(empty):
        lines = ", ".join(str(i + 2) for i in empty[:10])
        raise WorkbenchError(f"{path}: empty file or identity on line(s) {lines}")
    return df[["file", "identity"]]


def pair_scores(truth: list[str], pred: list[str | None]) -> dict:
    """Pairwise precision/recall/F1 of a clustering; ``None`` predictions are singletons."""
    labels = [p if p is not None else f"\0{i}" for i, p in enumerate(pred)]
    tp = fp = fn = 0
    for (ta, pa_), (tb, pb) in itertools.combinations(zip(truth, labels, strict=True), 2):
        same_t, same_p = ta == tb, pa_ == pb
        tp += same_t and same_p
        fp += same_p and not same_t
        fn += same_t and not same_p
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pair_precision": precision, "pair_recall": recall, "pair_f1": f1}


def identity_scores(truth: list[str], pred: list[str | None]) -> dict:
    """Pair scores, false merges, splits and how often returning people got their first id."""
    held: dict[str, set[str]] = {}
    for t, p in zip(truth, pred, strict=True):
        if p is not None:
            held.setdefault(p, set()).add(t)
    ids_of: dict[str, set[str]] = {}
    for t, p in zip(truth, pred, strict=True):
        if p is not None:
            ids_of.setdefault(t, set()).add(p)
    first: dict[str, str] = {}
    returns = hits = 0
    for t, p in zip(truth, pred, strict=True):
        if t in first:
            returns += 1
            hits += p == first[t]
        elif p is not None:
            first[t] = p
    return {
        "people_true": len(set(truth)),
        "customers_pred": len(held),
        **pair_scores(truth, pred),
        "false_merges": sum(len(v) > 1 for v in held.values()),
        "people_split": sum(len(v) > 1 for v in ids_of.values()),
        "returns": returns,
        "returning_recall": hits / returns if returns else 1.0,
    }


def audit_faces(labels: str | Path, root: str | Path | None = None, config: Config | None = None):
    """Score the identity logic on labelled images (see the module docstring)."""
    cfg = (config or Config()).recognition
    table = read_labels(labels)
    root = Path(root) if root is not None else Path(labels).parent
    gallery = Gallery(cfg.gallery_size)
    counter = itertools.count(1)
    problems: dict[str, list[str]] = {
        "missing": [],
        "unreadable": [],
        "no_face": [],
        "multiple_faces": [],
        "low_quality": [],
    }
    pred: list[str | None] = []
    distances: list[float | None] = []
    t0 = time.perf_counter()
    for file in table["file"]:
        path = root / file
        image = cv2.imread(str(path)) if path.is_file() else None
        if image is None:
            problems["missing" if not path.exists() else "unreadable"].append(file)
            pred.append(None)
            distances.append(None)
            continue
        rgb, faces = photo_faces(image)
        if not faces:
            problems["no_face"].append(file)
            pred.append(None)
            distances.append(None)
            continue
        if len(faces) > 1:
            problems["multiple_faces"].append(file)  # the largest face is used
        face = faces[0]
        if face.quality < cfg.min_face_quality:
            problems["low_quality"].append(file)
            pred.append(None)
            distances.append(None)
            continue
        decision = gallery.decide(
            embed(rgb, face.shape)[None],
            np.array([face.quality]),
            MatchRule.from_config(cfg),
            lambda: f"C{next(counter):05d}",
        )
        pred.append(decision.customer_id)
        distances.append(decision.distance)
    truth = table["identity"].tolist()
    scores = identity_scores(truth, pred)
    confusions = Counter((p, t) for t, p in zip(truth, pred, strict=True) if p is not None)
    return {
        "images": len(table),
        "faces_found": len(table)
        - len(problems["missing"])
        - len(problems["unreadable"])
        - len(problems["no_face"]),
        "identified": sum(p is not None for p in pred),
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()},
        "match_distance": cfg.match_distance,
        "min_face_quality": cfg.min_face_quality,
        "problems": {k: v for k, v in problems.items() if v},
        "assignments": [
            {"file": f, "identity": t, "customer_id": p, "distance": d}
            for f, t, p, d in zip(table["file"], truth, pred, distances, strict=True)
        ],
        "customers": {
            p: sorted({t for (pp, t) in confusions if pp == p})
            for p in sorted({p for p, _ in confusions})
        },
        "wall_s": round(time.perf_counter() - t0, 2),
    }
