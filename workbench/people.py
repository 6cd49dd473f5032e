"""Person detectors behind one interface, chosen by name in config (``people.detector``).

* ``hog``: OpenCV's HOG + linear SVM people detector (Dalal & Triggs' method, the
  Daimler pedestrian model OpenCV ships). Inside opencv-contrib; any camera, upright people.
* ``motion``: background subtraction (OpenCV MOG2) blobs. Fixed cameras only; cheap.
* ``hog+motion`` (``auto`` without a network): HOG, plus on a fixed camera, once its
  background is learnt, the blobs HOG does not explain; HOG then looks only where
  someone new moves or a track was lost, so a still scene costs little.
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
from workbench.models import MODELS, find_model
from workbench.motion import LIGHTING_CHANGE, MOTION_HEIGHT, MotionDetector, shrink

log = logging.getLogger(__name__)

# OpenCV ships two HOG people models; Daimler's (48x96 window, trained on pedestrians
# 72 px tall with a 12 px border: Enzweiler & Gavrila 2009) found more people than the
# INRIA one in half the time (docs/benchmarks.md). Boxes are shrunk by the border to fit
# the person, not the window.
HOG_WINDOW = (48, 96)
HOG_BORDER = 12
PERSON_PX = HOG_WINDOW[1] - 2 * HOG_BORDER  # the person's height in the window
# around a blob or a track, HOG looks for people down to 1/SIZE_RANGE of its height (a
# blob can be part of someone: legs hidden, or a shadow with them)
SIZE_RANGE = 1.5
HOG_HIT_THRESHOLD = 1.0  # SVM margin to accept (OpenCV's own HOG sample uses 1.4 for this model)
HOG_PYRAMID = 1.1  # scale step between person sizes (1.15, 1.2: IDF1 on TUD 0.64 -> 0.52, 0.60)
# without min_person_px: people a sixth of the picture's height and taller (someone ~10 m
# from a 90-degree camera), at least 120 px (tuned on TUD's 480 rows); at 1080p 180 px, so
# HOG runs on 768x432, not 1152x648 (docs/benchmarks.md: the walkway clip). But never
# more than a third of the height: a 320x240 substream's people are 60-150 px (TUD at
# half size: count error 3.3 -> 1.5 a frame, docs/benchmarks.md, people counting round 11)
MIN_PERSON_PX = 120
PERSON_SHARE = 1 / 6
MAX_PERSON_SHARE = 1 / 3
# pedestrian width / height in the MOT and Caltech annotations: used to split blobs
PERSON_ASPECT = 0.41
# blobs are found on a mask this many rows high (256x144 for 16:9 video: at 120 rows a
# grey cardigan against a white wall broke into pieces too small for a person; 144 and
# 180 find the office video's six visits alike, 144 at 0.6 of the cost). Background
# subtraction itself runs on the face side's 120-row motion copy (``blob_picture``) and
# its mask is enlarged: the same six visits, with less to compute (docs/benchmarks.md,
# people counting round 17)
BLOB_ROWS = 144
# Gaussians per pixel in MOG2's background model (OpenCV's default 5): with 3, masks are
# 0.99 the same (intersection over union, office video) at 0.84 of the cost
MOG2_MODES = 3
BLOB_SCORE = 0.6
FUSED_WARMUP_S = 5.0
MOTION_HISTORY_S = 300  # a person standing still fades into the background after ~1/10 of this


def smallest_person(min_person_px: int | None, rows: float) -> float:
    """Height (pixels) of the smallest person to look for in a picture ``rows`` high."""
    least = min(MIN_PERSON_PX, rows * MAX_PERSON_SHARE)
    return float(min_person_px or max(least, rows * PERSON_SHARE))


class PersonDetector(ABC):
    """Finds people in a BGR frame."""

    name: ClassVar[str]

    @abstractmethod
    def detect(
        self,
        image: np.ndarray,
        tracked: np.ndarray | None = None,
        moving: np.ndarray | None = None,
        unseen: np.ndarray | None = None,
        small: np.ndarray | None = None,
    ) -> Detections | None:
        """People in ``image``: boxes in its pixels, scores in 0..1. ``tracked``: boxes
        where people are being tracked (a detector that searches parts of the picture
        searches there too); ``moving``: boxes where something moved, if the caller has
        them (``workbench.motion``; else a detector that needs them finds them); ``unseen``:
        for each tracked box, seconds since the person was last detected; ``small``:
        ``image`` shrunk to ``MOTION_HEIGHT`` rows by ``workbench.motion.shrink``, if the
        caller has it (else a detector that needs it makes it). None: the detector did
        not look at this frame, the tracked people stand as they were."""

    def light(self, tracked: int) -> bool:
        """Whether a frame with ``tracked`` people held costs little to look at (at most
        a few milliseconds): no search of the whole picture or around every track."""
        return False


def suppress_overlaps(dets: Detections, overlap: float = 0.6) -> Detections:
    """Keep the best of boxes that overlap by more than ``overlap`` of the smaller one.

    Detectors often report one person twice (a whole body and its upper half).
    """
    if len(dets) < 2:
        return dets
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
    h, w = image.shape[:2]
    tiny = cv2.resize(image, (max(1, w // 8), max(1, h // 8)), interpolation=cv2.INTER_AREA)
    around = cv2.resize(cv2.GaussianBlur(tiny, (0, 0), w / 160), (w, h))  # blur at 1/8 size
    # 128 * pixel / (around + 8), in saturating 8-bit arithmetic (a tenth of float's cost)
    return cv2.divide(image, cv2.add(around, np.full_like(around, 8)), scale=128)


def scaled(levels: list[np.ndarray], box: tuple[int, int, int, int], s: float) -> np.ndarray:
    """The part ``box`` (x1, y1, x2, y2 in the picture's pixels) of the picture scaled by
    ``s`` (at most 1), from the smallest level of its Gaussian pyramid at least that fine:
    a quarter of the pixels to average for each halving. ``levels``: the pyramid so far,
    from the picture itself; the levels this needs are added to it (each made once)."""
    k = 0
    while 0.5 ** (k + 1) >= s - 1e-9 and min(levels[k].shape[:2]) >= 2:
        if k + 1 == len(levels):
            levels.append(cv2.pyrDown(levels[k]))
        k += 1
    f = 0.5**k
    x1, y1, x2, y2 = (round(v * f) for v in box)
    part = levels[k][y1:y2, x1:x2]
    size = (round((box[2] - box[0]) * s), round((box[3] - box[1]) * s))
    if min(size) < 1 or not part.size:
        return part[:0, :0]
    if part.shape[1::-1] == size:
        return part
    return cv2.resize(part, size, interpolation=cv2.INTER_AREA)


def blob_picture(image: np.ndarray, small: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The copy of ``image`` that background subtraction runs on, and its scale: ``small``
    (``image`` shrunk to ``MOTION_HEIGHT`` rows by ``workbench.motion.shrink``: the face
    side's motion copy, made already in the decoding thread), made here if not given; a
    picture no taller than ``BLOB_ROWS``: itself."""
    h = image.shape[0]
    if h <= BLOB_ROWS:
        return image, 1.0
    small = shrink(image, MOTION_HEIGHT) if small is None else small
    return small, small.shape[0] / h


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


def regions_around(
    boxes: np.ndarray,
    w: int,
    h: int,
    margin: tuple[float, float],
    least: tuple[float, float],
    max_share: float,
) -> list[tuple[int, int, int, int]]:
    """Parts of a ``w`` x ``h`` picture around ``boxes`` (x1, y1, x2, y2): each grown by a
    quarter of its size and at least ``margin`` (x, y), at least ``least`` in size where
    the picture allows, merged where they overlap; the whole picture where together they
    would cover more than ``max_share`` of it."""
    grown = []
    for x1, y1, x2, y2 in boxes.tolist():
        gx, gy = max((x2 - x1) * 0.25, margin[0]), max((y2 - y1) * 0.25, margin[1])
        ax, bx = _span(x1 - gx, x2 + gx, least[0], w)
        ay, by = _span(y1 - gy, y2 + gy, least[1], h)
        grown.append([ax, ay, bx, by])
    regions = _merge_boxes(grown)
    if sum((b[2] - b[0]) * (b[3] - b[1]) for b in regions) > max_share * w * h:
        return [(0, 0, w, h)]
    return [tuple(int(round(v)) for v in b) for b in regions]


class HogPersonDetector(PersonDetector):
    """OpenCV's HOG people detector. ``min_person_px``: smallest person height to find
    (None: see ``smallest_person``); the picture is shrunk so that person fills the window.

    As Frigate does, it searches only where something moved (``workbench.motion``) or a
    person is tracked, and the whole picture every ``FULL_EVERY_S`` seconds (so people
    who stand still are found too); where that is most of the picture, all of it.
    """

    name = "hog"
    FULL_EVERY_S = 5.0
    MAX_REGIONS_SHARE = 0.5  # regions covering more of the picture than this: search it all
    IDLE_EVERY = 3  # while nobody is tracked or found, HOG looks at every third frame

    def __init__(self, min_person_px: int | None = None, fps: float = 5.0):
        if not hasattr(cv2, "HOGDescriptor"):
            raise ModelError(
                "this OpenCV build has no HOG detector (OpenCV 5 moved it to contrib); "
                "install opencv-contrib-python-headless instead of opencv-python-headless"
            )
        self.hog = cv2.HOGDescriptor(HOG_WINDOW, (16, 16), (8, 8), (8, 8), 9)
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDaimlerPeopleDetector())
        self.min_person_px = min_person_px
        self.motion = MotionDetector()
        self.full_every = max(1, round(self.FULL_EVERY_S * fps))
        self.frames = 0
        self.quiet = 0  # frames in a row with nobody tracked or found
        self.last = np.zeros((0, 4), np.float32)  # last frame's people

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
        near = self.last if tracked is None else np.asarray(tracked, np.float32).reshape(-1, 4)
        return self.look(image, moving, near)

    def look(
        self,
        image: np.ndarray,
        moving: np.ndarray,
        near: np.ndarray,
        levels: list[np.ndarray] | None = None,
    ) -> Detections:
        """Search around ``moving`` and ``near`` boxes, the whole picture when due; while
        nobody is tracked or found, only one frame in ``IDLE_EVERY`` (someone who walks in
        is found within 0.4 s at 5 fps, and counted from their first detection)."""
        whole = self.due()
        self.quiet = 0 if len(near) or len(self.last) else self.quiet + 1
        if not whole and self.quiet % self.IDLE_EVERY != 1 and self.quiet:
            return Detections.empty()
        return self.search(image, np.concatenate([moving, near]), whole, levels=levels)

    def due(self) -> bool:
        """Whether this frame is one to search whole (the first, then every FULL_EVERY_S)."""
        self.frames += 1
        return self.frames % self.full_every == 1 or self.full_every == 1

    def search(
        self,
        image: np.ndarray,
        around: np.ndarray,
        whole: bool = False,
        sized: bool = False,
        levels: list[np.ndarray] | None = None,
    ) -> Detections:
        """People in the parts of ``image`` around boxes ``around`` (or in all of it).
        ``sized``: the boxes are people or parts of one (blobs, tracks), so around each,
        only people at least 1/``SIZE_RANGE`` of its height are looked for. ``levels``:
        the picture's pyramid so far (``scaled``), if begun already."""
        # shrink the picture so the smallest person wanted fills the window (never enlarge)
        levels = levels or [image]
        h, w = image.shape[:2]
        s = min(1.0, PERSON_PX / smallest_person(self.min_person_px, h))
        around = np.asarray(around, np.float32).reshape(-1, 4)
        around = around[(around[:, 2] > around[:, 0]) & (around[:, 3] > around[:, 1])]
        if sized and not whole:
            parts = self._sized_regions(levels, around, s)
        else:  # one copy at scale s, searched in parts
            sw, sh = round(w * s), round(h * s)
            regions = [(0, 0, sw, sh)] if whole else self._regions(around * s, sw, sh)
            small = scaled(levels, (0, 0, w, h), s)
            parts = [(small[y1:y2, x1:x2], x1, y1, s) for x1, y1, x2, y2 in regions]
        rects, weights = [], []
        for part, x0, y0, ps in parts:
            if part.shape[1] < HOG_WINDOW[0] or part.shape[0] < HOG_WINDOW[1]:
                continue  # smaller than the window: nobody fits (and OpenCV would crash)
            r, wt = self.hog.detectMultiScale(
                part,
                hitThreshold=HOG_HIT_THRESHOLD,
                winStride=(8, 8),
                padding=(8, 8),
                scale=HOG_PYRAMID,
            )
            if len(r):
                rects.append((np.asarray(r, np.float32).reshape(-1, 4) + [x0, y0, 0, 0]) / ps)
                weights.append(np.ravel(wt))
        if not rects:
            self.last = np.zeros((0, 4), np.float32)
            return Detections.empty()
        r = np.concatenate(rects)
        # the person is the window less its border; as wide as pedestrians are annotated
        my = r[:, 3] * HOG_BORDER / HOG_WINDOW[1]
        half_w = PERSON_ASPECT * (r[:, 3] - 2 * my) / 2
        cx = r[:, 0] + r[:, 2] / 2
        xyxy = np.stack([cx - half_w, r[:, 1] + my, cx + half_w, r[:, 1] + r[:, 3] - my], 1)
        # SVM margin -> 0..1 (margin 0, the SVM's own boundary, is 0.5)
        score = 1 / (1 + np.exp(-2 * np.concatenate(weights).astype(np.float32)))
        found = suppress_overlaps(Detections(xyxy.astype(np.float32), score))
        self.last = found.xyxy
        return found

    def _regions(self, boxes: np.ndarray, w: int, h: int) -> list[tuple[int, int, int, int]]:
        """Parts of a ``w`` x ``h`` picture to search around ``boxes``: room for a whole
        person and the window's margin."""
        margin, least = (HOG_WINDOW[0], HOG_WINDOW[1] / 2), (2 * HOG_WINDOW[0], 1.5 * HOG_WINDOW[1])
        return regions_around(boxes, w, h, margin, least, self.MAX_REGIONS_SHARE)

    def _sized_regions(
        self, levels: list[np.ndarray], boxes: np.ndarray, s: float
    ) -> list[tuple[np.ndarray, float, float, float]]:
        """Copies of the parts of the picture (from its pyramid, ``scaled``) to search around
        person-sized ``boxes``, each with its offset at its scale and the scale: each
        scaled so that the smallest person wanted there, 1/``SIZE_RANGE`` of its box
        (never smaller than at ``s``), fills the window. Parts that overlap at about the
        same scale are one part where that is cheaper (``_merge_parts``); others may
        overlap (someone found twice is one box after ``suppress_overlaps``); where they
        would cost more than the whole picture at ``s``, the whole picture."""
        h, w = levels[0].shape[:2]
        parts = []
        for box in boxes.tolist():
            bs = min(s, PERSON_PX * SIZE_RANGE / max(box[3] - box[1], 1.0))
            ((x1, y1, x2, y2),) = self._regions(
                np.asarray([box]) * bs, round(w * bs), round(h * bs)
            )
            parts.append((round(x1 / bs), round(y1 / bs), round(x2 / bs), round(y2 / bs), bs))
        parts = _merge_parts(parts)
        if sum((p[2] - p[0]) * (p[3] - p[1]) * p[4] ** 2 for p in parts) > w * h * s * s:
            parts = [(0, 0, w, h, s)]
        return [(scaled(levels, p[:4], p[4]), p[0] * p[4], p[1] * p[4], p[4]) for p in parts]


