"""Faces: detection, landmarks, quality and 128-d embeddings with dlib's models.

Model files come from the ``face_recognition_models`` package (installed with
pip); they load on first use, not at import. Embeddings are dlib's ResNet face
descriptors (computed by ``workbench.face_net`` from dlib's own model file, the same
numbers 4-6x faster than the BLAS-less dlib wheel): two faces of the same person
are usually closer than 0.6 in Euclidean distance; lower is stricter.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from workbench.detections import Detections
from workbench.errors import ModelError
from workbench.face_net import dlib_model_path, face_net

log = logging.getLogger(__name__)

HOG_WINDOW_PX = 80  # dlib's frontal HOG detector finds faces from about this size up
FULL_QUALITY_PX = 100  # faces this tall or taller get the full size score


def _load(which: str):
    """One of dlib's face models: ``detector`` (HOG) or ``landmarks`` (5 points)."""
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - install problem
        raise ModelError(
            f"{exc.name} is not installed; run `make install` (uses the dlib-bin wheel, no compile)"
        ) from None
    try:
        if which == "detector":
            return _frontal_face_detector(dlib)
        return dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
    except RuntimeError as exc:  # pragma: no cover - broken model files
        raise ModelError(
            f"cannot load dlib face models: {exc}; reinstall face_recognition_models"
        ) from None


def _frontal_face_detector(dlib):
    """dlib's HOG face detector, from the cache folder (``workbench.inference``): dlib
    unpacks it from text compiled into the library, 0.45 s for each thread that runs it."""
    import _dlib_pybind11  # the compiled library dlib's package wraps

    from workbench import inference

    return inference.cached(
        "dlib-frontal-face-{}.svm",
        inference.file_key(Path(_dlib_pybind11.__file__), "get_frontal_face_detector"),
        lambda path: dlib.get_frontal_face_detector().save(str(path)),
        lambda path: dlib.fhog_object_detector(str(path)),
    )


_per_thread = threading.local()


def _dlib_model(which: str):
    """dlib's ``detector`` or ``landmarks`` model, loaded on first use. The HOG detector
    is one per thread: dlib's object detectors must not be run by two threads at once
    (its documentation), and it releases the GIL, so threads can run one each."""
    if which != "detector":
        return _shared(which)
    detector = getattr(_per_thread, "detector", None)
    if detector is None:
        detector = _per_thread.detector = _load("detector")
    return detector


@functools.cache
def _shared(which: str):
    return _load(which)


def load_models() -> None:
    """Load the models every face pipeline needs now (a live service: before its first frame)."""
    _dlib_model("landmarks")
    face_net()


def hog_confidence(score: float) -> float:
    """dlib's detector score (0 is its threshold, 1-2 a clear face) as a 0..1 confidence."""
    return 1 / (1 + math.exp(-2.5 * score))


class HogFaceDetector:
    """dlib's HOG + linear SVM frontal face detector.

    ``min_face_px`` is the smallest face (in original pixels) to find; the frame is
    scaled so such a face fills the detector's 80 px window, so smaller values cost
    more time (quadratically).
    """

    name = "hog"
    start_score = 0.0  # a track starts at a detection this confident
    # weaker ones (down to this) may only extend a track, as in ByteTrack: on the labelled
    # group photos -0.5 adds 5 false faces in 9 photos, so they follow a face, never start one
    weak_score = -0.5
    confidence = staticmethod(hog_confidence)

    def __init__(self, min_face_px: int = 50, threshold: float = 0.0):
        self.min_face_px = min_face_px
        self.threshold = threshold

    def scale_for(self, shape: tuple[int, ...]) -> float:
        return HOG_WINDOW_PX / self.min_face_px

    def detect(self, image_bgr: np.ndarray) -> Detections:
        detector = _dlib_model("detector")
        scale = self.scale_for(image_bgr.shape)
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        if abs(scale - 1) > 0.02:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=interp)
        rects, scores, _ = detector.run(rgb, 0, self.threshold)
        if not rects:
            return Detections.empty()
        boxes = (
            np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float32)
            / scale
        )
        h, w = image_bgr.shape[:2]
        boxes = np.clip(boxes, 0, [w - 1, h - 1, w - 1, h - 1]).astype(np.float32)
        keep = (boxes[:, 2] - boxes[:, 0] > 4) & (boxes[:, 3] - boxes[:, 1] > 4)
        return Detections(boxes[keep], np.asarray(scores, np.float32)[keep])


def landmarks(image_rgb: np.ndarray, box: np.ndarray):
    """dlib's 5-point landmarks (eye corners and nose) for one face box."""
    import dlib

    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return _dlib_model("landmarks")(image_rgb, dlib.rectangle(x1, y1, x2, y2))


