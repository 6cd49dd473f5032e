"""How fast `workbench ingest` is, against decoding alone and against the seeds' loop.

    python benchmarks/ingest_speed.py VIDEO [VIDEO ...] [--naive-max-s S] [--set KEY=VALUE ...]
        [--json OUT]

For each video, in one run of this script, three stages each in a fresh child process
(so each gets its own peak RSS):

* ``decode``: every frame read with OpenCV and nothing else, the floor for any pipeline;
* ``naive``: the seeds' loop (benchmarks/seeds_reference.py: every frame through
  face_recognition's HOG detector and encoder, first match within 0.6, else a new id);
  ``--naive-max-s`` stops it after that many seconds of video on long files and
  scales its time up (marked ``naive_extrapolated``);
* ``workbench``: ``workbench ingest`` (the library call) into an empty store, with the
  default settings or those given with ``--set`` (e.g. ``--set detection.detect_fps=10``).

Printed per stage: wall seconds, real-time factor (seconds of video per wall second),
peak RSS, and for the two identifying stages the customers and visits found. Ratios:
workbench over naive (speed-up) and workbench over decode. Machines are noisy: compare
the ratios of one run, not times across runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _video_info(path: Path) -> dict:
    cap = cv2.VideoCapture(str(path))
    info = {
        "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        "fps": cap.get(cv2.CAP_PROP_FPS) or 25.0,
        "frames": int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
    }
    cap.release()
    info["seconds"] = info["frames"] / info["fps"]
    return info


def _decode(path: str, _opts: dict) -> dict:
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return {"frames": n}


def _naive(path: str, opts: dict) -> dict:
    from seeds_reference import SeedsIdentifier

    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    limit = opts.get("naive_max_s")
    seeds, n, seen = SeedsIdentifier(), 0, set()
    while True:
        if limit and n / fps >= limit:
            break
        ok, frame = cap.read()
        if not ok:
            break
        seen.update(cid for _, cid in seeds.faces(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
        n += 1
    cap.release()
    # a short clip holds one visit per person: the seeds' ids are its visits too
    return {"frames": n, "customers": len(seen), "visits": len(seen)}


def _workbench(path: str, opts: dict) -> dict:
    from workbench.config import with_settings
    from workbench.pipeline import ingest
    from workbench.store import Store

    with tempfile.TemporaryDirectory(prefix="speed-store-") as tmp:
        settings = [f"{k}={v}" for k, v in opts.get("settings", {}).items()]
        cfg = with_settings({"store": tmp, "cameras": [{"id": "cam"}]}, settings)
        store = Store(Path(tmp), cfg)
        results = ingest([path], "cam", store, cfg, progress=False)
        customers = store.query("SELECT count(DISTINCT customer_id) AS n FROM visits")["n"][0]
        visits = store.query("SELECT count(*) AS n FROM visits")["n"][0]
        return {
            "frames": results[0].frames,
            "customers": int(customers),
            "visits": int(visits),
            "tracks": results[0].tracks,
        }


STAGES = {"decode": _decode, "naive": _naive, "workbench": _workbench}


def _child(stage: str, path: str, opts: dict, out: mp.Queue) -> None:
    t0 = time.perf_counter()
    result = STAGES[stage](path, opts)
    result["wall_s"] = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_s"] = usage.ru_utime + usage.ru_stime  # all threads; less sensitive to load
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    out.put(result)


def run_stage(stage: str, path: Path, opts: dict) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(stage, str(path), opts, out))
    proc.start()
    result = out.get()
    proc.join()
    return result


def measure(path: Path, opts: dict, log=print) -> dict:
    info = _video_info(path)
    res = {"video": path.name, **info, "stages": {}}
    for stage in STAGES:
        r = run_stage(stage, path, opts)
        seconds = r["frames"] / info["fps"]
        if stage == "naive" and r["frames"] < info["frames"]:
            r["naive_extrapolated"] = True
            r["wall_s"] *= info["frames"] / max(r["frames"], 1)
            r["cpu_s"] *= info["frames"] / max(r["frames"], 1)
        r["realtime_x"] = info["seconds"] / r["wall_s"] if r["wall_s"] else None
        res["stages"][stage] = r
        log(
            f"{path.name} {stage}: {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s "
            f"({r['realtime_x']:.2f}x real time, "
            f"{seconds:.0f} s of video), peak RSS {r['peak_rss_mb']:.0f} MB"
            + (f", customers {r['customers']}, visits {r['visits']}" if "customers" in r else "")
        )
    s = res["stages"]
    res["speedup_vs_naive"] = s["naive"]["wall_s"] / s["workbench"]["wall_s"]
    res["workbench_over_decode"] = s["workbench"]["wall_s"] / s["decode"]["wall_s"]
    res["cpu_speedup_vs_naive"] = s["naive"]["cpu_s"] / s["workbench"]["cpu_s"]
    res["load_avg"] = os.getloadavg()[0]
    return res


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, OpenCV {cv2.__version__}"


def markdown(results: list[dict]) -> str:
    head = (
        "| video | size | video s | decode x RT | naive x RT | workbench x RT | "
        "speed-up vs naive (wall / CPU) | workbench / decode | peak RSS MB (wb) | "
        "customers naive / wb | visits naive / wb | load |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for r in results:
        s = r["stages"]
        rows.append(
            f"| {r['video']} | {r['width']}x{r['height']} @ {r['fps']:.0f} | {r['seconds']:.0f} | "
            f"{s['decode']['realtime_x']:.0f} | {s['naive']['realtime_x']:.2f}"
            f"{'*' if s['naive'].get('naive_extrapolated') else ''} | "
            f"{s['workbench']['realtime_x']:.1f} | {r['speedup_vs_naive']:.1f} / "
            f"{r['cpu_speedup_vs_naive']:.1f} | "
            f"{r['workbench_over_decode']:.1f} | {s['workbench']['peak_rss_mb']:.0f} | "
            f"{s['naive']['customers']} / {s['workbench']['customers']} | "
            f"{s['naive']['visits']} / {s['workbench']['visits']} | {r['load_avg']:.1f} |"
        )
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("videos", nargs="+", type=Path)
    ap.add_argument("--naive-max-s", type=float, help="stop the naive loop after this much video")
    ap.add_argument("--set", action="append", default=[], help="a workbench setting KEY=VALUE")
    ap.add_argument("--json", type=Path, help="write all figures here")
    args = ap.parse_args(argv)
    opts = {
        "naive_max_s": args.naive_max_s,
        "settings": dict(s.split("=", 1) for s in args.set),
    }
    print(machine())
    results = [measure(v, opts) for v in args.videos]
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
