"""A week of door-camera footage with known identities, and how well identity holds up on it.

There is no week of real shop footage with labelled people, so this builds one from real
face photos of known identity (../shared/data) composited into short clips over a real,
empty office background, then scores workbench and the seeds' approach on it.

    python benchmarks/week_footage.py build OUT_DIR [--days 7] [--seed 0] [--cast heldout]
    python benchmarks/week_footage.py evaluate OUT_DIR [--json] [--only workbench|seeds]
        [--consolidate | --nightly]

**Cast.** Every identity-labelled face photo in the shared data:

* ``dlib-examples/johns_identities.csv``: 5 people x 11 aligned 150x150 chips;
* ``face-recognition-ageitgey/identities.csv``: rows with one face (Obama, Biden, Kit
  Harington, Rose Leslie, Alex Lacamoire, Lin-Manuel Miranda);
* ``compreface-sample-images/faces_annotations.csv``: people A (6 phone photos), B (2), C (1);
* one-time visitors: every hand-labelled box of ``dlib-examples/faces_boxes.csv`` (43
  faces in 9 PASCAL VOC group photos, each a different person).

Photos are used as they come, with two rules fixed before any result was looked at:
photos whose faces are closer than ``SAME_PHOTO`` (0.15) to a kept photo of the same
person are the same picture re-encoded, cropped or resized (Obama's resolution ladder,
``32bit.png``, duplicated chips) and count once (the largest is kept); the upstream
"partial face" test photos (edge crops of another photo) are left out, since pasting them
shows a face cut by a straight line, which no camera produces.

People with three or more photos are *regulars* (several days a week, sometimes twice a
day with more than 10 minutes between), people with two are *occasional* (two different
days), the rest come once.

**Halves.** The cast is split by identity into two disjoint halves (``--cast tuning`` or
``heldout``; ``all`` is both), so thresholds can be calibrated on one and checked on the
other. ``TUNING`` and ``HELDOUT`` below list who goes where; the one-time visitors follow
the ``split`` column of faces_boxes.csv (training -> tuning, testing -> heldout).

**A visit.** One clip, 640x360 at 10 fps (``--size``), 3-6 s: a real frame of
``intel-sample-videos/one-by-one-person-detection.mp4`` (its first frames show the empty
office) with per-frame sensor noise; the person's photo (a different one on each visit,
cycling through their photos) cropped around the face (found with face_recognition's HOG
detector; the box given for group photos), scaled to a face height of 60-140 px (never
more than 1.5x the source face, so small source faces are not blown up beyond what they
hold), blended in with a soft edge above a plain torso; the person walks in from one side,
slows to a stop, pauses 1-2 s and walks out. Per visit: brightness and colour cast, scale,
a little blur and head tilt. A few clips hold two different people at once, one on each
side of the frame (``lane`` left/right).

**Truth.** ``OUT_DIR/truth.csv``: one row per person per clip: ``clip, start`` (ISO 8601
with offset, the clip's first frame), ``person, enter_s, leave_s`` (when at least half the
face box is in the frame), ``lane``, ``role``, ``face_px``, ``photo`` and ``path`` (the face
centre and height at key times, ``t:x:y:h;...``, linearly interpolated between). Tracks and
faces are matched to people by this path, so a detection elsewhere in the frame is counted
as spurious rather than credited to the person. ``OUT_DIR/meta.json`` records the settings.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TZ = "Asia/Kolkata"
WEEK_START = date(2026, 11, 16)  # a Monday
OPEN_H, CLOSE_H = 8, 20  # visits start between 08:00 and 20:00 local time
SAME_PHOTO = 0.15  # face embeddings of one person closer than this: the same picture
MIN_SAME_DAY_GAP_S = 600  # a regular's two visits on one day are more than 10 min apart
MIN_CLIP_GAP_S = 60  # clips of a day start at least this far apart
FACE_MIN_PX, FACE_MAX_PX = 60, 140  # face height in a 360 px tall frame
MAX_UPSCALE = 1.5  # a face is never drawn more than this times its size in the photo
TWO_PERSON_DAY_P = 0.5  # chance that a day has one clip with two people in it
REGULAR_SHARE = 0.55  # regulars make up about this share of a week's visits
TWICE_A_DAY_P = 0.15  # chance that a regular comes twice on a day they come
BACKGROUND_VIDEO = "intel-sample-videos/one-by-one-person-detection.mp4"
BACKGROUND_FRAMES = 45  # frames 0-49 of the background video show the empty office

# Who is in which half (by identity; see the module docstring).
TUNING = {
    "johns/John_Salley",
    "johns/John_Schneider",
    "johns/John_Simm",
    "ageitgey/barack_obama",
    "ageitgey/alex_lacamoire",
    "ageitgey/joe_biden",
    "ageitgey/lin_manuel_miranda",
    "compreface/B",
}
HELDOUT = {
    "johns/John_Savage",
    "johns/John_Shimkus",
    "ageitgey/kit_harington",
    "ageitgey/rose_leslie",
    "compreface/A",
    "compreface/C",
}
ONCE_SPLIT = {"training": "tuning", "testing": "heldout"}  # faces_boxes.csv split -> half
EXCLUDED_NOTES = ("partial face",)  # identities.csv notes of photos left out (see docstring)


# --------------------------------------------------------------------------- cast
@dataclass(frozen=True)
class Photo:
    file: str  # relative to the shared data folder
    box: tuple[int, int, int, int] | None = None  # x, y, w, h of the face when given
    others: tuple[tuple[int, int, int, int], ...] = ()  # other people's faces in the photo


@dataclass
class Person:
    id: str
    half: str
    photos: list[Photo]
    role: str = ""  # regular / occasional / once, set once the photos are known


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def cast_candidates(shared: Path = SHARED) -> list[Person]:
    """Everyone in the labelled photos, before photos are checked (see ``load_cast``)."""
    people: dict[str, Person] = {}

    def add(pid: str, half: str, photo: Photo) -> None:
        people.setdefault(pid, Person(pid, half, [])).photos.append(photo)

    def half_of(pid: str) -> str:
        if pid in TUNING:
            return "tuning"
        if pid in HELDOUT:
            return "heldout"
        raise ValueError(f"{pid} is in neither half; add it to TUNING or HELDOUT")

    for r in _read_csv(shared / "dlib-examples" / "johns_identities.csv"):
        pid = f"johns/{r['identity']}"
        add(pid, half_of(pid), Photo(f"dlib-examples/{r['file']}"))
    for r in _read_csv(shared / "face-recognition-ageitgey" / "identities.csv"):
        if r["n_known_faces"] != "1" or any(n in r["notes"] for n in EXCLUDED_NOTES):
            continue
        pid = f"ageitgey/{r['identity']}"
        add(pid, half_of(pid), Photo(f"face-recognition-ageitgey/{r['file']}"))
    for r in _read_csv(shared / "compreface-sample-images" / "faces_annotations.csv"):
        if r["identity"]:
            pid = f"compreface/{r['identity']}"
            add(pid, half_of(pid), Photo(f"compreface-sample-images/images/{r['file']}"))
    boxes: dict[str, list[tuple[tuple[int, int, int, int], str]]] = defaultdict(list)
    for r in _read_csv(shared / "dlib-examples" / "faces_boxes.csv"):
        box = tuple(int(r[k]) for k in ("left", "top", "box_width", "box_height"))
        boxes[r["file"]].append((box, r["split"]))
    for file, faces in boxes.items():
        for i, (box, split) in enumerate(faces, start=1):
            others = tuple(b for j, (b, _) in enumerate(faces, start=1) if j != i)
            photo = Photo(f"dlib-examples/{file}", box, others)
            add(f"pascal/{Path(file).stem}#{i}", ONCE_SPLIT[split], photo)
    return sorted(people.values(), key=lambda p: p.id)


@functools.cache
def _load_image(path: str) -> np.ndarray:
    """A photo as RGB, upright (EXIF orientation applied), at most 1600 px on its long side."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("RGB", (1600, 1600))  # decode huge phone photos at a reduced scale
        im = ImageOps.exif_transpose(im).convert("RGB")
        scale = min(1.0, 1600 / max(im.size))
        if scale < 1:
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        return np.asarray(im).copy()


