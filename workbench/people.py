"""Person detectors behind one interface, chosen by name in config (``people.detector``).

* ``hog``: OpenCV's HOG + linear SVM people detector (Dalal & Triggs' method, the
  Daimler pedestrian model OpenCV ships). Inside opencv-contrib; any camera, upright people.
* ``motion``: background subtraction (OpenCV MOG2) blobs. Fixed cameras only; cheap.
* ``dnn``: a detection network from ``models/`` run by OpenCV DNN (see ``workbench.models``).

Every detector returns ``Detections`` in original-frame pixels with a score in 0..1
(0.5 and above: confident).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from workbench.config_people import PeopleConfig
from workbench.detections import Detections
from workbench.errors import ModelError
from workbench.models import MODELS, ModelSpec, find_model

log = logging.getLogger(__name__)

# OpenCV ships two HOG people models; Daimler's (48x96 window, trained on pedestrians
# 72 px tall with a 12 px border: Enzweiler & Gavrila 2009) found more people than the
# INRIA one in half the time (docs/benchmarks.md). Boxes are shrunk by the border to fit
# the person, not the window.
HOG_WINDOW = (48, 96)
HOG_BORDER = 12
HOG_HIT_THRESHOLD = 1.0  # SVM margin to accept (OpenCV's own HOG sample uses 1.4 for this model)
HOG_PYRAMID = 1.1  # scale step between searched person sizes
# pedestrian width / height in the MOT and Caltech annotations: used to split blobs
PERSON_ASPECT = 0.41
MOTION_HISTORY_S = 300  # a person standing still fades into the background after ~1/10 of this


class PersonDetector(ABC):
    """Finds people in a BGR frame."""

    name: ClassVar[str]

    @abstractmethod
    def detect(self, image: np.ndarray) -> Detections:
        """People in ``image``: boxes in its pixels, scores in 0..1."""


def suppress_overlaps(dets: Detections, overlap: float = 0.6) -> Detections:
    """Keep the best of boxes that overlap by more than ``overlap`` of the smaller one.

    Detectors often report one person twice (a whole body and its upper half).
    """
    order = np.argsort(-dets.score)
    xyxy = dets.xyxy[order]
    area = np.prod(xyxy[:, 2:] - xyxy[:, :2], axis=1)
    keep: list[int] = []
    for i in range(len(order)):
        if keep:
            k = np.asarray(keep)
            tl = np.maximum(xyxy[k, :2], xyxy[i, :2])
            br = np.minimum(xyxy[k, 2:], xyxy[i, 2:])
            inter = np.prod(np.clip(br - tl, 0, None), axis=1)
            if (inter / np.minimum(area[k], area[i]) > overlap).any():
                continue
        keep.append(i)
    return dets[np.sort(order[keep])]


def _relative_to_surroundings(image: np.ndarray) -> np.ndarray:
    """Each pixel relative to its surroundings (1/20 of the width): a camera's exposure
    changes scale both alike, so they cancel, and a white wall stays a white wall."""
    f = image.astype(np.float32)
    h, w = image.shape[:2]
    tiny = cv2.resize(f, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    around = cv2.resize(cv2.GaussianBlur(tiny, (0, 0), w / 160), (w, h))  # blur at 1/8 size
    return np.clip(128 * f / (around + 8), 0, 255).astype(np.uint8)


def _merge_boxes(boxes: list[list[float]]) -> list[list[float]]:
    """Union overlapping boxes (x1, y1, x2, y2) until none overlap."""
    merged = True
    while merged:
        merged, out = False, []
        for b in boxes:
            for o in out:
                if b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3]:
                    o[:] = [min(o[0], b[0]), min(o[1], b[1]), max(o[2], b[2]), max(o[3], b[3])]
                    merged = True
                    break
            else:
                out.append(list(b))
        boxes = out
    return boxes


def _span(lo: float, hi: float, size: float, limit: int) -> tuple[float, float]:
    """``lo..hi`` inside ``0..limit``, widened to at least ``size`` where the picture allows."""
    lo, hi = max(0.0, lo), min(float(limit), hi)
    if hi - lo < size:
        lo = max(0.0, min((lo + hi - size) / 2, limit - size))
        hi = min(float(limit), lo + size)
    return lo, hi


class HogPersonDetector(PersonDetector):
    """OpenCV's HOG people detector. ``min_person_px``: smallest person height to find.

    As Frigate does, it searches only where something moved or someone was found in the
    last frame, and the whole picture every ``FULL_EVERY`` frames (so people who stand
    still are found too); where the picture moves almost everywhere (a moving camera) it
    searches the whole picture.
    """

    name = "hog"
    FULL_EVERY = 25
    MAX_REGIONS_SHARE = 0.5  # regions covering more of the picture than this: search it all
    MOTION_WIDTH = 160  # motion is found on a picture this wide

    def __init__(self, min_person_px: int = 120):
        if not hasattr(cv2, "HOGDescriptor"):
            raise ModelError(
                "this OpenCV build has no HOG detector (OpenCV 5 moved it to contrib); "
                "install opencv-contrib-python-headless instead of opencv-python-headless"
            )
        self.hog = cv2.HOGDescriptor(HOG_WINDOW, (16, 16), (8, 8), (8, 8), 9)
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDaimlerPeopleDetector())
        self.min_person_px = min_person_px
        self.motion = cv2.createBackgroundSubtractorMOG2(500, 16, detectShadows=False)
        self.frames = 0
        self.last = np.zeros((0, 4), np.float32)  # last frame's people, in the searched picture

    def detect(self, image: np.ndarray) -> Detections:
        # shrink the picture so the smallest person wanted fills the window (never enlarge)
        s = min(1.0, (HOG_WINDOW[1] - 2 * HOG_BORDER) / self.min_person_px)
        small = (
            cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else image
        )
        rects, weights = [], []
        for x1, y1, x2, y2 in self._regions(small):
            if x2 - x1 < HOG_WINDOW[0] or y2 - y1 < HOG_WINDOW[1]:
                continue  # smaller than the window: nobody fits (and OpenCV would crash)
            r, w = self.hog.detectMultiScale(
                small[y1:y2, x1:x2],
                hitThreshold=HOG_HIT_THRESHOLD,
                winStride=(8, 8),
                padding=(8, 8),
                scale=HOG_PYRAMID,
            )
            if len(r):
                rects.append(np.asarray(r, np.float32).reshape(-1, 4) + [x1, y1, 0, 0])
                weights.append(np.ravel(w))
        if not rects:
            self.last = np.zeros((0, 4), np.float32)
            return Detections.empty()
        r = np.concatenate(rects)
        self.last = np.concatenate([r[:, :2], r[:, :2] + r[:, 2:]], 1)
        r /= s
        mx = r[:, 2] * HOG_BORDER / HOG_WINDOW[0]
        my = r[:, 3] * HOG_BORDER / HOG_WINDOW[1]
        xyxy = np.stack(
            [r[:, 0] + mx, r[:, 1] + my, r[:, 0] + r[:, 2] - mx, r[:, 1] + r[:, 3] - my], 1
        )
        # SVM margin -> 0..1 (margin 0, the SVM's own boundary, is 0.5)
        score = 1 / (1 + np.exp(-2 * np.concatenate(weights).astype(np.float32)))
        return suppress_overlaps(Detections(xyxy.astype(np.float32), score))

    def _regions(self, small: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Parts of ``small`` to search: around motion and last frame's people, or all of it."""
        h, w = small.shape[:2]
        t = self.MOTION_WIDTH / w
        grey = cv2.cvtColor(cv2.resize(small, None, fx=t, fy=t), cv2.COLOR_BGR2GRAY)
        moving = self.motion.apply(_relative_to_surroundings(grey))
        moving = cv2.dilate(moving, np.ones((5, 5), np.uint8))
        self.frames += 1
        whole = [(0, 0, w, h)]
        if self.frames % self.FULL_EVERY == 1:
            return whole
        _, _, stats, _ = cv2.connectedComponentsWithStats(moving)
        blobs = stats[1:][stats[1:, 4] >= 16]
        boxes = [[x / t, y / t, (x + bw) / t, (y + bh) / t] for x, y, bw, bh, _ in blobs]
        boxes += self.last.tolist()
        grown = []
        for x1, y1, x2, y2 in boxes:  # room for the whole person and the window's margin
            gx = max((x2 - x1) * 0.25, HOG_WINDOW[0])
            gy = max((y2 - y1) * 0.25, HOG_WINDOW[1] / 2)
            ax, bx = _span(x1 - gx, x2 + gx, 2 * HOG_WINDOW[0], w)
            ay, by = _span(y1 - gy, y2 + gy, 1.5 * HOG_WINDOW[1], h)
            grown.append([ax, ay, bx, by])
        regions = _merge_boxes(grown)
        if sum((b[2] - b[0]) * (b[3] - b[1]) for b in regions) > self.MAX_REGIONS_SHARE * w * h:
            return whole
        return [tuple(int(round(v)) for v in b) for b in regions]


