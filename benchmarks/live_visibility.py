"""How soon a reader sees live events: from a frame's capture to the row being visible to a
separate process reading the store, as a dashboard, notebook or the API does.

    python benchmarks/live_visibility.py [--seconds 60] [--dashboard [POLL_S]] [--copy-of STORE] [--json]

Real clips from ../shared/data play at their real rate as live cameras (``door``: faces,
``short_hamilton_clip.mp4``, 9 s; ``aisle``: people walking,
``one-by-one-person-detection.mp4``) in a ``LiveService`` in this process. A second
process (this script with ``--reader``) polls the store the way readers do: a fresh
``Store`` and DuckDB connection each time, the ``sightings``, ``tracks``, ``visits``,
``person_tracks`` and ``occupancy`` views; it notes when each row first appears. The store
is a new one, or with ``--copy-of`` a copy of an existing store (its history: a dashboard
then has months to draw, the views more to read).

Per view it prints, in seconds (median / max over the rows):

* ``capture_to_visible``: from the frame the row is about (a sighting's frame; the last
  frame of a face or person track; the end of an occupancy interval; for ``visits``, the
  last frame of each face track, seen once a visit covers it) to the reader seeing it;
* ``capture_to_produced``: the pipeline's share of that, to the row being handed to the
  writer (an observer's clock): detection on a busy CPU and, for tracks,
  ``detection.track_max_gap_s`` (1.5 s; a track ends once its face has been gone that long);
* ``produced_to_visible``: the rest: writer buffering (``live.LIVE_FLUSH_S``), the write
  and the reader's poll (``reader_poll_s``: a new connection and the five views).

With ``--dashboard [POLL_S]`` the reader process also runs the manager dashboard
(``workbench.dashboard.ManagerDashboard`` with its own polling, every second unless given)
and prints ``capture_to_redrawn`` for what it shows (visits, occupancy): to the end of
the first redraw that began after the reader saw the row (an upper bound).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared/data"
CLIPS = {
    "door": DATA / "face-recognition-ageitgey/examples/short_hamilton_clip.mp4",
    "aisle": DATA / "intel-sample-videos/one-by-one-person-detection.mp4",
}
POLL_S = 0.2
READS = {  # view -> (SQL with t: the capture time of what the row is about, key columns)
    "sightings": ("SELECT frame, x, camera, ts AS t FROM sightings", ("camera", "frame", "x")),
    "tracks": ('SELECT track_id, customer_id, start, "end" AS t FROM tracks', ("track_id",)),
    "person_tracks": ('SELECT track_id, "end" AS t FROM person_tracks', ("track_id",)),
    "occupancy": (
        "SELECT camera, zone, ts, ts + to_microseconds((seconds * 1e6)::BIGINT) AS t "
        "FROM occupancy",
        ("camera", "zone", "ts"),
    ),
    "visits": ('SELECT customer_id, start, "end" AS t FROM visits', ("customer_id", "start", "t")),
}


def _key(row: dict, cols: tuple[str, ...]) -> str:
    def text(v) -> str:
        if hasattr(v, "timestamp"):  # the same moment, whatever the reader's time zone
            return f"{v.timestamp():.3f}"
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    return "|".join(text(row[c]) for c in cols)


# --------------------------------------------------------------------------- reader process
def reader(root: Path, out: Path, since: float, dashboard: float | None) -> None:
    """Poll the store until stdin closes; write a JSON line per row (about a moment from
    ``since`` on: the store's history is not read) first seen."""
    import duckdb

    from workbench.store import Store

    seen: set[tuple[str, str]] = set()
    renders: list[tuple[float, float]] = []
    polls: list[float] = []  # seconds per poll (connect + every view)
    board = None
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    with open(out, "w") as fh:
        while not stop.is_set():
            if not (root / "state" / "runs.parquet").exists():
                time.sleep(POLL_S)
                continue
            if dashboard and board is None:
                board = _timed_dashboard(Store(root), renders, dashboard)
            store = Store(root)  # a fresh reader: the views as the store is now
            t0 = time.time()
            con = store.connect()
            try:
                for view, (sql, cols) in READS.items():
                    cur = con.execute(f"SELECT * FROM ({sql}) WHERE t >= to_timestamp(?)", [since])
                    names = [d[0] for d in cur.description]
                    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
                    now = time.time()
                    for row in rows:
                        key = (view, _key(row, cols))
                        if key not in seen:
                            seen.add(key)
                            rec = {"view": view, "key": key[1], "t": row["t"].timestamp()}
                            if view in ("tracks", "visits"):
                                rec.update(
                                    customer=row["customer_id"], start=row["start"].timestamp()
                                )
                            fh.write(json.dumps({**rec, "seen": now}) + "\n")
                polls.append(time.time() - t0)
            except duckdb.Error as exc:  # a file replaced between listing and reading: next poll
                print(f"reader: {exc}", file=sys.stderr)
            finally:
                con.close()
            fh.flush()
            time.sleep(POLL_S)
        if board is not None:  # let a redraw in progress end before the interpreter does
            board.stop()
            for thread in threading.enumerate():
                if thread.name == "dashboard-live":
                    thread.join(60)
        fh.write(json.dumps({"view": "renders", "renders": renders, "polls": polls}) + "\n")


def _timed_dashboard(store, renders: list, poll_s: float):
    from workbench.dashboard import ManagerDashboard

    class Timed(ManagerDashboard):
        def refresh(self) -> None:
            t0 = time.time()
            super().refresh()
            renders.append((t0, time.time()))

    board = Timed(store, poll_s)
    board.start()
    return board


# --------------------------------------------------------------------------- live process
class Produced:
    """An observer: wall time each row was handed to the writer."""

    def __init__(self):
        self.at: dict[tuple[str, str], float] = {}

    def observe(self, table: str, rows: list[dict]) -> None:
        if table not in READS or table == "visits":
            return
        now = time.time()
        for row in rows:
            key = _key({**row, "t": row.get("end")}, READS[table][1])
            self.at.setdefault((table, key), now)


def run(seconds: float, dashboard: float | None, history: Path | None = None) -> dict:
    from workbench.config import parse_config
    from workbench.live import LiveService
    from workbench.store import Store

    missing = [str(p) for p in CLIPS.values() if not p.exists()]
    if missing:
        sys.exit(f"needs ../shared/data: {missing} missing")
    root = Path(tempfile.mkdtemp(prefix="live-visibility-")) / "store"
    settings = {"timezone": "UTC", "cameras": []}
    if history is not None:  # live capture into a copy of a store with its history
        shutil.copytree(history, root, ignore=shutil.ignore_patterns(".writer.lock"))
        settings = Store(root).read_meta().get("settings", settings)
    known = {c["id"] for c in settings["cameras"]}
    cameras = settings["cameras"] + [{"id": c} for c in CLIPS if c not in known]
    cfg = parse_config({**settings, "store": str(root), "cameras": cameras})
    store = Store(root, cfg)
    store.ensure_writable()
    out = root.parent / "reader.jsonl"
    since = time.time()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--reader", str(root), "--out", str(out), "--since", str(since)]
        + (["--dashboard", str(dashboard)] if dashboard else []),
        stdin=subprocess.PIPE,
    )
    produced = Produced()
    load = os.getloadavg()
    cpu0 = time.process_time()
    with LiveService(store, cfg, observers=[produced], alerts=False) as svc:
        for camera, clip in CLIPS.items():
            svc.add_camera(camera, str(clip))
        stop = threading.Event()
        timer = threading.Timer(seconds, stop.set)
        timer.daemon = True
        timer.start()
        svc.run(stop)
    cpu = time.process_time() - cpu0
    time.sleep(3)  # the reader's last polls
    proc.stdin.close()
    proc.wait(60)
    health = store.query(
        "SELECT camera, round(avg(fps_in), 1) AS fps_in, round(avg(fps_out), 1) AS fps_out, "
        "round(median(latency_s), 2) AS latency_median_s, round(max(latency_s), 2) AS latency_max_s "
        "FROM camera_health WHERE status = 'online' GROUP BY camera ORDER BY camera"
    )
    health = json.loads(health.to_json(orient="records"))  # NaN -> null
    result = summarize(out, produced, load + os.getloadavg(), cpu, health)
    shutil.rmtree(root.parent)
    return result


