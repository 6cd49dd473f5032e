"""The people half of the pipeline: frames -> person detection -> tracking -> lines, zones,
occupancy, heat -> rows for the store.

``workbench.pipeline`` feeds it the frames it decodes and writes the rows it returns
(tables ``person_tracks``, ``crossings``, ``zone_events``, ``occupancy``, ``presence``,
``heat``). Image folders of separate photos are not counted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from workbench.config import Config
from workbench.config_people import check_in_frame
from workbench.counting import LineCounter, Presence, PresenceMonitor, ZoneMonitor, foot_points
from workbench.geometry import apply_homography, homography, polygon_area
from workbench.heat import HeatGrid, close_pairs
from workbench.people import make_detector
from workbench.person_tracking import PersonTracker
from workbench.sources import Frame

log = logging.getLogger(__name__)

HEAT_FLUSH_S = 300  # heat rows are written at least this often (and at every new hour)
# local hours begin on a quarter hour of UTC wherever the offset from UTC is a whole number
# of quarter hours (all of them today): in a quarter hour where the clocks do not change,
# the local hour is the same throughout (``PeoplePipeline._hour``)
QUARTER_HOUR_S = 900


def _hour_start(local: datetime) -> float:
    return local.replace(minute=0, second=0, microsecond=0).timestamp()


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@dataclass
class _Track:
    first: float
    last: float
    start_foot: np.ndarray
    end_foot: np.ndarray
    seen: int = 1
    staff: bool = False


class PeoplePipeline:
    """Per-camera people counting: ``process(frame)`` and ``close()`` return rows per table."""

    def __init__(self, config: Config, camera: str, run_tag: str, enabled: bool = True):
        self.cfg = config.people
        self.enabled = enabled and self.cfg.enabled
        self.camera = camera
        self.run_tag = run_tag
        self.cam = next((c for c in config.cameras if c.id == camera), None)
        self.tz = ZoneInfo(config.camera_timezone(camera))
        self.fps = min(self.cfg.detect_fps, config.detection.detect_fps)
        confirm = self.cfg.confirm_s
        self.lines = [LineCounter(ln, confirm) for ln in (self.cam.lines if self.cam else [])]
        self.zones = [ZoneMonitor(z, confirm) for z in (self.cam.zones if self.cam else [])]
        self.presence = PresenceMonitor(confirm)
        self.floor_h = None
        if self.cam is not None and self.cam.floor is not None:
            self.floor_h = homography(self.cam.floor.image, self.cam.floor.plan)
        self.zone_area = {
            z.name: polygon_area(apply_homography(self.floor_h, z.polygon))
            if self.floor_h is not None
            else None
            for z in self.zones
        }
        self.detector = self.tracker = None  # made on the first frame
        self.heat: HeatGrid | None = None
        self.tracks: dict[int, _Track] = {}
        self._last_t: float | None = None
        self._bucket: float | None = None
        self._occ: dict[str, list[float]] = {}
        self._heat_since: tuple[float, float] | None = None  # (hour, time) of the last heat flush
        self._quarter: tuple[float, float | None] = (-1.0, None)  # (quarter of UTC, its local hour)
        # the tracker's last people and what follows from where they stand: it returns the
        # same Detections while the detector does not look
        self._people: tuple = (None,)

    # ------------------------------------------------------------------ per frame
    def process(self, frame: Frame, moving: np.ndarray | None = None) -> dict[str, list[dict]]:
        """Rows from one frame. ``moving``: boxes where something moved in it, if the
        caller has them (the face side's motion gating), else the detector finds them
        (from ``frame.small``, the face side's motion copy, if made)."""
        if not self.enabled:
            return {}
        t = frame.ts.timestamp()
        if self._last_t is not None and t - self._last_t < 0.75 / self.fps:
            return {}  # frames come at the face stage's rate; people are detected at most at theirs
        dt = 1 / self.fps if self._last_t is None else min(t - self._last_t, 1.0)
        self._last_t = t
        if self.detector is None:
            self._start(frame.image)
        out: dict[str, list[dict]] = defaultdict(list)
        dets = self.tracker.follow(self.detector, frame.image, t, moving, frame.small)
        if dets is not self._people[0]:
            feet, heights = foot_points(dets.xyxy), dets.wh[:, 1]
            floor = self.heat.floor_points(feet)
            pairs = close_pairs(feet, heights, self.cfg.close_m, floor)  # among everyone
            self._people = (dets, feet, heights, floor, pairs)
        _, feet, heights, floor, pairs = self._people
        ids = dets.tracker_id
        for tid, p in zip(ids.tolist(), feet):
            tr = self.tracks.get(tid)
            if tr is None:
                self.tracks[tid] = _Track(t, t, p, p)
            else:
                tr.last, tr.end_foot, tr.seen = t, p, tr.seen + 1
        for line in self.lines:
            if crossed := line.update(t, ids, feet):
                out["crossings"] += self._crossing_rows(crossed)
        for zone in self.zones:
            if events := zone.update(t, ids, feet):
                out["zone_events"] += self._zone_rows(zone, events)
        self.heat.add(self._hour(t), t, dt, ids, feet, heights, floor)
        self._occupancy(t, ids, feet, heights, floor, pairs, out)
        if period := self.presence.update(t, len(ids)):
            out["presence"] += self._presence_rows(period)
        # ended: unseen for longer than the tracker keeps them (plus a frame, so it never revives one)
        gone = self.cfg.track_max_gap_s + 1 / self.fps
        ended = [tid for tid, tr in self.tracks.items() if t - tr.last > gone]
        self._end(ended, out)
        hour = self._hour(t)
        if self._heat_since is None:
            self._heat_since = (hour, t)
        elif hour != self._heat_since[0] or t - self._heat_since[1] >= HEAT_FLUSH_S:
            out["heat"] += self._heat_rows()
            self._heat_since = (hour, t)
        return out

    def light(self) -> bool:
        """Whether the next frame will cost little to count (``PersonDetector.light``)."""
        return self.detector is not None and self.detector.light(len(self.tracker.held()[0]))

    def idle(self) -> bool:
        """Whether nobody is being tracked (as of the last frame counted)."""
        return not self.tracks

    def close(self) -> dict[str, list[dict]]:
        """End every track and write what is still accumulated."""
        out: dict[str, list[dict]] = defaultdict(list)
        if not self.enabled or self.heat is None:
            return out
        self._end(list(self.tracks), out)
        out["presence"] += self._presence_rows(self.presence.end())
        self._flush_occupancy(out)
        out["heat"] += self._heat_rows()
        return out

    # ------------------------------------------------------------------ helpers
    def _start(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self.cam is not None:
            check_in_frame(self.cam, w, h)
        self.detector = make_detector(self.cfg, Path(self.cfg.models_dir), self.fps)
        self.tracker = PersonTracker(self.fps, self.cfg.track_max_gap_s)
        log.info("%s: people detector %s", self.camera, self.detector.name)
        self.heat = HeatGrid(w, h, self.cfg.heat_cells, self.floor_h, self.cfg.heat_cell_m)

    def _hour(self, t: float) -> float:
        """Start of the local hour ``t`` is in: worked out once for each quarter hour of
        UTC where it is the same at both ends and the clocks do not change between them,
        else for each time."""
        quarter = t // QUARTER_HOUR_S
        if quarter != self._quarter[0]:
            start = quarter * QUARTER_HOUR_S
            first, last = (
                datetime.fromtimestamp(x, self.tz) for x in (start, start + QUARTER_HOUR_S - 1e-3)
            )
            hour = _hour_start(first)
            same = first.utcoffset() == last.utcoffset() and hour == _hour_start(last)
            self._quarter = (quarter, hour if same else None)
        if self._quarter[1] is None:
            return _hour_start(datetime.fromtimestamp(t, self.tz))
        return self._quarter[1]

    def _tid(self, tid: int) -> str:
        return f"{self.run_tag}-p{tid}"

    def _crossing_rows(self, events) -> list[dict]:
        return [
            {
                "camera": self.camera,
                "ts": _utc(e.ts),
                "line": e.line,
                "direction": e.direction,
                "track_id": self._tid(e.track_id),
                "x": e.x,
                "y": e.y,
            }
            for e in events
        ]

    def _presence_rows(self, p: Presence | None) -> list[dict]:
        if p is None:
            return []
        return [
            {
                "camera": self.camera,
                "start": _utc(p.start),
                "end": _utc(p.end),
                "dwell_s": p.end - p.start,
                "people_max": p.people_max,
            }
        ]

    def _zone_rows(self, zone: ZoneMonitor, events) -> list[dict]:
        rows = []
        for e in events:
            if zone.staff and e.kind == "enter" and e.track_id in self.tracks:
                self.tracks[e.track_id].staff = True
            rows.append(
                {
                    "camera": self.camera,
                    "ts": _utc(e.ts),
                    "zone": e.zone,
                    "kind": e.kind,
                    "track_id": self._tid(e.track_id),
                    "dwell_s": e.dwell_s,
                    "staff_zone": zone.staff,
                }
            )
        return rows

    def _occupancy(self, t, ids, feet, heights, floor, pairs, out) -> None:
        """Add one frame's people (and ``pairs`` of them close together) to the occupancy
        of the picture and of each zone."""
        bucket = t - t % self.cfg.occupancy_interval_s
        if self._bucket is not None and bucket != self._bucket:
            self._flush_occupancy(out)
        self._bucket = bucket
        groups = [("", len(ids), pairs)]
        for zone in self.zones:
            mask = np.isin(ids, zone.members)
            within = None if floor is None else floor[mask]
            close = close_pairs(feet[mask], heights[mask], self.cfg.close_m, within)
            groups.append((zone.name, int(mask.sum()), close))
        for name, n, pairs in groups:
            acc = self._occ.setdefault(name, [0, 0.0, 0, 0.0, 0])
            acc[0] += 1
            acc[1] += n
            acc[2] = max(acc[2], n)
            acc[3] += pairs
            acc[4] = max(acc[4], pairs)

    def _flush_occupancy(self, out) -> None:
        for name, (frames, total, peak, pairs, pairs_peak) in self._occ.items():
            out["occupancy"].append(
                {
                    "camera": self.camera,
                    "ts": _utc(self._bucket),
                    "zone": name,
                    "seconds": self.cfg.occupancy_interval_s,
                    "people_mean": total / frames,
                    "people_max": peak,
                    "close_pairs_mean": pairs / frames,
                    "close_pairs_max": pairs_peak,
                    "area_m2": self.zone_area.get(name),
                }
            )
        self._occ = {}

    def _end(self, ended: list[int], out) -> None:
        if not ended:
            return
        for line in self.lines:
            out["crossings"] += self._crossing_rows(line.end(ended))
        for zone in self.zones:
            out["zone_events"] += self._zone_rows(zone, zone.end(ended))
        self.heat.forget(ended)
        for tid in ended:
            tr = self.tracks.pop(tid)
            out["person_tracks"].append(
                {
                    "camera": self.camera,
                    "track_id": self._tid(tid),
                    "start": _utc(tr.first),
                    "end": _utc(tr.last),
                    "dwell_s": tr.last - tr.first,
                    "seen": tr.seen,
                    "x_start": float(tr.start_foot[0]),
                    "y_start": float(tr.start_foot[1]),
                    "x_end": float(tr.end_foot[0]),
                    "y_end": float(tr.end_foot[1]),
                    "is_staff": tr.staff,
                }
            )

    def _heat_rows(self) -> list[dict]:
        rows = self.heat.pop_rows()
        for r in rows:
            r["camera"] = self.camera
            r["ts"] = _utc(r.pop("hour"))
        return rows
