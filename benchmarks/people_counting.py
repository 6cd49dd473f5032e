"""People counting: accuracy per detector, and what counting adds to ingest time.

    python benchmarks/people_counting.py accuracy [--shared ../shared/data]
    python benchmarks/people_counting.py generalization [--shared ../shared/data]
    python benchmarks/people_counting.py overhead [--shared ../shared/data] [--repeats 3]
        [--variants hog+motion dnn hog+motion@2.5]  (any of the three)
    python benchmarks/people_counting.py paired [REV] [--clip VIDEO] [--repeats 3]
    python benchmarks/people_counting.py stand-ins [--clip VIDEO] [--repeats 3]

accuracy: ``workbench audit counting`` on TUD-Campus (every frame, and at 5 fps as ingest
runs) for each detector, with a vertical line through the middle, and every frame scored
by halves (frames 1-35 tuned the HOG and tracking constants, 36-71 are held out); TUD-Campus
played back and forth for 14 s, scored after the first 5 s (a crowd once background
subtraction is in use, every frame and at 5 fps); the
presence periods found in the Intel one-by-one video against its derived_visits.csv and
the count per frame against them (1 inside a visit, 0 outside); and the count per frame
in the store-aisle preview GIF against a count by eye (AISLE_TRUTH).

generalization: the audit (every frame) on TUD-Campus rescaled, widened and made distant, so people are
other sizes than in the clip the constants were tuned on (``resized_tud``).

overhead: the clips below ingested with people counting off and on (each detector),
interleaved in one run so machine load affects both alike, after a warm-up ingest (so
imports are not timed); prints median wall and CPU times and their ratios to "off" (CPU
time is steadier on a shared machine). Clips: the office video's first 30 s and all of it
(someone in view 78% of the time), the same six visits in a longer day of its empty room
(in view 25% and 8% of the time, ``shop_day``), TUD-Campus and the Hamilton clip. Results
go in docs/benchmarks.md.

paired: the overhead of ``hog+motion`` (the wall ratio, with a 90% bootstrap interval) on
one clip (default: the whole office video) with the code of git revision REV and with the
working tree, in turn (without REV, the working tree alone), each ingest in a new process
(after a warm-up ingest in it), so that a change's effect is measured in one run. Also the median CPU seconds of each thread (on
Linux, from /proc sampled every 20 ms): which one counting slows, and which sets the pace.

stand-ins: what the CPU that counting uses costs the ingest, by the kind of work. The clip
(default: the whole office video) ingested with counting off, on, and replaced by two
stand-ins that spend the CPU counting spent per frame (measured first) in the people
thread: one in OpenCV (which lets go of the GIL meanwhile), one in Python (which holds
it); interleaved, medians of the wall times as ratios to counting off.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from workbench.audit_counting import audit_counting, read_mot, score, track_video
from workbench.config import Config
from workbench.counting import PresenceMonitor
from workbench.models import MODELS
from workbench.people import make_detector
from workbench.person_tracking import PersonTracker
from workbench.pipeline import ingest
from workbench.pipeline_people import PeoplePipeline
from workbench.sources import open_source
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
DETECTORS = ["hog+motion", "hog", "motion"]  # auto is hog+motion, or dnn with a network present


def detectors(models_dir: Path) -> list[str]:
    present = [m.name for m in MODELS.values() if m.present(models_dir)]
    return DETECTORS + [f"dnn:{m}" for m in present]


def config_for(detector: str, models_dir: Path) -> Config:
    """Config for a variant named ``kind[:model][@people_fps]``, e.g. ``dnn:yolo11n``, ``hog+motion@2.5``."""
    cfg = Config()
    cfg.people.models_dir = str(models_dir)
    detector, _, fps = detector.partition("@")
    if fps:
        cfg.people.detect_fps = float(fps)
    kind, _, model = detector.partition(":")
    cfg.people.detector = kind
    cfg.people.model = model or None
    return cfg


def presence_periods(video: Path, cfg: Config, fps: float = 5.0) -> tuple[list, float, dict]:
    """Presence periods (start, end frame) as the pipeline finds them at ``fps``, time per
    frame, and people counted per frame index."""
    source = open_source(video)
    step = max(1, round(source.fps / fps))
    detector = make_detector(cfg.people, Path(cfg.people.models_dir), source.fps / step)
    tracker = PersonTracker(source.fps / step, cfg.people.track_max_gap_s)
    monitor, periods, busy, n, counts = PresenceMonitor(cfg.people.confirm_s), [], 0.0, 0, {}
    for frame in source.frames(step):
        t = frame.index / source.fps
        t0 = time.perf_counter()
        counts[frame.index] = len(tracker.follow(detector, frame.image, t))
        found = monitor.update(t, counts[frame.index])
        busy += time.perf_counter() - t0
        n += 1
        if found:
            periods.append(found)
    if last := monitor.end():
        periods.append(last)
    source.close()
    spans = [(round(p.start * source.fps), round(p.end * source.fps)) for p in periods]
    return spans, busy / n, counts


# people in view in store-aisle-detection.gif (67 frames), counted by eye: two shoppers,
# a third walks in from the bottom edge (her head is in view from frame 18)
AISLE_TRUTH = [2] * 18 + [3] * 49


def count_mae(counts: dict, truth) -> float:
    return round(float(np.mean([abs(c - truth[f]) for f, c in counts.items()])), 3)


def aisle_counts(video: Path, cfg: Config, fps: float | None) -> dict:
    pred, facts = track_video(video, cfg, fps)
    per = pred.groupby("frame").size()
    return {f: int(per.get(f, 0)) for f in facts["processed"]}


def tud_frames(tud: Path) -> list[np.ndarray]:
    """Every frame of TUD-Campus.mp4."""
    cap = cv2.VideoCapture(str(tud / "TUD-Campus.mp4"))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    return frames


def back_and_forth(tud: Path, out: Path, passes: int = 5) -> tuple[Path, Path]:
    """TUD-Campus played forwards, backwards, forwards... (``passes`` times, 14 s), with
    its truth: a crowd that stays past the fused detector's 5 s warm-up, the only
    pedestrian truth here that does."""
    frames = tud_frames(tud)
    n = len(frames)
    order = list(range(n))
    for k in range(1, passes):
        order += list(range(n - 2, 0, -1)) if k % 2 else list(range(n))
    gt = pd.read_csv(tud / "gt" / "gt.txt", header=None)
    h, w = frames[0].shape[:2]
    video = out / "tud-back-and-forth.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
    rows = []
    for i, j in enumerate(order):
        writer.write(frames[j])
        rows.append(gt[gt[0] == j + 1].copy())
        rows[-1][0] = i + 1
    writer.release()
    truth = out / "tud-back-and-forth.txt"
    pd.concat(rows).to_csv(truth, header=False, index=False)
    return video, truth


def accuracy(shared: Path, models_dir: Path, only: list[str] | None) -> None:
    tud = shared / "tud-campus"
    intel = shared / "intel-sample-videos"
    truth = pd.read_csv(intel / "derived_visits.csv")[["start_frame", "end_frame"]].to_numpy()
    tmp = tempfile.TemporaryDirectory()
    loop, loop_truth = back_and_forth(tud, Path(tmp.name))
    for det in only or detectors(models_dir):
        cfg = config_for(det, models_dir)
        for fps in (None, 5.0):
            r = audit_counting(
                tud / "TUD-Campus.mp4", tud / "gt" / "gt.txt", cfg, line=(320, 0, 320, 480), fps=fps
            )
            print(json.dumps({"video": "TUD-Campus", "detector": det, "fps_arg": fps, **r}))
        pred, _ = track_video(tud / "TUD-Campus.mp4", cfg)
        truth_boxes = read_mot(tud / "gt" / "gt.txt")
        for half, frames in (("tune 1-35", range(35)), ("held-out 36-71", range(35, 71))):
            r = score(truth_boxes, pred, list(frames))
            print(json.dumps({"video": "TUD-Campus", "detector": det, "frames": half, **r}))
        for fps in (None, 5.0):  # scored after the first 5 s (126-351: blobs in use)
            pred, facts = track_video(loop, cfg, fps)
            later = [f for f in facts["processed"] if f > 125]
            r = score(read_mot(loop_truth), pred, later)
            print(json.dumps({"video": "TUD back and forth", "detector": det, "fps_arg": fps, "frames": "126-351", **r}))  # fmt: skip
        periods, per_frame, counts = presence_periods(
            intel / "one-by-one-person-detection.mp4", cfg
        )
        in_visit = np.zeros(max(counts) + 1, int)
        for a, b in truth:
            in_visit[a : b + 1] = 1
        tol = 2 * 10  # 2 s at 10 fps
        ok = len(periods) == len(truth) and all(
            abs(p[0] - a) <= tol and abs(p[1] - b) <= tol for p, (a, b) in zip(periods, truth)
        )
        print(
            json.dumps(
                {
                    "video": "one-by-one",
                    "detector": det,
                    "periods": periods,
                    "six_within_2s": ok,
                    "count_mae_vs_visits": count_mae(counts, in_visit),
                    "ms_per_frame": round(1000 * per_frame, 1),
                }
            )
        )
        aisle = intel / "preview" / "store-aisle-detection.gif"
        for fps in (None, 5.0):
            mae = count_mae(aisle_counts(aisle, cfg, fps), AISLE_TRUTH)
            print(
                json.dumps(
                    {"video": "store-aisle", "detector": det, "fps_arg": fps, "count_mae": mae}
                )
            )


def resized_tud(tud: Path, out: Path, kind: str, k: float) -> tuple[Path, Path]:
    """TUD-Campus with people of other sizes, and its truth: ``zoom`` scales the picture by
    ``k``; ``wide`` puts it unscaled in a grey picture ``k`` times as large (a wider view
    of the same people); ``far`` scales it by ``k`` inside a grey picture of the original's
    size (people ``k`` times as tall in the same 640x480: a camera further away, or higher
    up). People are 129-310 px tall in the original."""
    frames = tud_frames(tud)
    gt = pd.read_csv(tud / "gt" / "gt.txt", header=None)
    h, w = frames[0].shape[:2]
    size = (round(w * k) // 2 * 2, round(h * k) // 2 * 2)
    if kind == "zoom":
        gt[[2, 3, 4, 5]] *= [size[0] / w, size[1] / h, size[0] / w, size[1] / h]
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    elif kind == "far":
        x0, y0 = (w - size[0]) // 2, (h - size[1]) // 2
        gt[[2, 3, 4, 5]] *= [size[0] / w, size[1] / h, size[0] / w, size[1] / h]
        gt[2] += x0
        gt[3] += y0
        far = []
        for f in frames:
            canvas = np.full((h, w, 3), 110, np.uint8)
            small = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
            canvas[y0 : y0 + size[1], x0 : x0 + size[0]] = small
            far.append(canvas)
        frames, size = far, (w, h)
    else:
        x0, y0 = (size[0] - w) // 2, (size[1] - h) // 2
        gt[2] += x0
        gt[3] += y0
        wide = []
        for f in frames:
            canvas = np.full((size[1], size[0], 3), 110, np.uint8)
            canvas[y0 : y0 + h, x0 : x0 + w] = f
            wide.append(canvas)
        frames = wide
    video = out / f"tud-{kind}-{k}.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
    for f in frames:
        writer.write(f)
    writer.release()
    truth = out / f"tud-{kind}-{k}.txt"
    gt.to_csv(truth, header=False, index=False)
    return video, truth


def generalization(shared: Path, models_dir: Path, only: list[str] | None) -> None:
    """``workbench audit counting`` (every frame) on TUD-Campus with people of other sizes
    than the original's (``resized_tud``), for each detector: how the default's smallest
    person and HOG's scale carry to other cameras. ``zoom 1.0`` is the original re-encoded
    (the encoding alone moves the figures)."""
    with tempfile.TemporaryDirectory() as tmp:
        for kind, k in [("zoom", 1.0), ("zoom", 0.5), ("zoom", 0.6), ("zoom", 0.7), ("zoom", 1.5), ("wide", 1.5), ("wide", 2.0), ("far", 0.7), ("far", 0.5), ("far", 0.4)]:  # fmt: skip
            video, truth = resized_tud(shared / "tud-campus", Path(tmp), kind, k)
            for det in only or detectors(models_dir):
                r = audit_counting(video, truth, config_for(det, models_dir))
                keep = ("count_mae", "mota", "idf1", "people_true", "people_pred", "ms_per_frame")
                print(json.dumps({"video": f"TUD {kind} {k}", "detector": det, **{x: r[x] for x in keep}}))  # fmt: skip


def clip(src: Path, seconds: float, out: Path) -> Path:
    """The first ``seconds`` of ``src`` as a new file (mp4v)."""
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for _ in range(int(seconds * fps)):
        ok, image = cap.read()
        if not ok:
            break
        writer.write(image)
    writer.release()
    cap.release()
    return out


def shop_day(office: Path, empty_s: float, out: Path) -> Path:
    """The office video between two spells of its empty room (``empty_s`` in all, half
    before and half after; the room is the video's first 6 s, before anyone comes in,
    played forwards and backwards), in H.264 (PyAV's libx264) as CCTV records: the same six
    visits (108 s with someone in view) in a longer day, so that someone is in view
    108 / (139 + empty_s) of the time."""
    import av

    cap = cv2.VideoCapture(str(office))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    room = frames[:60] + frames[58:0:-1]

    def empty(n: int):
        return (room[i % len(room)] for i in range(n))

    half = round(empty_s * fps / 2)
    h, w = frames[0].shape[:2]
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for image in [*empty(half), *frames, *empty(half)]:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def overhead(shared: Path, models_dir: Path, repeats: int, only: list[str] | None) -> None:
    start = datetime(2026, 11, 20, 10, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        office = shared / "intel-sample-videos/one-by-one-person-detection.mp4"
        clips = [
            clip(office, 30, tmp / "office30s.mp4"),
            office,  # someone in view 78% of the time
            shop_day(office, 300, tmp / "office-in-view-25pct.mp4"),
            shop_day(office, 1200, tmp / "office-in-view-8pct.mp4"),
            shared / "tud-campus/TUD-Campus.mp4",
            shared / "face-recognition-ageitgey/examples/short_hamilton_clip.mp4",
        ]
        variants = ["off", *(only or detectors(models_dir))]

        def timed(video: Path, v: str, name: str) -> tuple[float, float]:
            cfg = config_for("hog" if v == "off" else v, models_dir)
            cfg.people.enabled = v != "off"
            store = Store(tmp / name, cfg)
            wall, cpu = time.perf_counter(), time.process_time()
            ingest([video], "bench", store, cfg, start=start, progress=False)
            return time.perf_counter() - wall, time.process_time() - cpu

        timed(clips[1], "hog", "warm-up")
        for video in clips:
            times: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
            for i in range(repeats):
                for v in variants:
                    times[v].append(timed(video, v, f"{video.stem}-{v}-{i}"))
            base = [statistics.median(t[k] for t in times["off"]) for k in (0, 1)]
            for v in variants:
                wall, cpu = (statistics.median(t[k] for t in times[v]) for k in (0, 1))
                print(
                    json.dumps(
                        {
                            "video": video.name,
                            "people": v,
                            "wall_s": [round(t[0], 2) for t in times[v]],
                            "cpu_s": [round(t[1], 2) for t in times[v]],
                            "wall_ratio": round(wall / base[0], 3),
                            "cpu_ratio": round(cpu / base[1], 3),
                        }
                    )
                )


class ThreadClock:
    """CPU seconds each thread of this process used while inside ``with`` (Linux: /proc,
    sampled every 20 ms; elsewhere nothing), summed by thread name less its number
    (``people_0`` -> ``people``); threads Python did not start are ``native`` (OpenCV's
    pool, FFmpeg's)."""

    def __init__(self):
        self.cpu: dict[str, float] = {}
        self._seen: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()

    @staticmethod
    def _sample() -> dict[int, float]:
        out = {}
        tick = os.sysconf("SC_CLK_TCK")
        for tid in os.listdir("/proc/self/task"):
            try:
                stat = Path(f"/proc/self/task/{tid}/stat").read_text()
            except OSError:
                continue  # ended meanwhile
            fields = stat[stat.rindex(")") + 2 :].split()
            out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
        return out

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            names = {t.native_id: t.name.split("_")[0] for t in threading.enumerate()}
            for tid, cpu in self._sample().items():
                self._seen[tid] = (names.get(tid, self._seen.get(tid, ("native",))[0]), cpu)

    def __enter__(self) -> ThreadClock:
        if Path("/proc/self/task").is_dir():
            self._start = self._sample()
            self._thread = threading.Thread(target=self._watch, name="clock", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not hasattr(self, "_thread"):
            return
        self._stop.set()
        self._thread.join()
        for tid, (name, cpu) in self._seen.items():
            if name != "clock":
                self.cpu[name] = self.cpu.get(name, 0.0) + cpu - self._start.get(tid, 0.0)


def ingest_times(video: Path, people: bool, repeats: int) -> list[tuple[float, float, dict]]:
    """Wall and CPU seconds, and CPU seconds by thread, of ``repeats`` ingests of ``video``
    (after a warm-up one)."""
    start = datetime(2026, 11, 20, 10, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        out = []
        for i in range(repeats + 1):
            cfg = config_for("hog+motion", ROOT / "models")
            cfg.people.enabled = people
            store = Store(Path(tmp) / str(i), cfg)
            with ThreadClock() as clock:
                wall, cpu = time.perf_counter(), time.process_time()
                ingest([video], "bench", store, cfg, start=start, progress=False)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            out.append((wall, cpu, {k: round(v, 2) for k, v in clock.cpu.items() if v >= 0.005}))
        return out[1:]


def ratio_interval(off: list[float], on: list[float], runs: int = 2000) -> list[float]:
    """A 90% interval for median(on) / median(off) (bootstrap: both lists resampled,
    with replacement, ``runs`` times): how far the wall ratio moves with the machine's noise."""
    rng = np.random.default_rng(0)
    a, b = np.asarray(off), np.asarray(on)
    pick = lambda x: np.median(rng.choice(x, (runs, len(x))), axis=1)  # noqa: E731
    return [round(float(q), 3) for q in np.quantile(pick(b) / pick(a), [0.05, 0.95])]


def paired(rev: str | None, video: Path, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trees = [("working tree", ROOT)]
        if rev:
            trees.insert(0, (rev, Path(tmp) / "old"))
            subprocess.run(["git", "worktree", "add", "-q", "--detach", str(trees[0][1]), rev], cwd=ROOT, check=True)  # fmt: skip
        try:
            times: dict[tuple[str, bool], list] = {}
            for _ in range(repeats):
                for name, tree in trees:
                    for people in (False, True):
                        cmd = [sys.executable, __file__, "_times", str(video), str(tree)]
                        if people:
                            cmd.append("--people")
                        env = {**os.environ, "PYTHONPATH": str(tree)}
                        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=True)  # fmt: skip
                        times.setdefault((name, people), []).extend(json.loads(done.stdout.splitlines()[-1]))  # fmt: skip
        finally:
            if rev:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees[0][1])], cwd=ROOT, check=True)  # fmt: skip
        for name, _ in trees:
            off, on = times[(name, False)], times[(name, True)]
            ratio = [statistics.median(t[k] for t in on) / statistics.median(t[k] for t in off) for k in (0, 1)]  # fmt: skip
            spread = ratio_interval([t[0] for t in off], [t[0] for t in on])
            threads = {
                label: {
                    k: round(statistics.median(t[2].get(k, 0.0) for t in runs), 2)
                    for k in sorted({k for t in runs for k in t[2]})
                }  # fmt: skip
                for label, runs in (("off", off), ("on", on))
            }
            print(json.dumps({"code": name, "video": video.name, "wall_ratio": round(ratio[0], 3), "wall_ratio_90": spread, "cpu_ratio": round(ratio[1], 3), "off_wall_s": [round(t[0], 2) for t in off], "on_wall_s": [round(t[0], 2) for t in on], "thread_cpu_s": threads}))  # fmt: skip


def stand_ins(video: Path, repeats: int) -> None:
    real = PeoplePipeline.process
    spent: list[float] = []

    def measured(self, frame, moving=None):
        t = time.thread_time()
        try:
            return real(self, frame, moving)
        finally:
            spent.append(time.thread_time() - t)

    ingest_times(video, True, 0)  # imports and first loads, not measured
    PeoplePipeline.process = measured
    ingest_times(video, True, 0)
    per_frame = sum(spent) / len(spent)
    picture = np.random.default_rng(0).integers(0, 255, (256, 256), np.uint8)

    def in_opencv(self, frame, moving=None):
        t = time.thread_time()
        while time.thread_time() - t < per_frame:
            cv2.GaussianBlur(picture, (9, 9), 0)
        return {}

    def in_python(self, frame, moving=None):
        t = time.thread_time()
        while time.thread_time() - t < per_frame:
            sum(range(100))
        return {}

    runs = {"off": (False, real), "counting": (True, real), "OpenCV stand-in": (True, in_opencv), "Python stand-in": (True, in_python)}  # fmt: skip
    walls: dict[str, list[float]] = {name: [] for name in runs}
    try:
        for _ in range(repeats):
            for name, (people, process) in runs.items():
                PeoplePipeline.process = process
                walls[name] += [t[0] for t in ingest_times(video, people, 1)]
    finally:
        PeoplePipeline.process = real
    off = statistics.median(walls["off"])
    print(json.dumps({"video": video.name, "people_cpu_ms_per_frame": round(1000 * per_frame, 3), "wall_ratio": {name: round(statistics.median(w) / off, 3) for name, w in walls.items()}, "wall_s": {name: [round(x, 2) for x in w] for name, w in walls.items()}}))  # fmt: skip


def main() -> None:
    if sys.argv[1:2] == ["_times"]:  # one process of ``paired``: its timings as JSON
        import workbench

        tree = Path(sys.argv[3]).resolve()
        if Path(workbench.__file__).resolve().parents[1] != tree:
            sys.exit(f"workbench came from {workbench.__file__}, not {tree}")
        print(json.dumps(ingest_times(Path(sys.argv[2]), "--people" in sys.argv, 2)))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "what", choices=["accuracy", "generalization", "overhead", "paired", "stand-ins"]
    )
    ap.add_argument(
        "rev",
        nargs="?",
        help="paired: the git revision to compare with (none: the working tree alone)",
    )
    ap.add_argument(
        "--clip", type=Path, help="paired, stand-ins: the video (default: the office video)"
    )
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--variants",
        nargs="+",
        help="detectors to run (default: all; hog+motion@2.5 = at 2.5 fps); overhead times them against 'off'",
    )
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, python {platform.python_version()}, opencv {cv2.__version__}, numpy {np.__version__}"
    )
    print(f"# {' '.join(sys.argv)}")
    if args.what == "accuracy":
        accuracy(args.shared, args.models, args.variants)
    elif args.what == "generalization":
        generalization(args.shared, args.models, args.variants)
    elif args.what in ("paired", "stand-ins"):
        clip = args.clip or args.shared / "intel-sample-videos/one-by-one-person-detection.mp4"
        if args.what == "paired":
            paired(args.rev, clip, args.repeats)
        else:
            stand_ins(clip, args.repeats)
    else:
        overhead(args.shared, args.models, args.repeats, args.variants)


if __name__ == "__main__":
    main()
