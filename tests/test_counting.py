"""Lines, zones, presence, heat and their configuration, on synthetic tracks (no video)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.config import parse_config
from workbench.config_people import LineConfig, ZoneConfig, check_in_frame
from workbench.counting import LineCounter, PresenceMonitor, ZoneMonitor
from workbench.errors import ConfigError
from workbench.geometry import collinear_triple, points_in_polygon, self_crossing
from workbench.heat import HeatGrid, close_pairs, heading

# a vertical door line at x = 100 from y = 0 to 200; 'in' is to the right
DOOR = LineConfig(name="door", points=[[100, 0], [100, 200]], inside=[150, 100])
SQUARE = ZoneConfig(name="shelf", points=[[0, 0], [100, 0], [100, 100], [0, 100]])


def walk(xs, y=100.0, fps=5.0, t0=0.0):
    """Frames (t, x, y) of one person at the given x positions, ``fps`` apart."""
    return [(t0 + i / fps, float(x), y) for i, x in enumerate(xs)]


def run_line(frames, confirm_s=2.0, line=DOOR, end=True):
    counter = LineCounter(line, confirm_s)
    events = []
    for t, x, y in frames:
        events += counter.update(t, np.array([7]), np.array([[x, y]]))
    if end:
        events += counter.end([7])
    return events


def test_walking_through_counts_once_dated_when_crossed():
    frames = walk(range(40, 200, 8))  # 4 px per 0.2 s... crosses x=100 at frame 8 (t=1.6)
    events = run_line(frames)
    assert [(e.direction, e.track_id) for e in events] == [("in", 7)]
    assert events[0].ts == pytest.approx(1.6)
    assert events[0].x > 100


def test_a_step_landing_exactly_on_the_line_still_counts():
    events = run_line(walk([60, 80, 100, 120, 140, 160, 180, 200, 220, 240, 260, 280]))
    assert [e.direction for e in events] == ["in"]
    assert events[0].x > 100  # dated from the first step beyond it


def test_opposite_direction_is_out():
    events = run_line(walk(range(190, 30, -8)))
    assert [e.direction for e in events] == ["out"]


@pytest.mark.parametrize("confirm_s", [0.5, 2.0])
def test_flicker_back_and_forth_is_never_counted(confirm_s):
    # a person standing on the line, foot point jittering across it every frame for 10 s
    xs = [96 if i % 2 else 104 for i in range(50)]
    assert run_line(walk(xs), confirm_s=confirm_s) == []


def test_entry_counts_only_after_staying_past_the_line():
    step_in_and_back = walk([80] * 5 + [120] * 5 + [80] * 10)  # 1 s past the line
    assert run_line(step_in_and_back, confirm_s=2.0) == []
    assert [e.direction for e in run_line(step_in_and_back, confirm_s=0.8)] == ["in", "out"]
    stays = walk([80] * 5 + [120] * 15)  # 3 s past the line
    events = run_line(stays, confirm_s=2.0, end=False)
    assert [(e.direction, e.ts) for e in events] == [("in", 1.0)]


def test_leaving_the_picture_past_the_line_counts():
    # crosses and is gone 0.4 s later (walked out of view): counted when the track ends
    events = run_line(walk([80, 90, 110, 120]), confirm_s=2.0)
    assert [e.direction for e in events] == ["in"]


def test_passing_beside_the_line_is_not_a_crossing():
    assert run_line(walk(range(40, 200, 8), y=260)) == []  # below the segment's end
    assert run_line(walk(range(40, 200, 8), y=-5)) == []


def zone_run(points_by_frame, confirm_s=1.0, fps=5.0):
    zone = ZoneMonitor(SQUARE, confirm_s)
    events, occupancy = [], []
    for i, pts in enumerate(points_by_frame):
        ids = np.array(list(pts), dtype=int)
        feet = np.array(list(pts.values()), float).reshape(-1, 2)
        events += zone.update(i / fps, ids, feet)
        occupancy.append(len(zone.members))
    return zone, events, occupancy


def test_zone_entries_exits_occupancy_and_time_inside():
    # person 1 inside from t=1 to t=5; person 2 inside from t=2 until their track ends at t=7.8
    frames = []
    for i in range(40):
        t = i / 5
        pts = {1: (50, 50) if 1 <= t < 5 else (150, 50)}
        if t >= 2:
            pts[2] = (20, 80)
        frames.append(pts)
    zone, events, occupancy = zone_run(frames)
    events += zone.end([1, 2])
    kinds = [(e.track_id, e.kind, round(e.ts, 1)) for e in events]
    assert kinds == [(1, "enter", 1.0), (2, "enter", 2.0), (1, "exit", 5.0), (2, "exit", 7.8)]
    exits = {e.track_id: e.dwell_s for e in events if e.kind == "exit"}
    assert exits == {1: pytest.approx(4.0), 2: pytest.approx(5.8)}
    assert max(occupancy) == 2 and occupancy[-1] == 1  # person 1 counted out after 1 s


def test_zone_edge_jitter_is_not_entries():
    frames = [{3: (101, 50) if i % 2 else (99, 50)} for i in range(30)]
    _, events, occupancy = zone_run(frames)
    assert events == [] and max(occupancy) == 0


def test_presence_periods_bridge_short_gaps_and_drop_glimpses():
    counts = [0] * 10 + [1] * 20 + [0] * 3 + [1] * 20 + [0] * 20 + [2] * 3 + [0] * 20
    monitor, periods = PresenceMonitor(2.0), []
    for i, n in enumerate(counts):
        p = monitor.update(i / 5, n)
        if p:
            periods.append(p)
    assert monitor.end() is None
    # one period from 2.0 s to the last sighting at 10.4 s; the 0.6 s glimpse is not a period
    assert [(p.start, round(p.end, 1), p.people_max) for p in periods] == [(2.0, 10.4, 1)]


def test_geometry_helpers():
    assert self_crossing(np.array([[0, 0], [10, 10], [10, 0], [0, 10]])) == (0, 2)
    assert self_crossing(np.array(SQUARE.points)) is None
    assert collinear_triple(np.array([[0, 0], [5, 5], [10, 10.001], [0, 10]])) == (0, 1, 2)
    assert collinear_triple(np.array([[0, 0], [10, 0], [10, 10], [0, 10]])) is None
    inside = points_in_polygon(np.array([[50, 50], [100, 50], [150, 50]]), SQUARE.points)
    assert inside.tolist() == [True, True, False]


def camera(**geometry):
    return {"cameras": [{"id": "door", **geometry}]}


@pytest.mark.parametrize(
    "geometry, words",
    [
        (
            {"zones": [{"name": "till", "points": [[0, 0], [10, 10], [10, 0], [0, 10]]}]},
            ["camera 'door'", "zones[0] ('till').points", "crosses itself"],
        ),
        (
            {
                "floor": {
                    "image": [[0, 0], [10, 10], [20, 20], [0, 30]],
                    "plan": [[0, 0], [1, 0], [1, 1], [0, 1]],
                }
            },
            ["camera 'door'", "floor.image", "on one line"],
        ),
        (
            {"lines": [{"name": "a", "points": [[0, 0], [10, 0]], "inside": [5, 0]}]},
            ["camera 'door'", "lines[0] ('a').inside", "on the line"],
        ),
        (
            {"zones": [SQUARE.model_dump(), SQUARE.model_dump()]},
            ["camera 'door'", "zones", "used twice"],
        ),
        ({"zones": [{"name": "x", "points": [[0, 0], [1, 1]]}]}, ["cameras.0.zones.0.points"]),
        ({"lines": [{"name": "a", "points": [[0, 0], [10, 0]]}]}, ["inside", "Field required"]),
    ],
)
def test_bad_geometry_is_a_config_error_naming_camera_and_key(geometry, words):
    with pytest.raises(ConfigError) as err:
        parse_config(camera(**geometry), "shop.yml")
    for w in words:
        assert w in str(err.value)


def test_points_outside_the_picture_are_a_config_error():
    cfg = parse_config(
        camera(
            lines=[DOOR.model_dump()],
            zones=[{"name": "till", "points": [[600, 400], [700, 400], [700, 500]]}],
        )
    )
    cam = cfg.cameras[0]
    check_in_frame(cam, 800, 600)  # fits
    with pytest.raises(
        ConfigError,
        match=r"camera 'door': zones\[0\] \('till'\)\.points: point \[700.0, 400.0\] is outside the 640x480",
    ):
        check_in_frame(cam, 640, 480)


def test_heading_and_close_pairs():
    assert [heading(1, 0), heading(0, -1), heading(-1, 1)] == ["E", "N", "SW"]
    feet = np.array([[0, 100], [50, 100], [400, 100]], float)
    heights = np.array([170, 170, 170], float)
    assert close_pairs(feet, heights, 1.0, None) == 1  # 50 px at 170 px/1.7 m = 0.5 m
    floor = np.array([[0, 0], [1.5, 0], [3, 0]])
    assert close_pairs(feet, heights, 1.0, floor) == 0


def test_heat_grid_counts_person_seconds_by_cell_and_heading():
    grid = HeatGrid(640, 480, cells=32)  # 20 px cells
    for i in range(10):  # one person walking right 40 px/s (0.4 heights/s) for 2 s, one standing
        feet = np.array([[100 + 8 * i, 200], [300, 300]], float)
        grid.add(0.0, i / 5, 0.2, np.array([1, 2]), feet, np.array([100.0, 100.0]), None)
    rows = grid.pop_rows()
    assert sum(r["seconds"] for r in rows) == pytest.approx(4.0)
    standing = [r for r in rows if r["cell_x"] == 15 and r["cell_y"] == 15]
    assert [(r["heading"], r["samples"]) for r in standing] == [("", 10)]
    walking = {r["heading"] for r in rows if r["cell_y"] == 10}
    assert walking == {"", "E"}  # the first sample has no speed yet
    assert grid.pop_rows() == []


@pytest.mark.parametrize(
    ("zone", "change"),
    [
        ("America/St_Johns", "2009-11-01T02:31:00"),  # clocks back an hour at 00:01 local
        ("America/Goose_Bay", "2010-03-14T04:01:00"),  # forward an hour at 00:01 local
        ("Australia/Lord_Howe", "2025-10-04T15:30:00"),  # forward half an hour
        ("Asia/Kathmandu", "2025-06-01T00:00:00"),  # no change; offset +5:45
    ],
)
def test_the_local_hour_of_heat_is_right_through_clock_changes(zone, change):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from workbench.pipeline_people import PeoplePipeline

    config = parse_config({"cameras": [{"id": "door", "timezone": zone}]})
    people = PeoplePipeline(config, "door", "r1")
    at = datetime.fromisoformat(change).replace(tzinfo=UTC).timestamp()
    for t in np.arange(at - 5400, at + 5400, 7.3):
        local = datetime.fromtimestamp(t, ZoneInfo(zone))
        expected = local.replace(minute=0, second=0, microsecond=0).timestamp()
        assert people._hour(t) == expected, datetime.fromtimestamp(t, UTC)