@dataclass
class Sprite:
    """A head cut out of a photo: RGB pixels, a soft alpha mask and the face box inside it."""

    rgb: np.ndarray
    alpha: np.ndarray  # float32 0..1
    face: tuple[float, float, float, float]  # x, y, w, h within rgb
    source_box: tuple[int, int, int, int]  # x, y, w, h of the face in the photo


def _find_face(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """The largest face found by face_recognition's HOG detector, as x, y, w, h."""
    import face_recognition

    pad = max(rgb.shape[:2]) // 6
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    for small, upsample in ((800, 0), (800, 1), (1600, 1)):
        scale = min(1.0, small / max(padded.shape[:2]))
        img = padded if scale == 1 else cv2.resize(padded, None, fx=scale, fy=scale)
        locs = face_recognition.face_locations(img, upsample)
        if locs:
            t, r, b, left = max(locs, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
            x, y = left / scale - pad, t / scale - pad
            return round(x), round(y), round((r - left) / scale), round((b - t) / scale)
    return None


def _soft_mask(h: int, w: int) -> np.ndarray:
    """A rounded (superellipse) mask with a feathered edge, so a pasted head has no outline."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = (xx + 0.5) / w * 2 - 1, (yy + 0.5) / h * 2 - 1
    r = (np.abs(u) ** 3 + np.abs(v) ** 3) ** (1 / 3)
    feather = 0.18
    return np.clip((1 - r) / feather, 0, 1).astype(np.float32)


@functools.cache
def make_sprite(photo: Photo, shared: Path = SHARED) -> Sprite | None:
    """The head of ``photo`` with some margin, or None when no face is found in it."""
    rgb = _load_image(str(shared / photo.file))
    box = photo.box or _find_face(rgb)
    if box is None:
        return None
    x, y, w, h = box
    H, W = rgb.shape[:2]
    x1, x2 = max(0, round(x - 0.45 * w)), min(W, round(x + w + 0.45 * w))
    y1, y2 = max(0, round(y - 0.75 * h)), min(H, round(y + h + 0.5 * h))
    crop = rgb[y1:y2, x1:x2]
    alpha = _soft_mask(*crop.shape[:2])
    if photo.others:  # a group photo: neighbours' faces in the margin are not this person
        keep = np.ones(crop.shape[:2], np.float32)
        for ox, oy, ow, oh in photo.others:
            m = 0.15
            keep[
                max(0, round(oy - m * oh - y1)) : max(0, round(oy + (1 + m) * oh - y1)),
                max(0, round(ox - m * ow - x1)) : max(0, round(ox + (1 + m) * ow - x1)),
            ] = 0
        keep[y - y1 : y - y1 + h, x - x1 : x - x1 + w] = 1  # never cut into the own face
        alpha *= cv2.GaussianBlur(keep, (0, 0), max(1.0, 0.05 * h))
    face = (float(x - x1), float(y - y1), float(w), float(h))
    if h > 2 * FACE_MAX_PX:  # keep sprites small; frames never need more
        s = 2 * FACE_MAX_PX / h
        crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_AREA)
        face = tuple(v * s for v in face)
    return Sprite(np.ascontiguousarray(crop), alpha, face, box)


@functools.cache
def photo_encoding(photo: Photo, shared: Path = SHARED) -> np.ndarray | None:
    """face_recognition's 128-d encoding of the photo's face (to spot repeated pictures)."""
    import face_recognition

    sprite = make_sprite(photo, shared)
    if sprite is None:
        return None
    x, y, w, h = sprite.source_box
    rgb = _load_image(str(shared / photo.file))
    encs = face_recognition.face_encodings(rgb, [(y, x + w, y + h, x)])
    return encs[0] if encs else None


def load_cast(cast: str = "all", shared: Path = SHARED) -> list[Person]:
    """The people of one half (or all), with usable, distinct photos and their role."""
    if cast not in ("all", "tuning", "heldout"):
        raise ValueError(f"cast must be all, tuning or heldout, not {cast!r}")
    people = []
    for person in cast_candidates(shared):
        if cast != "all" and person.half != cast:
            continue
        kept: list[tuple[Photo, Sprite]] = []
        for photo in person.photos:
            sprite = make_sprite(photo, shared)
            if sprite is None:
                continue
            enc = photo_encoding(photo, shared) if len(person.photos) > 1 else None
            dup = [
                i
                for i, (other, _) in enumerate(kept)
                if enc is not None
                and photo_encoding(other, shared) is not None
                and np.linalg.norm(photo_encoding(other, shared) - enc) < SAME_PHOTO
            ]
            if not dup:
                kept.append((photo, sprite))
            elif sprite.source_box[3] > kept[dup[0]][1].source_box[3]:
                kept[dup[0]] = (photo, sprite)
        if not kept:
            continue
        person.photos = [p for p, _ in kept]
        n = len(person.photos)
        person.role = "regular" if n >= 3 else "occasional" if n == 2 else "once"
        people.append(person)
    return people


# --------------------------------------------------------------------------- schedule
@dataclass
class Appearance:
    """One person in one clip: where they walk and how they look."""

    person: str
    role: str
    photo: Photo
    lane: str  # "center" alone in the clip, else "left" / "right"
    face_px: float
    keys: list[tuple[float, float, float]] = field(default_factory=list)  # (t, x, y) of face centre
    tilt: float = 0.0
    gain: float = 1.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    blur: float = 0.0
    torso: tuple[int, int, int] = (60, 60, 60)


@dataclass
class Clip:
    name: str
    start: datetime
    duration: float
    people: list[Appearance]
    background: int
    noise: float
    light: float


def _day_visits(rng, people: list[Person], days: int, per_day: tuple[int, int]):
    """Which people come on which day (lists of person ids; a regular may appear twice).

    Regulars come on 3 to 5 days, fewer when there are many of them, so that they make
    up about ``REGULAR_SHARE`` of the week's visits; each chooses the less busy days more
    often. One-time visitors fill each day up to its number of visits (``per_day``), as
    far as there are enough of them.
    """
    load: list[list[str]] = [[] for _ in range(days)]
    regulars = [p for p in people if p.role == "regular"]
    expected = days * (per_day[0] + per_day[1]) / 2
    most = REGULAR_SHARE * expected / max(1, len(regulars)) / (1 + TWICE_A_DAY_P)
    hi = min(days, 5, max(3, round(most)))
    lo = min(days, 3)
    for p in people:
        if p.role == "regular":
            n_days = int(rng.integers(lo, hi + 1))
            weight = 1 / (1 + np.array([len(v) for v in load], float))
            chosen = rng.choice(days, size=n_days, replace=False, p=weight / weight.sum())
            for d in sorted(chosen):
                load[d].append(p.id)
                if rng.random() < TWICE_A_DAY_P:
                    load[d].append(p.id)
        elif p.role == "occasional":
            for d in sorted(rng.choice(days, size=min(2, days), replace=False)):
                load[d].append(p.id)
    once = [p.id for p in people if p.role == "once"]
    rng.shuffle(once)
    target = [int(rng.integers(per_day[0], per_day[1] + 1)) for _ in range(days)]
    extra = [max(0, target[d] - len(load[d])) for d in range(days)]
    while sum(extra) > len(once):  # not enough one-timers: take from the busiest days
        d = max((d for d in range(days) if extra[d]), key=lambda d: len(load[d]) + extra[d])
        extra[d] -= 1
    for d in range(days):
        load[d].extend(once[: extra[d]])
        once = once[extra[d] :]
    return load


def _day_times(rng, n: int, same_person: list[tuple[int, int]]) -> list[int]:
    """Start times (seconds after midnight) of a day's n clips, clip i at the i-th time.

    Clips start at least ``MIN_CLIP_GAP_S`` apart; the clips of each pair in
    ``same_person`` (one person twice that day) more than ``MIN_SAME_DAY_GAP_S`` apart.
    """
    lo, hi = OPEN_H * 3600, CLOSE_H * 3600 - 60
    for _ in range(10000):
        t = np.sort(rng.integers(lo, hi, size=n))
        if n > 1 and np.diff(t).min() < MIN_CLIP_GAP_S:
            continue
        if all(abs(int(t[a]) - int(t[b])) > MIN_SAME_DAY_GAP_S for a, b in same_person):
            return [int(v) for v in t]
    raise RuntimeError("cannot place the day's visits; widen opening hours")


def plan_week(
    people: list[Person],
    days: int = 7,
    seed: int = 0,
    size: tuple[int, int] = (640, 360),
    fps: float = 10.0,
    per_day: tuple[int, int] = (5, 10),
) -> list[Clip]:
    """The week's clips: who, when, where they walk and how they look. Deterministic in seed."""
    rng = np.random.default_rng(seed)
    W, H = size
    by_id = {p.id: p for p in people}
    shuffled = {p.id: [p.photos[i] for i in rng.permutation(len(p.photos))] for p in people}
    seen: Counter[str] = Counter()
    face_hi = min(FACE_MAX_PX, FACE_MAX_PX * H / 360)
    clips: list[Clip] = []
    tz = ZoneInfo(TZ)
    for d, visitors in enumerate(_day_visits(rng, people, days, per_day)):
        order = list(rng.permutation(len(visitors)))
        groups = [[visitors[i]] for i in order]
        if len(groups) > 2 and rng.random() < TWO_PERSON_DAY_P:
            a = int(rng.integers(len(groups)))
            partners = [
                i for i, g in enumerate(groups) if i != a and g[0] != groups[a][0] and len(g) == 1
            ]
            if partners:
                b = partners[int(rng.integers(len(partners)))]
                groups[a] = [groups[a][0], groups[b][0]]
                del groups[b]
        pairs = [
            (i, j)
            for i in range(len(groups))
            for j in range(i + 1, len(groups))
            if set(groups[i]) & set(groups[j])
        ]
        times = _day_times(rng, len(groups), pairs)
        day = WEEK_START + timedelta(days=d)
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        placed = list(zip(times, groups, strict=True))
        for k, (t, group) in enumerate(placed, start=1):
            start = midnight + timedelta(seconds=t)
            lanes = ["center"] if len(group) == 1 else list(rng.permutation(["left", "right"]))
            apps = []
            offset = float(rng.uniform(0.0, 0.5))
            for pid, lane in zip(group, lanes, strict=True):
                person = by_id[pid]
                photo = shuffled[pid][seen[pid] % len(shuffled[pid])]
                seen[pid] += 1
                sprite = make_sprite(photo)
                hi = max(FACE_MIN_PX, min(face_hi, MAX_UPSCALE * sprite.face[3]))
                face_px = float(rng.uniform(FACE_MIN_PX, hi)) if hi > FACE_MIN_PX else FACE_MIN_PX
                app = Appearance(pid, person.role, photo, str(lane), face_px)
                app.keys = _walk(rng, app, sprite, W, H, offset)
                offset += float(rng.uniform(0.4, 1.2))
                app.tilt = float(rng.uniform(-6, 6))
                app.gain = float(rng.uniform(0.75, 1.2))
                app.tint = tuple(float(v) for v in rng.uniform(0.93, 1.07, size=3))
                app.blur = float(rng.uniform(0.0, 1.0))
                app.torso = tuple(int(v) for v in rng.integers(25, 160, size=3))
                apps.append(app)
            end = max(a.keys[-1][0] for a in apps) + float(rng.uniform(0.2, 0.6))
            clips.append(
                Clip(
                    name=f"day{d + 1}_{start:%H%M}_{k}.mp4",
                    start=start,
                    duration=max(3.0, math.ceil(end * fps) / fps),
                    people=apps,
                    background=int(rng.integers(BACKGROUND_FRAMES)),
                    noise=float(rng.uniform(1.5, 3.5)),
                    light=float(rng.uniform(0.85, 1.1)),
                )
            )
    return clips


def _walk(rng, app: Appearance, sprite: Sprite, W: int, H: int, t0: float):
    """Key points (t, x, y) of the face centre: enter from a side, slow down, pause, leave."""
    s = app.face_px / sprite.face[3]
    half_w = sprite.rgb.shape[1] * s / 2 + 4  # the whole head outside the frame
    if app.lane == "left":
        x_stop, enter, leave = rng.uniform(0.2, 0.33) * W, "left", "left"
    elif app.lane == "right":
        x_stop, enter, leave = rng.uniform(0.67, 0.8) * W, "right", "right"
    else:
        x_stop = rng.uniform(0.3, 0.7) * W
        enter = "left" if rng.random() < 0.5 else "right"
        leave = "left" if rng.random() < 0.5 else "right"
    x_in = -half_w if enter == "left" else W + half_w
    x_out = -half_w if leave == "left" else W + half_w
    y = rng.uniform(max(0.3 * H, 0.75 * app.face_px), max(0.5 * H, 0.75 * app.face_px))
    walk_in, pause, walk_out = rng.uniform(0.8, 1.6), rng.uniform(1.0, 2.0), rng.uniform(0.8, 1.6)
    t1 = t0 + walk_in
    t2 = t1 + pause
    t3 = t2 + walk_out
    return [(t0, x_in, y), (t1, x_stop, y), (t2, x_stop, y), (t3, x_out, y)]


def position(app: Appearance, t: float) -> tuple[float, float] | None:
    """Face centre at time t (None before the person comes in or after they have gone).

    Walking in slows down into the stop, walking out speeds up from it; the head bobs a
    little with each step while walking.
    """
    (t0, x_in, y), (t1, x_stop, _), (t2, _, _), (t3, x_out, _) = app.keys
    if t < t0 or t > t3:
        return None
    if t <= t1:
        u = (t - t0) / (t1 - t0)
        x = x_in + (x_stop - x_in) * (1 - (1 - u) ** 2)
    elif t <= t2:
        return x_stop, y
    else:
        u = (t - t2) / (t3 - t2)
        x = x_stop + (x_out - x_stop) * u * u
    return x, y + 0.03 * app.face_px * math.sin(2 * math.pi * 2.0 * t)


# --------------------------------------------------------------------------- rendering
def background_frame(index: int, size: tuple[int, int], shared: Path = SHARED) -> np.ndarray:
    """A frame of the empty office, scaled (and centre-cropped) to ``size``."""
    cap = cv2.VideoCapture(str(shared / BACKGROUND_VIDEO))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError(f"cannot read frame {index} of {BACKGROUND_VIDEO}")
    W, H = size
    h, w = frame.shape[:2]
    if w / h > W / H:  # crop the sides to the target aspect
        cw = round(h * W / H)
        frame = frame[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = round(w * H / W)
        frame = frame[(h - ch) // 2 : (h - ch) // 2 + ch]
    return cv2.resize(frame, (W, H), interpolation=cv2.INTER_AREA)


def _styled(app: Appearance) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float]]:
    """The appearance's head at its size: BGR float image, alpha, face box."""
    sprite = make_sprite(app.photo)
    s = app.face_px / sprite.face[3]
    h, w = sprite.rgb.shape[:2]
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    img = cv2.resize(cv2.cvtColor(sprite.rgb, cv2.COLOR_RGB2BGR), size, interpolation=interp)
    alpha = cv2.resize(sprite.alpha, size, interpolation=cv2.INTER_LINEAR)
    fx, fy, fw, fh = (v * s for v in sprite.face)
    centre = (fx + fw / 2, fy + fh / 2)
    rot = cv2.getRotationMatrix2D(centre, app.tilt, 1.0)
    img = cv2.warpAffine(img, rot, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(alpha, rot, size, flags=cv2.INTER_LINEAR, borderValue=0)
    img = img.astype(np.float32) * app.gain * np.array(app.tint[::-1], np.float32)
    if app.blur > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), app.blur)
    return img, alpha, (fx, fy, fw, fh)


def _paste(frame: np.ndarray, img: np.ndarray, alpha: np.ndarray, x0: float, y0: float) -> None:
    H, W = frame.shape[:2]
    h, w = img.shape[:2]
    x0, y0 = round(x0), round(y0)
    fx1, fy1, fx2, fy2 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if fx1 >= fx2 or fy1 >= fy2:
        return
    sub = (slice(fy1 - y0, fy2 - y0), slice(fx1 - x0, fx2 - x0))
    a = alpha[sub][..., None]
    frame[fy1:fy2, fx1:fx2] = frame[fy1:fy2, fx1:fx2] * (1 - a) + img[sub] * a


def _torso(app: Appearance, face_w: float) -> tuple[np.ndarray, np.ndarray]:
    fh = app.face_px
    w, h = round(2.6 * face_w), round(2.4 * fh)
    img = np.empty((h, w, 3), np.float32)
    img[:] = np.array(app.torso, np.float32) * app.gain
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 0.85 + 0.15 * np.cos((xx / w - 0.5) * math.pi)  # rounder in the middle
    img *= shade[..., None]
    alpha = _soft_mask(h, w)
    alpha[: h // 2] *= (yy[: h // 2] / (h / 2)) ** 0.3  # shoulders: narrower at the top
    return img, alpha


def render_clip(clip: Clip, path: Path, size: tuple[int, int], fps: float, seed: int) -> list:
    """Write the clip and return, per person, the (first, last) time their face is in view."""
    W, H = size
    rng = np.random.default_rng(seed)
    bg = background_frame(clip.background, size).astype(np.float32) * clip.light
    heads = [_styled(a) for a in clip.people]
    torsos = [_torso(a, f[2]) for a, (_, _, f) in zip(clip.people, heads, strict=True)]
    n = round(clip.duration * fps)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path} with the mp4v codec")
    in_view: list[list[float]] = [[] for _ in clip.people]
    try:
        for i in range(n):
            t = i / fps
            frame = bg.copy()
            drawn = []
            for k, app in enumerate(clip.people):
                pos = position(app, t)
                if pos is None:
                    continue
                drawn.append((app.face_px, k, pos))
            for _, k, (cx, cy) in sorted(drawn):  # the bigger (nearer) face in front
                img, alpha, (fx, fy, fw, fh) = heads[k]
                timg, talpha = torsos[k]
                _paste(frame, timg, talpha, cx - timg.shape[1] / 2, cy + 0.45 * fh)
                _paste(frame, img, alpha, cx - fx - fw / 2, cy - fy - fh / 2)
                x1, y1 = cx - fw / 2, cy - fh / 2
                inside = max(0.0, min(W, x1 + fw) - max(0.0, x1)) * max(
                    0.0, min(H, y1 + fh) - max(0.0, y1)
                )
                if inside >= 0.5 * fw * fh:
                    in_view[k].append(t)
            flicker = 1 + rng.normal(0, 0.01)
            frame = frame * flicker + rng.standard_normal(frame.shape, np.float32) * clip.noise
            writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    finally:
        writer.release()
    return [(v[0], v[-1]) if v else (None, None) for v in in_view]


TRUTH_COLUMNS = [
    "clip",
    "start",
    "person",
    "enter_s",
    "leave_s",
    "lane",
    "role",
    "face_px",
    "photo",
    "path",
]


def _path_text(app: Appearance, fps: float, duration: float) -> str:
    """Face centre and height every 0.2 s while on the path: ``t:x:y:h;...``."""
    out = []
    for i in range(round(duration * fps) + 1):
        t = i / fps
        pos = position(app, t)
        if pos is not None and (i % 2 == 0 or not out):
            out.append(f"{t:.2f}:{pos[0]:.1f}:{pos[1]:.1f}:{app.face_px:.1f}")
    return ";".join(out)


def build(
    out_dir: Path,
    days: int = 7,
    seed: int = 0,
    cast: str = "heldout",
    size: tuple[int, int] = (640, 360),
    fps: float = 10.0,
    per_day: tuple[int, int] = (5, 10),
) -> list[dict]:
    """Write ``out_dir/clips/*.mp4``, ``truth.csv`` and ``meta.json``; return the truth rows."""
    out_dir = Path(out_dir)
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    people = load_cast(cast)
    clips = plan_week(people, days, seed, size, fps, per_day)
    rows = []
    for n, clip in enumerate(clips):
        spans = render_clip(clip, out_dir / "clips" / clip.name, size, fps, seed * 100003 + n)
        for app, (enter, leave) in zip(clip.people, spans, strict=True):
            rows.append(
                {
                    "clip": clip.name,
                    "start": clip.start.isoformat(),
                    "person": app.person,
                    "enter_s": "" if enter is None else f"{enter:.1f}",
                    "leave_s": "" if leave is None else f"{leave:.1f}",
                    "lane": app.lane,
                    "role": app.role,
                    "face_px": f"{app.face_px:.0f}",
                    "photo": app.photo.file
                    + ("" if app.photo.box is None else f"#{app.photo.box}"),
                    "path": _path_text(app, fps, clip.duration),
                }
            )
    with open(out_dir / "truth.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, TRUTH_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    meta = {
        "days": days,
        "seed": seed,
        "cast": cast,
        "width": size[0],
        "height": size[1],
        "fps": fps,
        "per_day": list(per_day),
        "timezone": TZ,
        "clips": {c.name: round(c.duration, 3) for c in clips},
        "people": {p.id: {"role": p.role, "photos": len(p.photos)} for p in people},
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1))
    return rows


