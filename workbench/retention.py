"""Key images and how long personal data is kept (``retention`` in the config).

``run(store, config)`` enforces the policy: key images older than ``images_days``
are deleted, face embeddings of one-time visitors last seen more than
``one_time_embeddings_days`` ago are deleted (they are no longer recognised; their
visits stay counted), alert rows older than ``alerts_days`` are deleted and, with
``blur_faces``, every stored image not yet blurred gets its faces blurred.
``workbench retention run`` calls it; a live service calls it once a day. The caller
holds the store's writer lock (the CLI takes it; ``workbench live`` already has it).

``blur_faces(jpeg)`` is also used for alert images as they are written.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from workbench.config import Config
from workbench.store import Store, _atomic_write

log = logging.getLogger(__name__)

BLURRED_MARK = b"workbench:blurred"  # a JPEG comment saying the faces are already blurred
FACE_KINDS = ("new_customer", "returning_customer", "defaulter")  # alert images that are face crops


def is_blurred(jpeg: bytes) -> bool:
    return BLURRED_MARK in jpeg[:64]


def blur_faces(
    jpeg: bytes,
    boxes: Sequence[tuple[float, float, float, float]] = (),
    whole_when_none: bool = False,
) -> bytes:
    """The JPEG with every face blurred beyond recognition.

    Faces are ``boxes`` (x, y, w, h in the image's pixels) plus those dlib's HOG
    detector finds. ``whole_when_none``: a picture that should show a face (a face
    key image) where none is found is blurred whole, so no face slips through.
    The result carries a comment marking it blurred (``is_blurred``).
    """
    from workbench.faces import HogFaceDetector

    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return jpeg
    h, w = image.shape[:2]
    found = HogFaceDetector(min_face_px=max(24, min(h, w) // 12), threshold=-0.3).detect(image)
    rects = [tuple(b) for b in boxes] + [
        (x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in found.xyxy.tolist()
    ]
    if not rects and whole_when_none:
        rects = [(0, 0, w, h)]
    for x, y, bw, bh in rects:
        # grow the box to cover hair and chin, then blur with a kernel as big as the face
        x1, y1 = int(max(0, x - 0.2 * bw)), int(max(0, y - 0.3 * bh))
        x2, y2 = int(min(w, x + 1.2 * bw)), int(min(h, y + 1.2 * bh))
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        k = max(3, (max(x2 - x1, y2 - y1) // 2) | 1)
        image[y1:y2, x1:x2] = cv2.GaussianBlur(image[y1:y2, x1:x2], (k, k), 0)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    data = buf.tobytes()
    comment = b"\xff\xfe" + (len(BLURRED_MARK) + 2).to_bytes(2, "big") + BLURRED_MARK
    return data[:2] + comment + data[2:]  # right after the start-of-image marker


def _image_day(path: Path) -> date | None:
    """The day in a key image's folder name (snapshots/<camera or alerts>/<YYYY-MM-DD>/x.jpg)."""
    try:
        return date.fromisoformat(path.parent.name)
    except ValueError:
        return None


def run(store: Store, config: Config, now: datetime | None = None, dry_run: bool = False) -> dict:
    """Enforce the retention policy once; returns counts of what was (or would be) removed."""
    now = now or datetime.now(UTC)
    policy = config.retention
    stats = {"images_deleted": 0, "images_blurred": 0, "embeddings_deleted": 0, "alerts_deleted": 0}
    images = sorted(store.snapshots_dir.glob("**/*.jpg")) if store.snapshots_dir.exists() else []
    if policy.images_days is not None:
        cutoff = now - timedelta(days=policy.images_days)
        for path in images:
            day = _image_day(path)
            taken = (
                datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1)
                if day
                else datetime.fromtimestamp(path.stat().st_mtime, UTC)
            )
            if taken < cutoff:
                stats["images_deleted"] += 1
                if not dry_run:
                    path.unlink(missing_ok=True)
        if not dry_run:
            for folder in sorted(store.snapshots_dir.glob("**/"), reverse=True):
                if folder != store.snapshots_dir and not any(folder.iterdir()):
                    folder.rmdir()
    if policy.blur_faces:
        stats["images_blurred"] = _blur_stored(store, dry_run)
    if policy.one_time_embeddings_days is not None:
        stats["embeddings_deleted"] = _forget_one_time(
            store, now - timedelta(days=policy.one_time_embeddings_days), dry_run
        )
    if policy.alerts_days is not None:
        stats["alerts_deleted"] = _drop_old_alerts(
            store, now - timedelta(days=policy.alerts_days), dry_run
        )
    log.info("retention%s: %s", " (dry run)" if dry_run else "", stats)
    return stats


def _blur_stored(store: Store, dry_run: bool) -> int:
    """Blur every stored image not blurred yet; face key images with no face found are blurred whole."""
    scenes = set(
        store.query(
            "SELECT snapshot FROM alerts WHERE snapshot IS NOT NULL AND kind NOT IN "
            f"({', '.join(repr(k) for k in FACE_KINDS)})"
        ).snapshot
    )
    n = 0
    for path in sorted(store.snapshots_dir.glob("**/*.jpg")):
        data = path.read_bytes()
        if is_blurred(data):
            continue
        n += 1
        if not dry_run:
            rel = path.relative_to(store.root).as_posix()
            blurred = blur_faces(data, whole_when_none=rel not in scenes)
            _atomic_write(path, lambda p, b=blurred: p.write_bytes(b))
    return n


def _forget_one_time(store: Store, cutoff: datetime, dry_run: bool) -> int:
    """Delete embeddings of customers with one visit, last seen before ``cutoff``; returns tracks changed."""
    tracks = store.query(
        "SELECT t.track_id FROM tracks t JOIN customers c USING (customer_id) "
        "WHERE c.visit_count = 1 AND c.last_seen < ? AND t.embedding IS NOT NULL",
        [cutoff],
    ).track_id
    ids = pa.array(sorted(set(tracks)), pa.string())
    if dry_run or not len(ids):
        return len(ids)
    for path in store.event_files("tracks"):
        data = pq.read_table(path)
        hit = pc.and_(pc.is_in(data["track_id"], value_set=ids), pc.is_valid(data["embedding"]))
        if not pc.any(hit).as_py():
            continue
        col = data.schema.get_field_index("embedding")
        emb = pc.if_else(hit, pa.nulls(len(data), data.schema.field(col).type), data["embedding"])
        data = data.set_column(col, data.schema.field(col), emb)
        _atomic_write(path, lambda p, d=data: pq.write_table(d, p, compression="zstd"))
    return len(ids)


def _drop_old_alerts(store: Store, cutoff: datetime, dry_run: bool) -> int:
    """Delete alert partitions of days before ``cutoff`` (their images go with the images policy)."""
    n = 0
    base = store.events_dir / "alerts"
    for folder in sorted(base.glob("date=*")) if base.exists() else []:
        if date.fromisoformat(folder.name.removeprefix("date=")) < cutoff.date():
            files = list(folder.glob("*/*.parquet"))
            n += sum(pq.read_metadata(f).num_rows for f in files)
            if not dry_run:
                shutil.rmtree(folder)
    return n
