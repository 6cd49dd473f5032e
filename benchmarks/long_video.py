"""Write a long video by playing a real one over and over, for memory and endurance runs.

    python benchmarks/long_video.py SOURCE OUT.mp4 [--hours 2] [--frames FIRST:LAST]

Each pass is played forwards then backwards (so there is no jump at the seams a scene-cut
check would notice), with the frame size and rate of the source. The result is for
``benchmarks/ingest_speed.py OUT.mp4 --naive-max-s 60``: peak RSS must stay flat however
long the video is. ``--frames`` plays only part of the source, e.g. a stretch where nobody
is in view (``one-by-one-person-detection.mp4 --frames 0:60``: an empty office with its
camera noise) for the "little happens" case, which should cost little more than decoding.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2


def write_long(
    source: Path, out: Path, hours: float, first: int = 0, last: int | None = None
) -> int:
    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    index = 0
    while last is None or index < last:
        ok, frame = cap.read()
        if not ok:
            break
        if index >= first:
            frames.append(frame)
        index += 1
    cap.release()
    if not frames:
        raise SystemExit(f"{source}: no frames could be read")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {out}")
    total = int(hours * 3600 * fps)
    cycle = frames + frames[-2:0:-1]
    for i in range(total):
        writer.write(cycle[i % len(cycle)])
    writer.release()
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--frames", default="0:", help="FIRST:LAST frames of the source to play")
    args = ap.parse_args(argv)
    first, _, last = args.frames.partition(":")
    t0 = time.perf_counter()
    n = write_long(args.source, args.out, args.hours, int(first or 0), int(last) if last else None)
    print(f"{args.out}: {n} frames in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