# --------------------------------------------------------------------------- evaluation
@dataclass
class TruthVisit:
    index: int
    clip: str
    start: datetime
    duration: float
    person: str
    lane: str
    face_px: float
    photo: str
    path: np.ndarray  # (n, 4): t, x, y, h

    def near(self, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance (in face heights) from points at times t to this person's face centre."""
        p = self.path
        inside = (t >= p[0, 0] - 0.3) & (t <= p[-1, 0] + 0.3)
        px = np.interp(t, p[:, 0], p[:, 1])
        py = np.interp(t, p[:, 0], p[:, 2])
        d = np.hypot(x - px, y - py) / p[0, 3]
        return np.where(inside, d, np.inf)


def read_truth(out_dir: Path) -> tuple[list[TruthVisit], dict]:
    meta = json.loads((Path(out_dir) / "meta.json").read_text())
    visits = []
    for i, r in enumerate(_read_csv(Path(out_dir) / "truth.csv")):
        path = np.array([[float(v) for v in k.split(":")] for k in r["path"].split(";")])
        visits.append(
            TruthVisit(
                i,
                r["clip"],
                datetime.fromisoformat(r["start"]),
                float(meta["clips"][r["clip"]]),
                r["person"],
                r["lane"],
                float(r["face_px"]),
                r["photo"],
                path,
            )
        )
    visits.sort(key=lambda v: (v.start, v.index))
    return visits, meta


MATCH_FACE_HEIGHTS = 0.75  # a face this close to a person's path (median) is that person


def assign(visits: list[TruthVisit], clip: str, t: np.ndarray, x: np.ndarray, y: np.ndarray):
    """The truth visit in ``clip`` whose path the points (face centres at times t) follow."""
    best, best_d = None, np.inf
    for v in visits:
        if v.clip != clip:
            continue
        d = float(np.median(v.near(t, x, y)))
        if d < best_d:
            best, best_d = v, d
    return best if best_d <= MATCH_FACE_HEIGHTS else None


def score(
    visits: list[TruthVisit], units: list[tuple[int | None, str | None]], all_ids: set[str]
) -> dict:
    """Metrics from units (a track or a face): (truth visit index or None, customer id or None)."""
    by_visit: dict[int, list[str]] = defaultdict(list)
    spurious = 0
    for vi, cid in units:
        if vi is None:
            spurious += 1
        elif cid is not None:
            by_visit[vi].append(cid)
    major = {
        v.index: Counter(by_visit[v.index]).most_common(1)[0][0] if by_visit[v.index] else None
        for v in visits
    }
    people = sorted({v.person for v in visits})
    found = [v for v in visits if major[v.index] is not None]

    def owners(ids_of) -> dict[str, set[str]]:
        own: dict[str, set[str]] = defaultdict(set)
        for v in found:
            for cid in ids_of(v):
                own[cid].add(v.person)
        return own

    def split_count(ids_of) -> int:
        return sum(
            len({cid for v in found if v.person == p for cid in ids_of(v)}) > 1 for p in people
        )

    def major_ids(v):
        return {major[v.index]}

    def any_ids(v):
        return set(by_visit[v.index])

    first: dict[str, TruthVisit] = {}
    returns = recognised = 0
    for v in visits:
        if v.person not in first:
            first[v.person] = v
            continue
        returns += 1
        want = major[first[v.person].index]
        recognised += want is not None and major[v.index] == want
    tp = fp = fn = 0
    for i, a in enumerate(visits):
        for b in visits[i + 1 :]:
            same = a.person == b.person
            pred = major[a.index] is not None and major[a.index] == major[b.index]
            tp += same and pred
            fp += pred and not same
            fn += same and not pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    used = {m for m in major.values() if m is not None}
    return {
        "visits_true": len(visits),
        "visits_found": len(found),
        "people_true": len(people),
        "customers_pred": len(all_ids),
        "stray_ids": len(all_ids - used),
        "people_split": split_count(major_ids),
        "false_merges": sum(len(p) > 1 for p in owners(major_ids).values()),
        "people_split_any": split_count(any_ids),
        "false_merges_any": sum(len(p) > 1 for p in owners(any_ids).values()),
        "returns_true": returns,
        "returns_recognised": recognised,
        "returning_recall": round(recognised / returns, 4) if returns else 1.0,
        "pair_precision": round(precision, 4),
        "pair_recall": round(recall, 4),
        "pair_f1": round(2 * precision * recall / (precision + recall), 4)
        if precision + recall
        else 0.0,
        "spurious_units": spurious,
        "_major": major,
    }


def _clip_of(visits: list[TruthVisit], ts) -> tuple[str, datetime] | None:
    for v in visits:
        if v.start - timedelta(seconds=0.5) <= ts <= v.start + timedelta(seconds=v.duration + 0.5):
            return v.clip, v.start
    return None


def _code_hash() -> str:
    """A short hash of workbench's source files, to tell which version was measured."""
    import hashlib

    import workbench.config  # (a module: the editable install may make the package a namespace)

    digest = hashlib.sha256()
    for f in sorted(Path(workbench.config.__file__).parent.glob("*.py")):
        digest.update(f.name.encode() + f.read_bytes())
    return digest.hexdigest()[:12]


def evaluate_workbench(
    out_dir: Path,
    keep_store: Path | None = None,
    log=None,
    consolidate: bool = False,
    nightly: bool = False,
    settings: tuple[str, ...] = (),
) -> dict:
    """Ingest every clip in start order into a fresh store; score its tracks and visits.

    With ``consolidate``, ``workbench customers consolidate`` then runs once at the end
    and ``metrics["consolidated"]`` scores the consolidated ids. With ``nightly``, it runs
    after each day's last clip instead, as a shop would schedule it, so later days are
    identified against the consolidated gallery; the metrics are those at the end.
    """
    from workbench.config import with_settings
    from workbench.consolidate import consolidate as run_consolidate
    from workbench.pipeline import ingest
    from workbench.store import Store

    code = _code_hash()  # as imported, before any later edit
    out_dir = Path(out_dir)
    visits, meta = read_truth(out_dir)
    clips = sorted({(v.start, v.clip) for v in visits})
    with tempfile.TemporaryDirectory(prefix="week-store-") as tmp:
        root = Path(keep_store) if keep_store else Path(tmp) / "store"
        cfg = with_settings(
            {"store": str(root), "timezone": TZ, "cameras": [{"id": "door"}]}, list(settings)
        )
        store = Store(root, cfg)
        t0 = time.perf_counter()
        for n, (start, name) in enumerate(clips, start=1):
            ingest(
                [out_dir / "clips" / name],
                camera="door",
                store=store,
                config=cfg,
                start=start,
                progress=False,
            )
            if nightly and (n == len(clips) or clips[n][0].date() != start.date()):
                run_consolidate(store)
            if log:
                log(f"workbench {n}/{len(clips)} {name} {time.perf_counter() - t0:.0f}s")
        wall = time.perf_counter() - t0
        metrics = score_store(out_dir, store)
        if consolidate:
            t1 = time.perf_counter()
            run_consolidate(store)
            metrics["consolidated"] = score_store(out_dir, store)
            metrics["consolidated"]["wall_s"] = round(time.perf_counter() - t1, 1)
    metrics["settings"] = {
        "match_distance": cfg.recognition.match_distance,
        "min_face_quality": cfg.recognition.min_face_quality,
        "detect_fps": cfg.detection.detect_fps,
        "min_face_px": cfg.detection.min_face_px,
        "consolidated": "nightly" if nightly else consolidate,
        "face_detector": cfg.detection.face_detector,
        "set": list(settings),
        "code": code,
    }
    metrics["wall_s"] = round(wall, 1)
    metrics["video_s"] = round(sum(meta["clips"].values()), 1)
    return metrics


def score_store(out_dir: Path, store) -> dict:
    """Score a store that holds the ingested week against the truth."""
    visits, _ = read_truth(Path(out_dir))
    tracks = store.query("SELECT * FROM tracks ORDER BY start")
    sightings = store.query("SELECT track_id, ts, x, y, w, h FROM sightings")
    pred_visits = store.query("SELECT * FROM visits")
    units, track_visit = [], {}
    sight = {tid: g for tid, g in sightings.groupby("track_id")}
    for tr in tracks.itertuples():
        where = _clip_of(visits, tr.start.to_pydatetime())
        vi = None
        if where is not None and tr.track_id in sight:
            g = sight[tr.track_id]
            t = np.array([(ts.to_pydatetime() - where[1]).total_seconds() for ts in g.ts])
            v = assign(visits, where[0], t, (g.x + g.w / 2).to_numpy(), (g.y + g.h / 2).to_numpy())
            vi = None if v is None else v.index
        cid = tr.customer_id if isinstance(tr.customer_id, str) else None
        units.append((vi, cid))
        track_visit[tr.track_id] = vi
    all_ids = {c for c in tracks.customer_id if isinstance(c, str)}
    metrics = score(visits, units, all_ids)
    metrics["visits_pred"] = len(pred_visits)
    metrics["tracks"] = len(tracks)
    metrics["_tracks"] = tracks.assign(visit=[track_visit[t] for t in tracks.track_id])
    return metrics


def evaluate_seeds(out_dir: Path, log=None) -> dict:
    """The seeds' approach (benchmarks/seeds_reference.py) over every clip in order."""
    from seeds_reference import SeedsIdentifier

    out_dir = Path(out_dir)
    visits, meta = read_truth(out_dir)
    clips = sorted({(v.start, v.clip) for v in visits})
    seeds = SeedsIdentifier()
    units = []
    t0 = time.perf_counter()
    for n, (_, name) in enumerate(clips, start=1):
        cap = cv2.VideoCapture(str(out_dir / "clips" / name))
        fps = cap.get(cv2.CAP_PROP_FPS) or meta["fps"]
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            for (top, right, bottom, left), cid in seeds.faces(
                cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            ):
                t = np.array([i / fps])
                v = assign(
                    visits,
                    name,
                    t,
                    np.array([(left + right) / 2]),
                    np.array([(top + bottom) / 2]),
                )
                units.append((None if v is None else v.index, cid))
            i += 1
        cap.release()
        if log:
            log(f"seeds {n}/{len(clips)} {name} {time.perf_counter() - t0:.0f}s")
    wall = time.perf_counter() - t0
    metrics = score(visits, units, set(seeds.names))
    metrics["faces"] = len(units)
    metrics["wall_s"] = round(wall, 1)
    metrics["video_s"] = round(sum(meta["clips"].values()), 1)
    return metrics


def public(metrics: dict) -> dict:
    """The metrics without the private details (keys starting with an underscore)."""
    return {k: v for k, v in metrics.items() if not k.startswith("_")}


def failures(out_dir: Path, metrics: dict) -> list[str]:
    """Human-readable lines about each visit missed or given the wrong customer id.

    With workbench's metrics each line also lists the visit's tracks: customer id, best
    face quality, sightings, embedded faces and match distance (nan: a new customer).
    """
    visits, _ = read_truth(out_dir)
    major = metrics["_major"]
    tracks = metrics.get("_tracks")
    owner: dict[str, Counter] = defaultdict(Counter)
    for v in visits:
        if major[v.index] is not None:
            owner[major[v.index]][v.person] += 1
    first: dict[str, TruthVisit] = {}
    lines = []
    for v in visits:
        cid = major[v.index]
        mine = tracks[tracks.visit == v.index] if tracks is not None else None
        desc = f"{v.clip} {v.person} ({v.lane}, face {v.face_px:.0f}px, {Path(v.photo).name})"
        detail = ""
        if mine is not None:
            detail = "; tracks: " + (
                ", ".join(
                    f"{r.customer_id} q={r.quality:.2f} n={r.sightings} emb={r.embedded}"
                    f" d={r.match_distance:.3f}"
                    for r in mine.itertuples()
                )
                or "none"
            )
        if cid is None:
            lines.append(f"NOT FOUND {desc}{detail}")
        else:
            others = [p for p in owner[cid] if p != v.person]
            if others:
                lines.append(f"MERGED {desc} -> {cid}, also given to {others}{detail}")
            if v.person in first:
                want = major[first[v.person].index]
                if cid != want:
                    lines.append(f"RETURN MISSED {desc}: got {cid}, first visit {want}{detail}")
        for r in [] if mine is None else mine.itertuples():
            if isinstance(r.customer_id, str) and r.customer_id != cid:
                lines.append(
                    f"STRAY ID {desc}: track {r.track_id} ({r.sightings} sightings, "
                    f"q={r.quality:.2f}) got {r.customer_id}, the visit is {cid}"
                )
        first.setdefault(v.person, v)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write clips/, truth.csv and meta.json")
    b.add_argument("out_dir", type=Path)
    b.add_argument("--days", type=int, default=7)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--cast", choices=["heldout", "tuning", "all"], default="heldout")
    b.add_argument("--size", default="640x360", help="frame size WxH (default 640x360)")
    b.add_argument("--fps", type=float, default=10.0)
    b.add_argument("--per-day", default="5-10", help="visits per day, lo-hi (default 5-10)")
    e = sub.add_parser("evaluate", help="score workbench and the seeds' approach")
    e.add_argument("out_dir", type=Path)
    e.add_argument("--json", action="store_true", help="print only the JSON object")
    e.add_argument("--only", choices=["workbench", "seeds"])
    e.add_argument("--keep-store", type=Path, help="write workbench's store here (kept)")
    e.add_argument(
        "--set", action="append", default=[], help="a workbench setting KEY=VALUE (repeatable)"
    )
    e.add_argument(
        "--consolidate", action="store_true", help="also score after `customers consolidate`"
    )
    e.add_argument(
        "--nightly",
        action="store_true",
        help="run `customers consolidate` after each day's clips (scores at the end)",
    )
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.cmd == "build":
        w, h = (int(v) for v in args.size.lower().split("x"))
        lo, hi = (int(v) for v in args.per_day.split("-"))
        t0 = time.perf_counter()
        rows = build(args.out_dir, args.days, args.seed, args.cast, (w, h), args.fps, (lo, hi))
        clips = len({r["clip"] for r in rows})
        log(
            f"{clips} clips, {len(rows)} visits of {len({r['person'] for r in rows})} people "
            f"in {args.out_dir} ({time.perf_counter() - t0:.0f}s)"
        )
        return 0
    result, raw = {}, {}
    if args.only in (None, "workbench"):
        raw["workbench"] = evaluate_workbench(
            args.out_dir, args.keep_store, log, args.consolidate, args.nightly, tuple(args.set)
        )
        if args.consolidate:
            raw["workbench+consolidate"] = raw["workbench"].pop("consolidated")
        if args.nightly:
            raw["workbench+nightly"] = raw.pop("workbench")
    if args.only in (None, "seeds"):
        raw["seeds"] = evaluate_seeds(args.out_dir, log)
    result = {k: public(v) for k, v in raw.items()}
    if not args.json:
        for name, metrics in raw.items():
            for line in failures(args.out_dir, metrics):
                print(f"{name}: {line}")
    print(json.dumps(result, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
