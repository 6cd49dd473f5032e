"""Frame sources: where pictures come from.

Every source yields ``Frame`` objects (index, wall-clock time, BGR image) and
says how many frames it expects, so the pipeline never cares whether frames come
from a video file, a folder of images, a camera or a stream. ``open_source`` picks
the class from what it is given.
"""

from __future__ import annotations

import configparser
import logging
import os
import queue
import struct
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from workbench.errors import SourceError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
# FFmpeg decodes a file on one thread: ingest already decodes in a thread of its own beside
# detection, and files run in parallel with --workers; a second thread of FFmpeg's took
# 10-30% more CPU for the same frames (docs/benchmarks.md, ingest speed round 7)
DECODE_THREADS = 1


@dataclass(slots=True)
class Frame:
    index: int
    ts: datetime
    image: np.ndarray  # BGR, as OpenCV reads it
    small: np.ndarray | None = None  # a shrunk copy, made ahead in the decode thread if asked


@dataclass
class FrameSource(ABC):
    """A finite or endless sequence of frames with timestamps."""

    name: str
    start: datetime
    fps: float
    frame_count: int | None = None
    problems: list[str] = field(default_factory=list)  # what could not be read, for the user
    stills = False  # frames are separate photos, not a continuous view
    # frames decoded ahead of processing: throughput for files; a live source keeps 1 so
    # what is processed is what the camera shows now
    read_ahead = 8

    @abstractmethod
    def frames(self, step: int = 1) -> Iterator[Frame]:
        """Yield every ``step``-th frame; skipped frames are not decoded where the source allows."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device or file."""


def _mp4_creation_time(path: Path) -> datetime | None:
    """The creation time in an MP4/MOV ``mvhd`` box, if set (cameras write it; many tools leave 0)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(4 * 1024 * 1024)
            if b"mvhd" not in data:
                fh.seek(max(0, os.path.getsize(path) - 4 * 1024 * 1024))
                data = fh.read()
    except OSError:
        return None
    i = data.find(b"mvhd")
    if i < 0 or i + 16 > len(data):
        return None
    version = data[i + 4]
    if version == 1:
        seconds = struct.unpack(">Q", data[i + 8 : i + 16])[0]
    else:
        seconds = struct.unpack(">I", data[i + 8 : i + 12])[0]
    if seconds <= 0:
        return None
    ts = datetime(1904, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return (
        ts
        if datetime(1990, 1, 1, tzinfo=UTC) < ts < datetime.now(UTC) + timedelta(days=1)
        else None
    )


def default_start(path: Path) -> datetime:
    """Wall-clock time of a file's first frame: its container metadata, else its modification time."""
    return _mp4_creation_time(path) or datetime.fromtimestamp(path.stat().st_mtime, UTC)


class VideoFileSource(FrameSource):
    """A recorded video file read with OpenCV."""

    def __init__(self, path: str | os.PathLike, start: datetime | None = None):
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"{path}: no such video file; check the path")
        cap = cv2.VideoCapture(str(path), cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, DECODE_THREADS])
        ok = cap.isOpened() and cap.grab()
        if not ok:
            cap.release()
            raise SourceError(
                f"{path}: cannot decode this file as video (corrupt or unsupported codec); "
                "check it plays, or re-encode it to H.264 MP4"
            )
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or fps != fps or fps > 1000:
            fps = 25.0
            self_problem = [f"{path.name}: no frame rate in the file, assuming 25 fps"]
        else:
            self_problem = []
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        super().__init__(
            name=str(path), start=start or default_start(path), fps=float(fps), frame_count=count
        )
        self.problems.extend(self_problem)
        self.path = path
        self._cap = cap

    def frames(self, step: int = 1) -> Iterator[Frame]:
        cap, step = self._cap, max(1, int(step))
        index = 0
        while True:
            if index % step == 0:
                ok, image = cap.read()
            else:
                ok, image = cap.grab(), None
            if not ok:
                break
            if image is not None:
                yield Frame(index, self.start + timedelta(seconds=index / self.fps), image)
            index += 1
        if self.frame_count and index < self.frame_count - 1:
            self.problems.append(
                f"{self.path.name}: video ended at frame {index} of {self.frame_count} "
                "(file truncated or corrupt); the frames before it were processed"
            )
        self.frame_count = index

    def close(self) -> None:
        self._cap.release()


