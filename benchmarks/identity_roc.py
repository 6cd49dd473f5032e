"""ROC of dlib face-embedding distances on the shared face sets, and a held-out calibration.

Measures what ``recognition.match_distance`` does on real, labelled faces:

* genuine pairs (two images of one person) and impostor pairs (two different people)
  per set, the true match rate (TMR: genuine pairs within the threshold) and false
  match rate (FMR: impostor pairs within it) for thresholds 0.30..0.70, and the EER;
* a two-fold calibration with a held-out check: the threshold is chosen on one fold
  (largest threshold with FMR <= 1e-3, or no false match at all when the fold has
  fewer than 1000 impostor pairs, minus a margin for the sampling error of that
  choice) and its TMR/FMR are read on the other fold;
* the open-set sequential use: each labelled image, in file order, becomes one track
  decided by ``workbench.identity.Gallery``; pair precision/recall/F1 of the ids it
  hands out, false merges (an id holding more than one person) and split people; the
  faces of each group photo go through a fresh gallery, where they can only be merged.

Faces below ``--min-quality`` (the pipeline's ``min_face_quality``) are left out, as the
pipeline never embeds them. Copies of one photograph are used once (see SAME_PHOTOGRAPH).

Sets (from ``../shared/data``; see its README):

* ``johns``: dlib's 5 people x 11 aligned face chips;
* ``bald_guys``: dlib's collage of 24 faces of 4 people (Vin Diesel, Jason Statham,
  Dwayne Johnson, Bruce Willis); upstream only says "4 people", the per-face labels
  below were assigned by eye for this benchmark;
* ``dlib_groups``: the PASCAL VOC group photos in dlib's examples/faces, impostors only
  (the faces of one photo are different people; photos are not paired with each other);
* ``ageitgey``: face_recognition's single-face photos of 6 named people;
* ``compreface``: CompreFace's photos of persons A (6), B (2) and C (1);
* ``compreface_groups``: CompreFace's group photos, impostors only, within a photo.

Fold A is the dlib sets, fold B the others. Within a fold, labelled people of different
sets are also impostor pairs: johns, bald_guys and ageitgey are named people, and
CompreFace's A, B and C were checked by eye against the six ageitgey people.

Run from the project root::

    python benchmarks/identity_roc.py [--json OUT.json] [--plot OUT.html]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
THRESHOLDS = np.round(np.arange(0.30, 0.70 + 1e-9, 0.01), 2)
FINE = np.round(np.arange(0.0, 1.2 + 1e-9, 0.001), 3)  # for the EER and the plot
TARGET_FMR = 1e-3
MIN_IMPOSTOR_PAIRS = 1000  # fewer than this: a rate of 1e-3 cannot be measured, require zero
BOOTSTRAP = 1000
FOLDS = {
    "A": ["johns", "bald_guys", "dlib_groups"],
    "B": ["ageitgey", "compreface", "compreface_groups"],
}

# bald_guys.jpg (1986 x 1545): face centre as a fraction of width and height, and who it is
# (by eye). Detected faces are matched to the nearest of these points.
BALD_GUYS = [
    (0.073, 0.106, "vin_diesel"),
    (0.316, 0.130, "vin_diesel"),
    (0.194, 0.191, "vin_diesel"),
    (0.073, 0.298, "vin_diesel"),
    (0.325, 0.334, "vin_diesel"),
    (0.068, 0.894, "vin_diesel"),
    (0.200, 0.074, "jason_statham"),
    (0.474, 0.130, "jason_statham"),
    (0.203, 0.341, "jason_statham"),
    (0.484, 0.322, "jason_statham"),
    (0.073, 0.502, "jason_statham"),
    (0.255, 0.604, "jason_statham"),
    (0.799, 0.176, "dwayne_johnson"),
    (0.946, 0.319, "dwayne_johnson"),
    (0.859, 0.486, "dwayne_johnson"),
    (0.587, 0.898, "dwayne_johnson"),
    (0.763, 0.911, "dwayne_johnson"),
    (0.951, 0.898, "dwayne_johnson"),
    (0.437, 0.586, "bruce_willis"),
    (0.577, 0.550, "bruce_willis"),
    (0.071, 0.691, "bruce_willis"),
    (0.600, 0.741, "bruce_willis"),
    (0.228, 0.880, "bruce_willis"),
    (0.437, 0.862, "bruce_willis"),
]
BALD_TOLERANCE = 0.04  # a detected face centre must be this close to a label (same units)

# Copies of one photograph (resized, cropped or re-encoded; checked by eye, pair distances
# 0.04-0.12): they would count as easy genuine pairs, so only the first copy is used.
# Byte-identical files are dropped as well (one in johns).
SAME_PHOTOGRAPH = {
    "examples/obama_small.jpg": "examples/obama.jpg",
    "examples/obama-240p.jpg": "examples/obama.jpg",
    "examples/obama-480p.jpg": "examples/obama.jpg",
    "examples/obama-720p.jpg": "examples/obama.jpg",
    "examples/obama-1080p.jpg": "examples/obama.jpg",
    "tests/test_images/32bit.png": "examples/obama2.jpg",
}


@dataclass
class Face:
    set: str
    unit: str  # the image (labelled sets) or the photo (impostor-only sets)
    identity: str | None  # None: impostor-only face (only paired within its photo)
    quality: float
    emb: np.ndarray


# ---------------------------------------------------------------- loading and embedding


def _faces(path: Path):
    from workbench.faces import photo_faces

    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path.name}; is the shared data complete?")
    rgb, faces = photo_faces(image)
    return image, rgb, faces


def _embed(rgb, face) -> np.ndarray:
    from workbench.faces import embed

    return embed(rgb, face.shape)


def _labelled(name: str, table: pd.DataFrame, root: Path, log: dict) -> list[Face]:
    out, seen = [], set()
    for file, identity in sorted(zip(table["file"], table["identity"], strict=True)):
        digest = hashlib.sha256((root / file).read_bytes()).hexdigest()
        if file in SAME_PHOTOGRAPH or digest in seen:
            log["same_photograph"].append(file)
            continue
        seen.add(digest)
        _, rgb, faces = _faces(root / file)
        if not faces:
            log["no_face"].append(file)
            continue
        f = faces[0]  # largest
        out.append(Face(name, file, f"{name}:{identity}", f.quality, _embed(rgb, f)))
    return out


def _to_original(box, working: tuple[int, int], original: tuple[int, int]) -> np.ndarray:
    """A box centre in the original photo: photo_faces scales the photo, then pads it equally
    on every side; both are recovered from the two shapes (needs a non-square photo)."""
    (hw, ww), (h0, w0) = working, original
    scale = (ww - hw) / (w0 - h0)
    pad = (ww - w0 * scale) / 2
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return np.array([(cx - pad) / scale / w0, (cy - pad) / scale / h0])


def _bald_guys(data: Path, log: dict) -> list[Face]:
    image, rgb, faces = _faces(data / "dlib-examples/examples/faces/bald_guys.jpg")
    points = np.array([p[:2] for p in BALD_GUYS])
    out, used = [], set()
    for i, f in enumerate(faces):
        c = _to_original(f.box, rgb.shape[:2], image.shape[:2])
        d = np.linalg.norm(points - c, axis=1)
        j = int(d.argmin())
        if d[j] > BALD_TOLERANCE or j in used:
            log["unlabelled"].append(f"bald_guys.jpg face {i}")
            continue
        used.add(j)
        who = f"bald:{BALD_GUYS[j][2]}"
        out.append(Face("bald_guys", f"bald_guys#{j:02d}", who, f.quality, _embed(rgb, f)))
    return out


def _groups(name: str, paths: list[Path], log: dict) -> list[Face]:
    out = []
    for path in paths:
        _, rgb, faces = _faces(path)
        if len(faces) < 2:
            log["group_under_2"].append(path.name)
            continue
        out += [Face(name, path.name, None, f.quality, _embed(rgb, f)) for f in faces]
    return out


def load_sets(data: Path) -> tuple[dict[str, list[Face]], dict]:
    log: dict[str, list[str]] = {
        "same_photograph": [],
        "no_face": [],
        "unlabelled": [],
        "group_under_2": [],
    }
    dlib_dir = data / "dlib-examples"
    johns = pd.read_csv(dlib_dir / "johns_identities.csv")
    age = pd.read_csv(data / "face-recognition-ageitgey/identities.csv")
    age = age[age["n_known_faces"] == 1]
    cf = pd.read_csv(data / "compreface-sample-images/faces_annotations.csv", dtype=str)
    cf = cf[cf["identity"].notna() & (cf["identity"].str.strip() != "")]
    cf_images = data / "compreface-sample-images/images"
    dlib_groups = [
        p for p in sorted((dlib_dir / "examples/faces").glob("*.jpg")) if p.name != "bald_guys.jpg"
    ]
    cf_groups = [
        p
        for p in sorted(cf_images.glob("0*_*.jpg"))
        if (m := re.fullmatch(r"\d+_(\d+)\.jpg", p.name)) and int(m.group(1)) >= 2
    ]
    sets = {
        "johns": _labelled("johns", johns, dlib_dir, log),
        "bald_guys": _bald_guys(data, log),
        "dlib_groups": _groups("dlib_groups", dlib_groups, log),
        "ageitgey": _labelled("ageitgey", age, data / "face-recognition-ageitgey", log),
        "compreface": _labelled("compreface", cf, cf_images, log),
        "compreface_groups": _groups("compreface_groups", cf_groups, log),
    }
    return sets, log


# ---------------------------------------------------------------- pairs and rates


@dataclass
class Pairs:
    """Genuine and impostor pairs of a list of faces: face indices and distances."""

    gi: np.ndarray
    gj: np.ndarray
    gd: np.ndarray
    ii: np.ndarray
    ij: np.ndarray
    id: np.ndarray
    ic: np.ndarray  # impostor pair of companions: two faces of one group photo


def make_pairs(faces: list[Face]) -> Pairs:
    emb = np.stack([f.emb for f in faces]).astype(np.float64)
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)
    ident = np.array([f.identity or "" for f in faces], object)
    unit = np.array([f.unit for f in faces], object)
    labelled = np.array([f.identity is not None for f in faces])
    i, j = np.triu_indices(len(faces), 1)
    both = labelled[i] & labelled[j]
    genuine = both & (ident[i] == ident[j])
    companions = ~labelled[i] & ~labelled[j] & (unit[i] == unit[j])
    impostor = (both & (ident[i] != ident[j])) | companions
    dij = d[i, j]
    g, m = genuine, impostor
    return Pairs(i[g], j[g], dij[g], i[m], j[m], dij[m], companions[m])


def rates(p: Pairs, thresholds=THRESHOLDS, w: np.ndarray | None = None) -> dict:
    """Genuine/impostor counts within each threshold; ``w`` weights each face (bootstrap)."""
    gw = np.ones(len(p.gd)) if w is None else w[p.gi] * w[p.gj]
    iw = np.ones(len(p.id)) if w is None else w[p.ii] * w[p.ij]
    edges = np.asarray(thresholds)
    tm = np.array([gw[p.gd <= t].sum() for t in edges])
    fm = np.array([iw[p.id <= t].sum() for t in edges])
    cw = iw * p.ic
    fm_c = np.array([cw[p.id <= t].sum() for t in edges])
    return {
        "genuine": gw.sum(),
        "impostor": iw.sum(),
        "tm": tm,
        "fm": fm,
        "companions": cw.sum(),
        "fm_companions": fm_c,
    }


def _cum(d: np.ndarray, w: np.ndarray, grid: np.ndarray) -> np.ndarray:
    order = np.argsort(d)
    idx = np.searchsorted(d[order], grid, side="right")
    c = np.concatenate([[0.0], np.cumsum(w[order])])
    return c[idx]


def eer(p: Pairs) -> tuple[float, float]:
    """Equal error rate and its threshold (on a 0.001 grid)."""
    if not len(p.gd) or not len(p.id):
        return float("nan"), float("nan")
    fnmr = 1 - _cum(p.gd, np.ones(len(p.gd)), FINE) / len(p.gd)
    fmr = _cum(p.id, np.ones(len(p.id)), FINE) / len(p.id)
    k = int(np.argmin(np.abs(fnmr - fmr)))
    return float((fnmr[k] + fmr[k]) / 2), float(FINE[k])


def calibrate(r: dict) -> float | None:
    """Largest threshold meeting the FMR target on these counts (None: not even the smallest)."""
    if r["impostor"] >= MIN_IMPOSTOR_PAIRS:
        ok = r["fm"] / r["impostor"] <= TARGET_FMR
    else:
        ok = r["fm"] == 0
    # counts grow with the threshold, so the admissible thresholds are a prefix
    bad = np.flatnonzero(~ok)
    last = (bad[0] if len(bad) else len(THRESHOLDS)) - 1
    return float(THRESHOLDS[last]) if last >= 0 else None


def bootstrap_thresholds(faces: list[Face], p: Pairs, reps: int, seed: int = 0) -> np.ndarray:
    """The calibrated threshold on resampled folds: images (labelled) and photos (groups)
    drawn with replacement, so pairs that share an image vary together. A resample where
    even the smallest threshold fails counts as one step below the grid."""
    rng = np.random.default_rng(seed)
    units = sorted({(f.set, f.unit) for f in faces})
    index = {u: k for k, u in enumerate(units)}
    of = np.array([index[(f.set, f.unit)] for f in faces])
    out = []
    for _ in range(reps):
        m = np.bincount(rng.integers(0, len(units), len(units)), minlength=len(units))
        t = calibrate(rates(p, w=m[of].astype(float)))
        out.append(THRESHOLDS[0] - 0.01 if t is None else t)
    return np.array(out)


# ---------------------------------------------------------------- open-set replay


def replay(faces: list[Face], threshold: float, keep: int = 10) -> list[str]:
    """Customer ids handed out when each face arrives, in order, as one track.

    Impostor-only faces (group photos) go to a fresh gallery per photo, as if the people
    of one photo came in one after the other: there they can only be falsely merged.
    """
    from workbench.identity import Gallery

    galleries: dict[str, Gallery] = {}
    counter = count(1)

    def new_id() -> str:
        return f"C{next(counter):04d}"

    out = []
    for f in faces:
        g = galleries.setdefault("" if f.identity else f.unit, Gallery(keep=keep))
        out.append(g.decide(f.emb[None], np.array([f.quality]), threshold, new_id).customer_id)
    return out


def _truth(faces: list[Face]) -> list[str]:
    return [f.identity or f"{f.unit}#{k}" for k, f in enumerate(faces)]


def clustering_scores(truth: list[str], pred: list[str]) -> dict:
    t, p = np.array(truth, object), np.array(pred, object)
    i, j = np.triu_indices(len(t), 1)
    same_t, same_p = t[i] == t[j], p[i] == p[j]
    tp = int((same_t & same_p).sum())
    fp = int((~same_t & same_p).sum())
    fn = int((same_t & ~same_p).sum())
    nan = float("nan")  # undefined: no pair of one person (group photos)
    precision = tp / (tp + fp) if tp + fp else (1.0 if tp + fn else nan)
    recall = tp / (tp + fn) if tp + fn else nan
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    held = pd.Series(t).groupby(p).nunique()
    spread = pd.Series(p).groupby(t).nunique()
    return {
        "people": int(len(set(truth))),
        "ids": int(len(set(pred))),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_merges": int((held > 1).sum()),
        "people_split": int((spread > 1).sum()),
    }


def _all_defined(values: list[float]) -> bool:
    return not any(v != v for v in values)


def replay_table(faces: list[Face], orders: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(len(faces)) for _ in range(orders)]
    truth = _truth(faces)
    rows = []
    for t in THRESHOLDS:
        s = clustering_scores(truth, replay(faces, float(t)))
        if perms:
            rnd = [
                clustering_scores([truth[k] for k in o], replay([faces[k] for k in o], float(t)))
                for o in perms
            ]
            f1s = [r["f1"] for r in rnd]
            s["f1_random_orders"] = float(np.mean(f1s)) if _all_defined(f1s) else float("nan")
            s["false_merges_random_orders"] = float(np.mean([r["false_merges"] for r in rnd]))
        rows.append({"threshold": float(t), **s})
    return rows


# ---------------------------------------------------------------- report


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import dlib

    py = platform.python_version()
    return f"{os.cpu_count()} cores, {cpu}, Python {py}, dlib {dlib.__version__}"


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f}%"


def _fm(k: float, n: float) -> str:
    return f"{int(k)}/{int(n)}" if n else "-"


def _num(x: float) -> str:
    return "-" if x != x else f"{x:.3f}"


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _at(r: dict, t: float) -> tuple[float, float, float, float]:
    k = int(np.flatnonzero(np.isclose(THRESHOLDS, t))[0])
    return r["tm"][k], r["genuine"], r["fm"][k], r["impostor"]


def run(args) -> dict:
    t0 = time.perf_counter()
    sets, log = load_sets(args.data)
    gated = {
        k: [f for f in v if f.quality < args.min_quality] for k, v in sets.items()
    }  # below the quality gate: never embedded by the pipeline, left out here
    sets = {k: [f for f in v if f.quality >= args.min_quality] for k, v in sets.items()}
    embed_s = time.perf_counter() - t0

    per_set = {}
    for name, faces in sets.items():
        p = make_pairs(faces) if len(faces) > 1 else None
        e, et = eer(p) if p else (float("nan"), float("nan"))
        per_set[name] = {
            "faces": len(faces),
            "gated": len(gated[name]),
            "units": len({f.unit for f in faces}),
            "identities": len({f.identity for f in faces if f.identity}),
            "pairs": p,
            "rates": rates(p) if p else None,
            "eer": e,
            "eer_threshold": et,
        }
    folds = {}
    for fold, names in FOLDS.items():
        faces = [f for n in names for f in sets[n]]
        p = make_pairs(faces)
        r = rates(p)
        boot = bootstrap_thresholds(faces, p, args.bootstrap)
        raw = calibrate(r)
        low = float(np.percentile(boot, 5))
        margin = max(0.0, round(raw - low, 2)) if raw is not None else float("nan")
        e, et = eer(p)
        folds[fold] = {
            "faces": faces,
            "pairs": p,
            "rates": r,
            "eer": e,
            "eer_threshold": et,
            "raw": raw,
            "boot_p5": low,
            "boot_median": float(np.median(boot)),
            "boot_below_grid": int((boot < THRESHOLDS[0]).sum()),
            "margin": margin,
            "chosen": None if raw is None else round(raw - margin, 2),
        }
    replays = {}
    for name in sets:
        replays[name] = replay_table(sets[name], args.orders)
    for fold, names in FOLDS.items():
        replays[f"fold {fold}"] = replay_table([f for n in names for f in sets[n]], args.orders)
    return {
        "sets": per_set,
        "folds": folds,
        "replays": replays,
        "log": log,
        "embed_s": embed_s,
        "wall_s": time.perf_counter() - t0,
    }


def markdown(res: dict, args) -> str:
    out = []
    w = out.append
    w("### Sets (faces at or above min_face_quality; pairs)\n")
    w(
        _row(
            "set", "fold", "images (groups: photos)", "people", "faces", "gated", "genuine",
            "impostor", "EER (at)",
        )
    )  # fmt: skip
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, s in res["sets"].items():
        fold = next(k for k, v in FOLDS.items() if name in v)
        r = s["rates"]
        people = s["identities"] or "-"
        gen, imp = (int(r["genuine"]), int(r["impostor"])) if r else (0, 0)
        e = f"{_pct(s['eer'])} ({s['eer_threshold']:.3f})" if gen and imp else "-"
        w(_row(name, fold, s["units"], people, s["faces"], s["gated"], gen, imp, e))
    for fold, f in res["folds"].items():
        r = f["rates"]
        e = f"{_pct(f['eer'])} ({f['eer_threshold']:.3f})"
        name = f"**fold {fold}** (incl. cross-set)"
        w(_row(name, fold, "", "", len(f["faces"]), "", int(r["genuine"]), int(r["impostor"]), e))

    w("\n### ROC per fold (TMR = genuine pairs within t; FM = impostor pairs within t)\n")
    w(
        "Impostors are strangers (labelled people, different identities) or companions "
        "(two faces of one group photo).\n"
    )
    w("| t | A TMR | A FM | B TMR | B FM | all TMR | all FM | FM strangers | FM companions |")
    w("| --- " * 9 + "|")
    a, b = res["folds"]["A"]["rates"], res["folds"]["B"]["rates"]
    for k, t in enumerate(THRESHOLDS):
        tm, g = a["tm"][k] + b["tm"][k], a["genuine"] + b["genuine"]
        fm, n = a["fm"][k] + b["fm"][k], a["impostor"] + b["impostor"]
        fmc = a["fm_companions"][k] + b["fm_companions"][k]
        nc = a["companions"] + b["companions"]
        w(
            f"| {t:.2f} | {_pct(a['tm'][k] / a['genuine'])} | {_fm(a['fm'][k], a['impostor'])} "
            f"| {_pct(b['tm'][k] / b['genuine'])} | {_fm(b['fm'][k], b['impostor'])} "
            f"| {_pct(tm / g)} | {_fm(fm, n)} | {_fm(fm - fmc, n - nc)} | {_fm(fmc, nc)} |"
        )

    show = [0.40, 0.45, 0.50, 0.55, 0.60]
    w("\n### ROC per set (TMR / false matches) at a few thresholds\n")
    w("| set | " + " | ".join(f"{t:.2f}" for t in show) + " |")
    w("| --- |" + " --- |" * len(show))
    for name, s in res["sets"].items():
        if not s["rates"]:
            continue
        cells = []
        for t in show:
            tm, g, fm, n = _at(s["rates"], t)
            cells.append(f"{_pct(tm / g) if g else '-'} / {_fm(fm, n)}")
        w(f"| {name} | " + " | ".join(cells) + " |")

    w(
        f"\n### Calibration (rule: largest t with FMR <= {TARGET_FMR:g}, or no false match when "
        f"fewer than {MIN_IMPOSTOR_PAIRS} impostor pairs; margin = t minus the 5th percentile of "
        f"t over {args.bootstrap} image-level bootstrap resamples)\n"
    )
    w(
        _row(
            "calibrate on", "t raw", "bootstrap p5 / median", "margin", "t chosen",
            "calib TMR / FM", "held-out", "held-out TMR / FM at t chosen", "held-out at t raw",
        )
    )  # fmt: skip
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for cal, held in (("A", "B"), ("B", "A")):
        c, h = res["folds"][cal], res["folds"][held]
        if c["chosen"] is None:
            w(f"| {cal} | none | | | | | {held} | | |")
            continue
        ct = _at(c["rates"], c["chosen"])
        ht = _at(h["rates"], c["chosen"])
        hr = _at(h["rates"], c["raw"])
        w(
            f"| {cal} | {c['raw']:.2f} | {c['boot_p5']:.2f} / {c['boot_median']:.2f} "
            f"| {c['margin']:.2f} | {c['chosen']:.2f} "
            f"| {_pct(ct[0] / ct[1])} / {_fm(ct[2], ct[3])} | {held} "
            f"| {_pct(ht[0] / ht[1])} / {_fm(ht[2], ht[3])} "
            f"| {_pct(hr[0] / hr[1])} / {_fm(hr[2], hr[3])} |"
        )

    w("\n### Open-set replay (Gallery(keep=10).decide, one image = one track, file order)\n")
    w(
        "precision/recall/F1 over image pairs; merges = ids holding >1 person; "
        "split = people under >1 id. Group photos: a fresh gallery per photo, so only merges."
    )
    shown = [round(t, 2) for t in np.arange(0.30, 0.70 + 1e-9, 0.05)]
    shown = sorted({*shown, *(f["chosen"] for f in res["folds"].values() if f["chosen"])})
    rnd = " | F1 random orders (mean) | merges random orders (mean)" if args.orders else ""
    w(f"\n| set | t | people | ids | precision | recall | F1 | merges | split{rnd} |")
    w("| --- " * (9 + 2 * bool(args.orders)) + "|")
    for name, rows in res["replays"].items():
        for row in rows:
            if not any(np.isclose(row["threshold"], s) for s in shown):
                continue
            extra = (
                f" | {_num(row['f1_random_orders'])} | {row['false_merges_random_orders']:.2f}"
                if args.orders
                else ""
            )
            w(
                f"| {name} | {row['threshold']:.2f} | {row['people']} | {row['ids']} "
                f"| {_num(row['precision'])} | {_num(row['recall'])} | {_num(row['f1'])} "
                f"| {row['false_merges']} | {row['people_split']}{extra} |"
            )
    problems = {k: v for k, v in res["log"].items() if v}
    if problems:
        w("\nNot used: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in problems.items()))
    return "\n".join(out)


def _finite(x):
    """Plain JSON: numpy scalars as numbers, NaN as null."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        return None if not np.isfinite(x) else float(x)
    return x


