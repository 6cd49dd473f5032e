"""Lines and zones: what tracked people's foot points do over time.

Both follow one rule against flicker: a change (a person on the other side of a
line, inside or outside a zone) counts only once it has lasted ``confirm_s``; it is
then dated to when it began. A person who steps over a line and back within that
time, or whose foot point jitters on a zone's edge, is never counted. A track that
ends on the far side of a line, seen there at least twice (the person walked out of
the picture past it), counts as crossed.

Times are seconds (float); ``update`` takes the tracked people of one frame: their
tracker ids and foot points (bottom centre of the box), and returns the events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.config_people import LineConfig, ZoneConfig
from workbench.geometry import points_in_polygon, segments_intersect, side_of_line


def foot_points(xyxy: np.ndarray) -> np.ndarray:
    """Bottom centre of each box: where a person stands."""
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)


@dataclass
class Crossing:
    line: str
    track_id: int
    ts: float  # when the person crossed
    direction: str  # "in" or "out"
    x: float  # first foot point past the line
    y: float


@dataclass
class _LineState:
    last: np.ndarray
    settled: int  # side the person is counted on (+1/-1; 0 until known)
    current: int  # side after the last crossing of the segment
    since: float
    point: np.ndarray
    beyond: int = 0  # frames seen on ``current`` side since crossing to it


class LineCounter:
    """Directional crossings of one line segment, debounced by ``confirm_s``."""

    def __init__(self, line: LineConfig, confirm_s: float):
        self.name = line.name
        self.a, self.b = (np.asarray(p, float) for p in line.points)
        self.in_side = int(side_of_line(np.asarray([line.inside]), self.a, self.b)[0])
        self.confirm_s = confirm_s
        self._state: dict[int, _LineState] = {}

    def update(self, ts: float, ids: np.ndarray, feet: np.ndarray) -> list[Crossing]:
        events = []
        for tid, p in zip(ids.tolist(), np.asarray(feet, float)):
            st = self._state.get(tid)
            if st is None:
                side = int(side_of_line(p[None], self.a, self.b)[0])
                st = self._state[tid] = _LineState(p, side, side, ts, p)
            elif st.settled == 0:
                st.settled = st.current = int(side_of_line(p[None], self.a, self.b)[0])
            elif segments_intersect(st.last, p, self.a, self.b):
                st.current, st.since, st.point, st.beyond = -st.current, ts, p, 0
            if side_of_line(p[None], self.a, self.b)[0] != 0:
                st.last = p  # a foot exactly on the line: the crossing is counted from the next
            st.beyond += 1
            if st.current != st.settled and ts - st.since >= self.confirm_s:
                events.append(self._confirm(tid, st))
        return events

    def end(self, ids) -> list[Crossing]:
        """Tracks that ended: one seen at least twice on the far side counts as crossed."""
        events = []
        for tid in ids:
            st = self._state.pop(tid, None)
            if st is not None and st.settled != 0 and st.current != st.settled and st.beyond >= 2:
                events.append(self._confirm(tid, st))
        return events

    def _confirm(self, tid: int, st: _LineState) -> Crossing:
        st.settled = st.current
        direction = "in" if st.current == self.in_side else "out"
        return Crossing(self.name, tid, st.since, direction, float(st.point[0]), float(st.point[1]))


@dataclass
class ZoneEvent:
    zone: str
    track_id: int
    ts: float
    kind: str  # "enter" or "exit"
    dwell_s: float | None = None  # on exit: time inside


@dataclass
class _ZoneState:
    inside: bool  # confirmed
    raw: bool  # this frame
    since: float  # when ``raw`` last changed
    last_ts: float
    entered: float | None = None


class ZoneMonitor:
    """Occupancy, entries, exits and time inside of one polygon zone, debounced by ``confirm_s``."""

    def __init__(self, zone: ZoneConfig, confirm_s: float):
        self.name = zone.name
        self.polygon = np.asarray(zone.points, float)
        self.staff = zone.staff
        self.confirm_s = confirm_s
        self._state: dict[int, _ZoneState] = {}

    @property
    def members(self) -> list[int]:
        """Tracks counted inside now."""
        return [tid for tid, st in self._state.items() if st.inside]

    def update(self, ts: float, ids: np.ndarray, feet: np.ndarray) -> list[ZoneEvent]:
        events = []
        inside = points_in_polygon(feet, self.polygon) if len(ids) else np.zeros(0, bool)
        for tid, raw in zip(ids.tolist(), inside.tolist()):
            st = self._state.get(tid)
            if st is None:
                st = self._state[tid] = _ZoneState(False, raw, ts, ts)
            elif raw != st.raw:
                st.raw, st.since = raw, ts
            st.last_ts = ts
            if st.raw != st.inside and ts - st.since >= self.confirm_s:
                events.append(self._confirm(tid, st, st.since))
        return events

    def end(self, ids) -> list[ZoneEvent]:
        """Tracks that ended: those inside leave when last seen (or when they stepped out)."""
        events = []
        for tid in ids:
            st = self._state.pop(tid, None)
            if st is not None and st.inside:
                left = st.last_ts if st.raw else st.since
                st.raw = False
                events.append(self._confirm(tid, st, left))
        return events

    def _confirm(self, tid: int, st: _ZoneState, ts: float) -> ZoneEvent:
        st.inside = st.raw
        if st.inside:
            st.entered = ts
            return ZoneEvent(self.name, tid, ts, "enter")
        return ZoneEvent(self.name, tid, ts, "exit", ts - (st.entered or ts))


@dataclass
class Presence:
    start: float  # when someone was first in view
    end: float  # when someone was last in view
    people_max: int


class PresenceMonitor:
    """Periods with anyone in view, debounced like zones: a period starts once someone has
    been in view for ``confirm_s`` and ends once nobody has been for ``confirm_s``."""

    def __init__(self, confirm_s: float):
        self.confirm_s = confirm_s
        self.on = self.raw = False
        self.since = self.start = self.last_seen = 0.0
        self.peak = 0

    def update(self, ts: float, count: int) -> Presence | None:
        raw = count > 0
        if raw != self.raw:
            self.raw, self.since = raw, ts
            if raw and not self.on:
                self.peak = 0
        if raw:
            self.last_seen = ts
            self.peak = max(self.peak, count)
        if self.raw != self.on and ts - self.since >= self.confirm_s:
            self.on = self.raw
            if self.on:
                self.start = self.since
            else:
                return Presence(self.start, self.last_seen, self.peak)
        return None

    def end(self) -> Presence | None:
        """The video ended: an open period ends when someone was last seen."""
        if not self.on:
            return None
        self.on = self.raw = False
        return Presence(self.start, self.last_seen, self.peak)
