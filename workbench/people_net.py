"""Person detection networks from the models folder (``workbench.models``):
``people.detector: dnn``, or ``auto`` with one present. A network looks at each frame
where something moves or someone is tracked, and every few seconds (people standing
still); CenterNet, which reads pictures of any size, only at the parts of the picture
around what moves and who is tracked."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from workbench.detections import Detections
from workbench.errors import ModelError
from workbench.models import ModelSpec
from workbench.motion import MotionDetector
from workbench.people import PersonDetector


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


# CenterNet's heat-map peaks: from CENTERNET_AT confident, from CENTERNET_MIN passed on
# (as weak detections, which keep a track going); weaker peaks are mostly parts of people,
# which would keep lost tracks alive (TUD-Campus frames 1-35: count error 2.8 with peaks
# from 0.2 passed on and 0.3 confident, 0.8 with these; docs/benchmarks.md)
CENTERNET_MIN = 0.3
CENTERNET_AT = 0.5
NMS_IOU = 0.5
# parts of the picture CenterNet reads (in its input's pixels): each moving area or tracked
# person grown by at least this (x, y), at least this large, and the whole picture where
# the parts would cover more than this share of it
PART_MARGIN = (32, 32)
PART_LEAST = (128, 128)
PART_MAX_SHARE = 0.5


def _found(boxes: np.ndarray, conf: np.ndarray, at: float, w: int, h: int) -> Detections:
    """A network's boxes inside the ``w`` x ``h`` picture, overlaps suppressed (IoU over
    ``NMS_IOU``), confidences mapped so that ``at`` becomes 0.5."""
    if not len(boxes):
        return Detections.empty()
    boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
    keep = cv2.dnn.NMSBoxes(
        [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes],
        conf.astype(float).tolist(),
        0.0,
        NMS_IOU,
    )
    keep = np.asarray(keep, int).ravel()
    return Detections(boxes[keep], _rescore(conf[keep], at))


class DnnPersonDetector(PersonDetector):
    """A detection network from the models folder, run on the CPU by OpenCV DNN (or ONNX
    Runtime: ``workbench.centernet``) on each frame where something moves or someone is
    tracked, and every ``FULL_EVERY_S`` seconds (people standing still); a frame where
    nothing moves and nobody is tracked is empty, and costs only its motion picture."""

    name = "dnn"
    FULL_EVERY_S = 5.0

    def __init__(self, spec: ModelSpec, folder: Path, fps: float = 5.0):
        self.spec = spec
        self.motion = MotionDetector()
        self.full_every = max(1, round(self.FULL_EVERY_S * fps))
        self.frames = 0
        paths = spec.paths(folder)
        if spec.format == "centernet":
            from workbench.centernet import CenterNet

            self.net = CenterNet(folder)
            return
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

    def detect(
        self,
        image: np.ndarray,
        tracked: np.ndarray | None = None,
        moving: np.ndarray | None = None,
        unseen: np.ndarray | None = None,
        small: np.ndarray | None = None,
    ) -> Detections:
        if moving is None:
            moving = self.motion.update(image, small)
        self.frames += 1
        due = self.frames % self.full_every == 1 or self.full_every == 1
        if not due and not len(moving) and (tracked is None or not len(tracked)):
            return Detections.empty()
        size = self.spec.input_size
        h, w = image.shape[:2]
        if self.spec.format == "centernet":
            near = np.zeros((0, 4), np.float32) if tracked is None else tracked
            boxes, conf = self._centernet(image, np.concatenate([moving, near]), due)
            at = CENTERNET_AT
        elif self.spec.format == "ssd":
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
        return _found(boxes, conf, at, w, h)

    def _centernet(
        self, image: np.ndarray, around: np.ndarray, whole: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """CenterNet on the parts of the picture around ``around`` boxes (or all of it),
        each read at the scale the whole picture is, so a person is the same size to it
        wherever they are: a part costs in proportion to its area."""
        from workbench.centernet import INPUT_PX
        from workbench.people import regions_around

        h, w = image.shape[:2]
        s = INPUT_PX / max(h, w)
        sw, sh = round(w * s), round(h * s)
        around = np.asarray(around, np.float32).reshape(-1, 4) * s
        if whole:
            regions = [(0, 0, sw, sh)]
        else:
            regions = regions_around(around, sw, sh, PART_MARGIN, PART_LEAST, PART_MAX_SHARE)
        boxes, conf = [np.zeros((0, 4), np.float32)], [np.zeros(0, np.float32)]
        for x1, y1, x2, y2 in regions:
            x1, y1 = int(x1 / s), int(y1 / s)
            x2, y2 = min(w, int(np.ceil(x2 / s))), min(h, int(np.ceil(y2 / s)))
            b, c = self.net.people(image[y1:y2, x1:x2], CENTERNET_MIN, s)
            boxes.append(b + np.float32([x1, y1, x1, y1]))
            conf.append(c)
        return np.concatenate(boxes), np.concatenate(conf)