def to_json(res: dict) -> dict:
    def r(x: dict | None) -> dict | None:
        if x is None:
            return None
        return {
            "genuine_pairs": int(x["genuine"]),
            "impostor_pairs": int(x["impostor"]),
            "thresholds": THRESHOLDS.tolist(),
            "tmr": (x["tm"] / max(x["genuine"], 1)).round(5).tolist(),
            "fmr": (x["fm"] / max(x["impostor"], 1)).round(6).tolist(),
            "false_matches": x["fm"].astype(int).tolist(),
            "companion_pairs": int(x["companions"]),
            "false_matches_companions": x["fm_companions"].astype(int).tolist(),
        }

    return {
        "sets": {
            k: {**{a: b for a, b in v.items() if a not in ("pairs", "rates")}, "roc": r(v["rates"])}
            for k, v in res["sets"].items()
        },
        "folds": {
            k: {
                **{a: b for a, b in v.items() if a not in ("pairs", "rates", "faces")},
                "sets": FOLDS[k],
                "roc": r(v["rates"]),
            }
            for k, v in res["folds"].items()
        },
        "replays": res["replays"],
        "not_used": res["log"],
        "wall_s": round(res["wall_s"], 1),
    }


def plot(res: dict, out: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("ROC (FMR log scale; 0 drawn at 1e-4)", "rates vs match_distance"),
    )
    curves = {f"fold {k}": v["pairs"] for k, v in res["folds"].items()}
    curves |= {k: v["pairs"] for k, v in res["sets"].items() if v["pairs"] is not None}
    for name, p in curves.items():
        if not len(p.gd) or not len(p.id):
            continue
        tmr = _cum(p.gd, np.ones(len(p.gd)), FINE) / len(p.gd)
        fmr = np.maximum(_cum(p.id, np.ones(len(p.id)), FINE) / len(p.id), 1e-4)
        fig.add_trace(
            go.Scatter(
                x=fmr,
                y=tmr,
                name=name,
                mode="lines",
                customdata=FINE,
                hovertemplate="t=%{customdata:.3f}<br>FMR=%{x:.4f}<br>TMR=%{y:.3f}",
                line={"width": 3 if name.startswith("fold") else 1.5},
            ),
            row=1,
            col=1,
        )
    for fold, f in res["folds"].items():
        r = f["rates"]
        fig.add_trace(
            go.Scatter(x=THRESHOLDS, y=r["tm"] / r["genuine"], name=f"fold {fold} TMR"),
            row=1,
            col=2,
        )
        fig.add_trace(
            go.Scatter(
                x=THRESHOLDS,
                y=r["fm"] / r["impostor"],
                name=f"fold {fold} FMR",
                line={"dash": "dot"},
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(type="log", title_text="false match rate", row=1, col=1)
    fig.update_yaxes(title_text="true match rate", row=1, col=1)
    fig.update_xaxes(title_text="match_distance", row=1, col=2)
    fig.update_layout(title="Face embedding distance ROC on the shared sets", height=550)
    fig.write_html(out, include_plotlyjs=True)


def main(argv: list[str] | None = None) -> int:
    from workbench.config import RecognitionConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    ap.add_argument(
        "--min-quality",
        type=float,
        default=RecognitionConfig().min_face_quality,
        help="min_face_quality gate (default: the config default)",
    )
    ap.add_argument("--bootstrap", type=int, default=BOOTSTRAP, help="resamples for the margin")
    ap.add_argument("--orders", type=int, default=20, help="random orders in the replay (0: none)")
    ap.add_argument("--json", type=Path, help="write all figures as JSON here")
    ap.add_argument("--plot", type=Path, help="write ROC curves as a self-contained HTML file")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no shared data at {args.data}; pass --data", file=sys.stderr)
        return 2
    shown_data = "../shared/data" if args.data.resolve() == DEFAULT_DATA else str(args.data)
    print(f"# identity ROC\n\nmachine: {machine()}")
    print(f"command: python benchmarks/identity_roc.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"data: {shown_data}; min_face_quality {args.min_quality}\n")
    res = run(args)
    print(markdown(res, args))
    print(f"\nwall {res['wall_s']:.0f} s (detection + embedding {res['embed_s']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(_finite(to_json(res)), indent=1))
    if args.plot:
        plot(res, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