def summarize(out: Path, produced: Produced, load, cpu: float, health) -> dict:
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    end = next((r for r in recs if r["view"] == "renders"), {"renders": [], "polls": []})
    renders, polls = end["renders"], end["polls"]
    rows = [r for r in recs if r["view"] != "renders"]
    lat: dict[str, list[float]] = {}
    to_produced: dict[str, list[float]] = {}
    after_produced: dict[str, list[float]] = {}
    # rows the live cameras made (a copied store's history can hold rows of these hours too)
    rows = [r for r in rows if r["view"] == "visits" or (r["view"], r["key"]) in produced.at]
    for r in rows:
        if r["view"] == "visits":
            continue
        at = produced.at[(r["view"], r["key"])]
        lat.setdefault(r["view"], []).append(r["seen"] - r["t"])
        to_produced.setdefault(r["view"], []).append(at - r["t"])
        after_produced.setdefault(r["view"], []).append(r["seen"] - at)
    visits = [r for r in rows if r["view"] == "visits"]
    on_board: dict[str, list[float]] = {}  # the dashboard shows visits and occupancy

    def redrawn(view: str, t: float, seen: float) -> None:
        done = [end for start, end in renders if start >= seen]
        if done:
            on_board.setdefault(view, []).append(min(done) - t)

    for t in (r for r in rows if r["view"] == "tracks" and r["customer"]):
        covering = [v["seen"] for v in visits if v["customer"] == t["customer"]
                    and v["start"] <= t["start"] + 1e-3 and v["t"] >= t["t"] - 1e-3]  # fmt: skip
        if covering:
            lat.setdefault("visits", []).append(min(covering) - t["t"])
            redrawn("visits", t["t"], min(covering))
    for r in rows:
        if r["view"] == "occupancy":
            redrawn("occupancy", r["t"], r["seen"])

    def stats(values: list[float]) -> dict:
        return {
            "n": len(values),
            "median": round(statistics.median(values), 2),
            "max": round(max(values), 2),
        }

    result = {
        "load_before_after": [round(x, 2) for x in load],
        "cpu_s": round(cpu, 1),
        "capture_to_visible": {v: stats(x) for v, x in sorted(lat.items())},
        "capture_to_produced": {v: stats(x) for v, x in sorted(to_produced.items())},
        "produced_to_visible": {v: stats(x) for v, x in sorted(after_produced.items())},
        "reader_poll_s": stats(polls),
        "health": health,
    }
    if renders:
        result["dashboard"] = {
            "redraws": len(renders),
            "redraw_s": stats([e - s for s, e in renders]),
            "capture_to_redrawn": {v: stats(x) for v, x in sorted(on_board.items())},
        }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the cameras run")
    ap.add_argument(
        "--dashboard",
        type=float,
        nargs="?",
        const=1.0,
        help="also time the manager dashboard, polling every this many seconds (1, its default)",
    )
    ap.add_argument(
        "--copy-of",
        type=Path,
        help="run live into a copy of this store (its history), e.g. data/demo",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--reader", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--since", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reader:
        reader(args.reader, args.out, args.since, args.dashboard)
        return
    result = run(args.seconds, args.dashboard, args.copy_of)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores; command: {' '.join(sys.argv)}")
    print(f"load average before/after: {result['load_before_after']}, CPU {result['cpu_s']} s")
    print(f"reader poll (connect + 5 views): {result['reader_poll_s']}")
    for what in ("capture_to_visible", "capture_to_produced", "produced_to_visible"):
        for view, s in result[what].items():
            print(
                f"{what:20} {view:14} n={s['n']:4} median {s['median']:6.2f} s  max {s['max']:6.2f} s"
            )
    for h in result["health"]:
        print(f"health {h}")
    if "dashboard" in result:
        print(f"dashboard {result['dashboard']}")


if __name__ == "__main__":
    main()