def embed(image_rgb: np.ndarray, shape) -> np.ndarray:
    """The 128-d descriptor of the face whose landmarks are ``shape``."""
    return embed_chips([face_chip(image_rgb, shape)])[0]


def face_chip(image_rgb: np.ndarray, shape) -> np.ndarray:
    """The aligned 150 px face the descriptor looks at (dlib's chip, 0.25 padding): cheap to
    keep, so a track keeps chips of its best faces and embeds only those it ends up with."""
    import dlib

    return dlib.get_face_chip(image_rgb, shape, 150, 0.25)


def embed_chips(chips: list[np.ndarray]) -> np.ndarray:
    """The 128-d descriptors of ``face_chip``s, one row each (one batch: cheaper per face)."""
    return face_net().descriptors(chips).astype(np.float32)


def frontalness(shape) -> float:
    """1 for a face looking at the camera, towards 0 as it turns away (nose off the eyes' midline)."""
    pts = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    eye_a, eye_b, nose = pts[0:2].mean(0), pts[2:4].mean(0), pts[4]
    da, db = np.linalg.norm(nose - eye_a), np.linalg.norm(nose - eye_b)
    return float(1 - abs(da - db) / max(da + db, 1e-6))


def sharpness(image_bgr: np.ndarray, box: np.ndarray) -> float:
    """Focus of a face: variance of the Laplacian on the face resized to 64 px, mapped to 0..1."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    crop = image_bgr[max(y1, 0) : y2, max(x1, 0) : x2]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(
        cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
    )
    var = cv2.Laplacian(grey, cv2.CV_32F).var()
    return float(1 - math.exp(-var / 150.0))


def face_quality(height_px: float, conf: float, frontal: float, sharp: float) -> float:
    """One 0..1 score: how much to trust this face for identification.

    Geometric mean of four parts, so one bad part pulls it down: size (full at
    100 px), detector confidence (0..1, from the detector's ``confidence``),
    frontalness (landmark symmetry, 1 is frontal) and sharpness (focus).
    """
    size = min(1.0, max(0.0, (height_px - 20) / (FULL_QUALITY_PX - 20)))
    pose = max(0.0, (frontal - 0.5) / 0.5)
    parts = np.array([size, conf, pose, sharp]) + 1e-6
    return float(np.exp(np.log(parts).mean()))


@dataclass
class Face:
    """One detected face: its box, detector score, quality and landmarks (embedding on demand)."""

    box: np.ndarray
    score: float
    quality: float
    shape: object  # dlib full_object_detection


def cut_by_frame(box: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether a face box reaches the image border: part of the face is outside the picture."""
    h, w = shape[:2]
    m = max(1.0, 0.02 * float(box[3] - box[1]))
    return bool(box[0] <= m or box[1] <= m or box[2] >= w - 1 - m or box[3] >= h - 1 - m)


def describe(
    image_bgr: np.ndarray,
    image_rgb: np.ndarray,
    dets: Detections,
    confidence: Callable[[float], float] = hog_confidence,
) -> list[Face]:
    """Landmarks and quality for each detection (the embedding is computed only when wanted).

    A face cut by the frame edge gets quality 0: it is a sighting, but half a face
    embeds far from the whole one and would be taken for someone new.
    """
    faces = []
    for box, score in zip(dets.xyxy, dets.score, strict=True):
        shape = landmarks(image_rgb, box)
        q = face_quality(
            float(box[3] - box[1]),
            confidence(float(score)),
            frontalness(shape),
            sharpness(image_bgr, box),
        )
        faces.append(
            Face(box, float(score), 0.0 if cut_by_frame(box, image_bgr.shape) else q, shape)
        )
    return faces


PHOTO_MAX_SIDE = 1280  # still photos are scaled down to this before detection


def photo_faces(image_bgr: np.ndarray) -> tuple[np.ndarray, list[Face]]:
    """Faces in a still photo (any size): returns the working image and its faces, largest first.

    Phone photos of 12-36 MP are scaled down first; small crops are padded so a
    face that fills the picture still has the margin the detector needs.
    """
    h, w = image_bgr.shape[:2]
    scale = min(1.0, PHOTO_MAX_SIDE / max(h, w))
    if scale < 1:
        image_bgr = cv2.resize(image_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    pad = max(image_bgr.shape[:2]) // 8
    image_bgr = cv2.copyMakeBorder(image_bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    dets = HogFaceDetector(min_face_px=40).detect(image_bgr)
    faces = describe(image_bgr, rgb, dets)
    faces.sort(key=lambda f: -float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))
    return rgb, faces