class MotionPersonDetector(PersonDetector):
    """Moving blobs against a learned background (OpenCV MOG2), for fixed cameras.

    Pixels are compared relative to their surroundings, so a camera that re-adjusts its
    exposure when a dark coat walks in does not light up the whole frame. Shadows are
    ignored; a blob at least two person-widths wide is split into person-wide columns.
    After a short warm-up the background learns at 1/``history`` per frame, so a person
    who stands still fades into it after ~``history`` / 10 frames. A box's score is how
    much of it the blob fills (half or more: 1).
    """

    name = "motion"
    WARMUP = 10  # frames learnt fast, to start from whatever the camera sees

    def __init__(self, min_person_px: int = 120, history: int = 1500, width: int = 320):
        self.min_person_px = min_person_px
        self.width = width
        self.history = history
        self.bg = cv2.createBackgroundSubtractorMOG2(history, 16, detectShadows=True)
        self.seen = 0

    def detect(self, image: np.ndarray) -> Detections:
        s = min(1.0, self.width / image.shape[1])
        small = (
            cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else image
        )
        small = _relative_to_surroundings(small)
        rate = -1 if self.seen < self.WARMUP else 1 / self.history
        mask = (self.bg.apply(small, learningRate=rate) == 255).astype(np.uint8)
        self.seen += 1
        min_h = self.min_person_px * s
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        k = max(3, int(min_h / 8))
        close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, 2 * k + 1))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        boxes, scores = [], []
        for x, y, w, h, area in stats[1:]:
            if h < min_h:
                continue
            fill = area / (w * h)
            n = max(1, int(w / (PERSON_ASPECT * h)))
            for j in range(n):
                boxes.append([x + j * w / n, y, x + (j + 1) * w / n, y + h])
                scores.append(min(1.0, fill / 0.5))
        if not boxes:
            return Detections.empty()
        return suppress_overlaps(
            Detections(np.asarray(boxes, np.float32) / s, np.asarray(scores, np.float32))
        )