class ImageFolderSource(FrameSource):
    """A folder of images, taken in name order, ``fps`` images per second: separate photos
    (``stills``), or the frames of one view, as MOTChallenge sequences come."""

    def __init__(
        self,
        path: str | os.PathLike,
        start: datetime | None = None,
        fps: float = 1.0,
        stills: bool = True,
        name: str | None = None,
    ):
        path = Path(path)
        self.stills = stills
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise SourceError(
                f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder"
            )
        first_mtime = datetime.fromtimestamp(images[0].stat().st_mtime, UTC)
        super().__init__(
            name=name or str(path), start=start or first_mtime, fps=fps, frame_count=len(images)
        )
        skipped = len(files) - len(images)
        if skipped:
            self.problems.append(f"{path.name}: skipped {skipped} files that are not images")
        self.files = images

    def frames(self, step: int = 1) -> Iterator[Frame]:
        for index, file in enumerate(self.files):
            if index % max(1, step):
                continue
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                self.problems.append(f"{file.name}: not a readable image, skipped")
                continue
            yield Frame(index, self.start + timedelta(seconds=index / self.fps), image)


@dataclass(frozen=True)
class MotSequence:
    """A MOTChallenge sequence: its folder, its frames' folder and their rate."""

    folder: Path
    images: Path
    fps: float


def mot_sequence(path: str | os.PathLike) -> MotSequence | None:
    """The MOTChallenge sequence ``path`` is (a folder with ``seqinfo.ini``) or whose frames
    it holds (that folder's ``imDir``, e.g. ``img1``); None if neither."""
    p = Path(path)
    for folder in (p, p.parent):
        ini = folder / "seqinfo.ini"
        if not ini.is_file():
            continue
        parser = configparser.ConfigParser()
        try:
            parser.read(ini, encoding="utf-8")
            seq = parser["Sequence"]
            fps = float(seq["frameRate"])
        except (configparser.Error, KeyError, ValueError) as exc:
            raise SourceError(
                f"{ini}: needs a [Sequence] section with frameRate, a number of frames per "
                f"second, as MOTChallenge writes it ({exc!r})"
            ) from None
        if not 0 < fps <= 1000:
            raise SourceError(f"{ini}: frameRate {fps:g} is not a frame rate; fix it")
        images = folder / seq.get("imDir", "img1")
        if folder == p.parent and images != p:
            continue  # a folder beside the frames, not the frames
        if not images.is_dir():
            raise SourceError(f"{ini}: its frames' folder {images.name} (imDir) is missing")
        return MotSequence(folder, images, fps)
    return None


def open_source(path: str | os.PathLike, start: datetime | None = None) -> FrameSource:
    """Open a video file, a MOTChallenge sequence (frames of one view at its frame rate) or
    a folder of photos (cameras and streams join in the live issue)."""
    p = Path(path)
    if p.is_dir():
        seq = mot_sequence(p)
        if seq is not None:
            return ImageFolderSource(
                seq.images, start, fps=seq.fps, stills=False, name=str(seq.folder)
            )
        return ImageFolderSource(p, start)
    return VideoFileSource(p, start)


def prefetch(
    frames: Iterator[Frame],
    ahead: int = 8,
    prepare: Callable[[Frame], None] | None = None,
    waited: deque[bool] | None = None,
) -> Iterator[Frame]:
    """Decode in a background thread, at most ``ahead`` frames in advance (memory stays flat);
    ``prepare`` is called on each frame there too (e.g. to make its ``small`` copy).
    ``waited``, if given, gets for each frame whether it was not decoded yet when asked for
    (decoding set the pace).

    OpenCV decodes without holding the GIL, so decoding overlaps detection on another core.
    An error while reading is raised here, in the consumer; stopping early stops the thread.
    """
    q: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for frame in frames:
                if prepare is not None:
                    prepare(frame)
                if not put(frame):
                    return
        except BaseException as exc:  # handed to the consumer
            put(exc)
            return
        put(done)

    thread = threading.Thread(target=read, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            if waited is not None:
                waited.append(q.empty())
            if (item := q.get()) is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