def _merge_parts(parts: list[tuple], ratio: float = 1.25) -> list[tuple]:
    """Parts ``(x1, y1, x2, y2, scale)`` that overlap, at scales within ``ratio`` of each
    other, made one part at the finer scale wherever that costs HOG fewer pixels: a crowd's
    people are searched once, not once for each of their neighbours."""

    def cost(p: tuple, scale: float) -> float:
        return (p[2] - p[0]) * (p[3] - p[1]) * scale**2

    out: list[tuple] = []
    for p in sorted(parts, key=lambda p: -p[4]):  # finest first
        for i, o in enumerate(out):
            apart = p[0] >= o[2] or o[0] >= p[2] or p[1] >= o[3] or o[1] >= p[3]
            if apart or o[4] > ratio * p[4]:
                continue
            u = (min(o[0], p[0]), min(o[1], p[1]), max(o[2], p[2]), max(o[3], p[3]))
            if cost(u, o[4]) <= cost(o, o[4]) + cost(p, p[4]):
                out[i] = (*u, o[4])
                break
        else:
            out.append(p)
    return out


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

    def __init__(self, min_person_px: int | None = None, history: int = 1500):
        self.min_person_px = min_person_px
        self.history = history
        self.bg = cv2.createBackgroundSubtractorMOG2(history, 16, detectShadows=True)
        self.bg.setNMixtures(MOG2_MODES)
        self.seen = 0
        self.share = 1.0  # of the last picture that differed from the background

    def detect(
        self,
        image: np.ndarray,
        tracked: np.ndarray | None = None,
        moving: np.ndarray | None = None,
        unseen: np.ndarray | None = None,
        small: np.ndarray | None = None,
    ) -> Detections:
        return self.blobs(*blob_picture(image, small))

    def blobs(self, small: np.ndarray, s: float, frames: int = 1) -> Detections:
        """People in ``small``, a copy of the picture shrunk by ``s``, in the picture's pixels
        (its mask is enlarged to ``BLOB_ROWS`` to find them); the background learns as much
        as from ``frames`` frames (some were not looked at)."""
        rate = -1 if self.seen < self.WARMUP else frames / self.history
        fg = self.bg.apply(_relative_to_surroundings(small), learningRate=rate)
        mask = cv2.threshold(fg, 254, 1, cv2.THRESH_BINARY)[1]  # 255: foreground, 127: shadow
        self.seen += 1
        self.share = cv2.countNonZero(mask) / mask.size
        rows = small.shape[0] / s  # the picture's
        s, at = min(1.0, BLOB_ROWS / rows), s  # the mask's scale, the copy's
        size = (max(1, round(small.shape[1] * s / at)), round(rows * s))
        if size != mask.shape[1::-1]:
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        min_h = smallest_person(self.min_person_px, rows) * s
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        k = max(3, int(min_h / 8))
        close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, 2 * k + 1))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)
        # 16-bit labels where they suffice (8-connected parts are at least 2x2 apart): OpenCV
        # then labels in one thread, at a third of the CPU of its parallel 32-bit labelling
        labels = cv2.CV_16U if mask.size < 4 * 2**16 else cv2.CV_32S
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=labels)
        boxes, scores = [], []
        for x, y, w, h, area in stats[1:][stats[1:, cv2.CC_STAT_HEIGHT] >= min_h].tolist():
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