def _rescore(conf: np.ndarray, at: float) -> np.ndarray:
    """Map a network's confidence to 0..1 so that its usual threshold ``at`` becomes 0.5."""
    conf = np.asarray(conf, np.float32)
    return np.where(conf < at, 0.5 * conf / at, 0.5 + 0.5 * (conf - at) / (1 - at)).astype(
        np.float32
    )


def decode_yolo(
    out: np.ndarray, person_class: int, min_conf: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Ultralytics YOLO (v8, 11) output (1, 4 + classes, anchors) -> person boxes xyxy and confidences."""
    pred = out.reshape(out.shape[-2], out.shape[-1]).T
    conf = pred[:, 4 + person_class]
    pred, conf = pred[conf >= min_conf], conf[conf >= min_conf]
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), conf


def decode_ssd(
    out: np.ndarray, person_class: int, min_conf: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Caffe SSD ``detection_out`` (1, 1, n, 7: image, class, conf, x1, y1, x2, y2 in 0..1)."""
    rows = out.reshape(-1, 7)
    rows = rows[(rows[:, 1] == person_class) & (rows[:, 2] >= min_conf)]
    return rows[:, 3:7].copy(), rows[:, 2].copy()


class DnnPersonDetector(PersonDetector):
    """A detection network from the models folder, run by OpenCV DNN on the CPU."""

    name = "dnn"
    NMS_IOU = 0.5

    def __init__(self, spec: ModelSpec, folder: Path):
        self.spec = spec
        paths = spec.paths(folder)
        try:
            if spec.format == "ssd":
                self.net = cv2.dnn.readNetFromCaffe(str(paths[1]), str(paths[0]))
            else:
                self.net = cv2.dnn.readNetFromONNX(str(paths[0]))
        except cv2.error as exc:
            raise ModelError(
                f"{paths[0]}: OpenCV cannot load this {spec.name} file ({str(exc).strip().splitlines()[-1]}); "
                f"get it again: {spec.source}"
            ) from None

    def detect(self, image: np.ndarray) -> Detections:
        size = self.spec.input_size
        h, w = image.shape[:2]
        if self.spec.format == "ssd":
            blob = cv2.dnn.blobFromImage(
                cv2.resize(image, (size, size)), 1 / 127.5, (size, size), 127.5
            )
            self.net.setInput(blob)
            boxes, conf = decode_ssd(self.net.forward(), self.spec.person_class)
            boxes *= np.array([w, h, w, h], np.float32)
            at = 0.3
        else:  # letterbox: keep the aspect ratio, pad to a square
            s = size / max(h, w)
            canvas = np.full((size, size, 3), 114, np.uint8)
            canvas[: round(h * s), : round(w * s)] = cv2.resize(image, (round(w * s), round(h * s)))
            self.net.setInput(cv2.dnn.blobFromImage(canvas, 1 / 255, (size, size), swapRB=True))
            boxes, conf = decode_yolo(self.net.forward(), self.spec.person_class)
            boxes /= s
            at = 0.25
        if not len(boxes):
            return Detections.empty()
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        keep = cv2.dnn.NMSBoxes(
            [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes],
            conf.astype(float).tolist(),
            0.0,
            self.NMS_IOU,
        )
        keep = np.asarray(keep, int).ravel()
        return Detections(boxes[keep], _rescore(conf[keep], at))


def make_detector(cfg: PeopleConfig, models_dir: Path, fps: float) -> PersonDetector:
    """The detector ``cfg.detector`` names (``auto``: a network when one is present, else HOG)."""
    kind = cfg.detector
    if kind == "auto":
        present = [m for m in MODELS.values() if m.present(models_dir)]
        if cfg.model is not None or present:
            kind = "dnn"
        else:
            kind = "hog"
    if kind == "dnn":
        spec = find_model(models_dir, cfg.model)
        log.info("person detector: %s from %s", spec.name, models_dir)
        return DnnPersonDetector(spec, models_dir)
    if kind == "motion":
        return MotionPersonDetector(cfg.min_person_px, history=round(MOTION_HISTORY_S * fps))
    return HogPersonDetector(cfg.min_person_px)