class FusedPersonDetector(PersonDetector):
    """HOG, and on a fixed camera whose background is learnt, background-subtraction blobs
    that no HOG box explains: people HOG cannot read (seen from behind or above, cut off
    at the picture's edge, standing still at a counter).

    The blobs count only after ``warmup_frames`` (before that the background still holds
    whoever was in view at the start) and while no more of the picture differs from the
    background than workbench.motion takes for a moved camera or a light switched. Then
    HOG looks only where someone new moves or a track lost its blob, each time at the
    scale of that blob or track, and at every third frame looked at: blobs carry people
    in between (a blob inside a box HOG found last time is that person); where its
    searches keep finding nobody, less often. A frame where
    nothing moves and nobody is tracked is empty: only the motion picture is made
    (background subtraction still learns from every ``IDLE_LEARN_EVERY``-th one, so it
    follows slow changes of light). While the people tracked are those of the last look
    and whatever moves is inside them (each moving area at least half covered by them,
    together) or moved at the last look too where the background showed nobody (a
    screen, a curtain), up to ``REST`` frames in a row are not looked at (``detect``
    returns None: the tracks stand), and the next look's background learns their worth
    too; where something moves but nobody is tracked and the last look found nobody, every
    second frame. From ``CROWD`` people tracked on, blobs merge and split them, so none of this
    holds: at every frame, HOG looks around each track seen within ``LOST_S`` (at its
    scale); at every third, around every track and each blob no track explains (only
    then is background subtraction run, learning the frames between too); at the whole
    picture every ``HogPersonDetector.FULL_EVERY_S``; only HOG's people are counted.
    """

    name = "hog+motion"
    MAX_MOVING = LIGHTING_CHANGE
    EXPLAINED = 0.5  # a blob that much inside a HOG box is that person
    HOG_EVERY = 3  # once blobs are used, HOG looks at every third frame looked at
    # where HOG cannot read people (a camera looking down, people seen from behind) its
    # searches around new blobs find nobody: after every HOG_MISSES such searches in a row
    # it skips one more of its turns, at most HOG_MAX_SKIPS (a search every 12th look); one
    # that finds someone ends the skipping (office video: 20 searches instead of 30, all
    # but 2 of which had found nobody; docs/benchmarks.md, people counting round 18)
    HOG_MISSES = 3
    HOG_MAX_SKIPS = 3
    IDLE_LEARN_EVERY = 5
    # frames in a row not looked at while all that moves is explained: at 5 fps a look every
    # 0.8 s, within the 1 s the tracker keeps a person unseen (people.track_max_gap_s)
    REST = 3
    # from this many people tracked on, blobs merge and split them (a group walks as one
    # blob): HOG looks around every track at every frame (docs/benchmarks.md: TUD-Campus
    # played back and forth, people counted at 5 fps: count error 3.0 -> 1.4 a frame)
    CROWD = 3
    # ... around those seen this recently (seconds); around the others (people who left,
    # or whom HOG cannot see: cut off by the picture's edge) at every third frame only
    LOST_S = 0.2

    def __init__(self, hog: HogPersonDetector, motion: MotionPersonDetector, warmup_frames: int):
        self.hog = hog
        self.motion = motion
        self.warmup_frames = warmup_frames
        self.idle = 0  # empty frames in a row
        self.frames = 0  # frames looked at (empty and rested ones aside)
        self.rested = 0  # frames in a row not looked at
        self.unlearnt = 0  # frames looked at whose worth the background has not learnt yet
        self.looked_near = 0  # people tracked at the last look
        self.nobody = np.zeros((0, 4), np.float32)  # moving areas without blobs at the last look
        self.saw = True  # whether the last look found anyone
        self.hog_misses = 0  # HOG's searches in a row (outside crowds) that found nobody
        self.hog_skipped = 0  # HOG's turns skipped since its last search

    def _hog_skips(self) -> int:
        """HOG's turns to skip between searches: one more for every ``HOG_MISSES`` searches
        in a row that found nobody, at most ``HOG_MAX_SKIPS``."""
        return min(self.HOG_MAX_SKIPS, self.hog_misses // self.HOG_MISSES)

    def ready(self) -> bool:
        """Whether the background is learnt and the camera was still at the last frame."""
        return self.motion.seen > self.warmup_frames and self.motion.share <= self.MAX_MOVING

    def light(self, tracked: int) -> bool:
        """Blobs carry the people, HOG searches only around new ones now and then."""
        return self.ready() and tracked < self.CROWD

    def _learning(self) -> bool:
        """Whether background subtraction has its first picture and the camera was still."""
        return self.motion.seen >= self.motion.WARMUP and self.motion.share <= self.MAX_MOVING

    def detect(
        self,
        image: np.ndarray,
        tracked: np.ndarray | None = None,
        moving: np.ndarray | None = None,
        unseen: np.ndarray | None = None,
        small: np.ndarray | None = None,
    ) -> Detections | None:
        if moving is None:
            moving = self.hog.motion.update(image, small)
        near = np.asarray([] if tracked is None else tracked, np.float32).reshape(-1, 4)
        if len(moving) or len(near) or not self._learning():
            self.idle = 0
        else:
            self.idle += 1
            if self.idle % self.IDLE_LEARN_EVERY:
                self.motion.seen += 1  # the same still picture: it counts towards the warm-up
                self.hog.last = near  # nobody
                return Detections.empty()
        crowd = len(near) >= self.CROWD
        if self.ready() and len(moving) and not len(near) and not self.saw and not self.rested:
            # something moves, but nobody is tracked and the last look found nobody: every
            # second such frame is not looked at (whoever walks in is found 0.2 s later at
            # 5 fps; the tracker still takes a blob from two looks in a row)
            self.rested += 1
            return None
        if (
            self.ready()
            and not crowd
            and len(near) == self.looked_near > 0
            and self.rested < self.REST
        ):
            # what moves is someone tracked, or moved at the last look too where the
            # background showed nobody (a screen, a curtain)
            held = _covered(moving, near) >= self.EXPLAINED
            if held.all() or (held | (_inside(moving, self.nobody) >= self.EXPLAINED)).all():
                self.rested += 1
                return None
        self.frames += 1
        hog_due = not self.frames % self.HOG_EVERY
        levels = [image]  # its pyramid, as far as HOG needs it
        if crowd and not hog_due and self.ready():
            # between HOG's turns a crowd's blobs are not used: the background learns this
            # frame's worth at the next turn; HOG looks around the people seen of late
            self.unlearnt += 1
            self.rested, self.looked_near = 0, len(near)
            if unseen is not None and len(unseen) == len(near):
                near = near[np.asarray(unseen) <= self.LOST_S]
            return self.hog.search(image, near, self.hog.due(), sized=True, levels=levels)
        blobs = self.motion.blobs(
            *blob_picture(image, small), frames=1 + self.rested + self.unlearnt
        )
        self.rested, self.unlearnt, self.looked_near = 0, 0, len(near)
        self.nobody = moving[_inside(moving, blobs.xyxy) == 0]
        self.saw = True  # (what the other looks find is not kept)
        if not self.ready():
            return self.hog.look(image, moving, near, levels)
        if crowd:  # HOG's turn: every track at its size, and each blob no track explains
            new = blobs.xyxy[_covered(blobs.xyxy, near) < self.EXPLAINED]
            around = np.concatenate([new, near])
            return self.hog.search(image, around, self.hog.due(), sized=True, levels=levels)
        # a tracked person still covered by a blob is still there: HOG need not look again,
        # nor where they (one or several together) move, nor at the whole picture (whoever
        # stands still differs from the background); it looks for lost tracks and around
        # blobs no held track explains that touch a moving area: where something new
        # stands out from the background and moves, not all that moves (a moving area can
        # span the picture: a swaying camera, trees in the wind)
        held = _inside(near, blobs.xyxy) >= self.EXPLAINED
        new = blobs.xyxy[_covered(blobs.xyxy, near[held]) < self.EXPLAINED]
        moving = new[_inside(new, moving) > 0]
        around = np.concatenate([moving, near[~held]])
        if hog_due and len(around) and self.hog_skipped < self._hog_skips():
            self.hog_skipped += 1  # HOG has found nobody here of late: this turn is skipped
            hog_due = False
        if not hog_due:  # in between, HOG's last people are still there
            people, known = Detections.empty(), self.hog.last
        else:
            people = self.hog.search(image, around, sized=True, levels=levels)
            known = people.xyxy
            if len(around):
                self.hog_misses = 0 if len(people) else self.hog_misses + 1
                self.hog_skipped = 0
        blobs = blobs[_inside(blobs.xyxy, known) < self.EXPLAINED]
        self.saw = bool(len(people) or len(blobs))
        return Detections(
            np.concatenate([people.xyxy, blobs.xyxy]),
            np.concatenate([people.score, BLOB_SCORE * blobs.score]),
        )


_GRID = (np.arange(8, dtype=np.float32) + 0.5) / 8  # where on each side _covered looks


def _covered(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each box of ``a``, the share of it covered by the union of the boxes of ``b``
    (on a grid of 8 x 8 points inside it)."""
    if not len(a) or not len(b):
        return np.zeros(len(a), np.float32)
    pts = (a[:, :2, None] + _GRID * (a[:, 2:] - a[:, :2])[:, :, None])[..., None]  # xs, ys
    within = (pts >= b[:, :2].T[:, None]) & (pts < b[:, 2:].T[:, None])  # (len(a), 2, 8, len(b))
    # a point is covered where its row and its column are both within one box of b
    hit = within[:, 1].astype(np.float32) @ within[:, 0].transpose(0, 2, 1).astype(np.float32)
    return (hit > 0).mean(axis=(1, 2)).astype(np.float32)


def _inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each box of ``a``, the largest share of it inside one box of ``b`` (0 if none)."""
    if not len(a) or not len(b):
        return np.zeros(len(a), np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2).max(1)
    return inter / np.maximum(np.prod(a[:, 2:] - a[:, :2], axis=1), 1e-9)


def make_detector(cfg: PeopleConfig, models_dir: Path, fps: float) -> PersonDetector:
    """The detector ``cfg.detector`` names (``auto``: a network when one is present, else
    HOG with background-subtraction blobs, which are used only where they are reliable)."""
    kind = cfg.detector
    if kind == "auto":
        present = [m for m in MODELS.values() if m.present(models_dir)]
        kind = "dnn" if cfg.model is not None or present else "hog+motion"
    if kind == "dnn":
        from workbench.people_net import DnnPersonDetector

        spec = find_model(models_dir, cfg.model)
        log.info("person detector: %s from %s", spec.name, models_dir)
        return DnnPersonDetector(spec, models_dir, fps)
    if kind == "motion":
        return MotionPersonDetector(cfg.min_person_px, history=round(MOTION_HISTORY_S * fps))
    if kind == "hog":
        return HogPersonDetector(cfg.min_person_px, fps)
    return FusedPersonDetector(
        HogPersonDetector(cfg.min_person_px, fps),
        MotionPersonDetector(cfg.min_person_px, history=round(MOTION_HISTORY_S * fps)),
        round(FUSED_WARMUP_S * fps),
    )
