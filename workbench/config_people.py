"""Configuration of people counting: detector and tracker settings, and each camera's
lines, zones and floor plan (pixel coordinates of the camera's picture).

Geometry that can be checked without video (a polygon that crosses itself, a floor
plan from collinear points, duplicate names) fails when the config is read; points
outside the picture fail when the first frame shows the picture's size. Both are
``ConfigError`` naming the camera and the key.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from workbench.errors import ConfigError
from workbench.geometry import collinear_triple, self_crossing, side_of_line

Point = Annotated[list[float], Field(min_length=2, max_length=2)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_. -]{1,64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LineConfig(_Strict):
    name: Name = Field(description="Name of the line in crossings (e.g. 'door').")
    points: Annotated[list[Point], Field(min_length=2, max_length=2)] = Field(
        description="The line's two ends [[x1, y1], [x2, y2]] in picture pixels."
    )
    inside: Point = Field(
        description="Any pixel on the 'in' side: crossing towards it is 'in', away from it 'out'."
    )


class ZoneConfig(_Strict):
    name: Name = Field(description="Name of the zone in zone events and occupancy.")
    points: Annotated[list[Point], Field(min_length=3, max_length=64)] = Field(
        description="Polygon corners [[x, y], ...] in picture pixels, in order; must not cross itself."
    )
    staff: bool = Field(
        False,
        description="A staff area (e.g. behind the counter): people seen in it are staff and left out of customer dwell.",
    )


class FloorConfig(_Strict):
    image: Annotated[list[Point], Field(min_length=4, max_length=4)] = Field(
        description="Four marked points on the floor in the picture (pixels)."
    )
    plan: Annotated[list[Point], Field(min_length=4, max_length=4)] = Field(
        description="The same four points on the floor plan, in metres."
    )


class PeopleConfig(_Strict):
    enabled: bool = Field(True, description="Count people (not faces) during ingest.")
    detector: Literal["auto", "hog+motion", "hog", "motion", "dnn"] = Field(
        "auto",
        description="Person detector: 'dnn' (a model in models/, see `workbench models`; `workbench models --fetch centernet` gets one), 'hog+motion' (HOG, plus background-subtraction blobs HOG does not explain once the camera has been still for 5 s: people seen from behind or above, standing still; cheaper than dnn, but misses people under a sixth of the picture's height), 'hog' (OpenCV's HOG people detector), 'motion' (background subtraction; fixed cameras). 'auto': dnn when a model is present, else hog+motion.",
    )
    model: str | None = Field(
        None,
        description="Which dnn model (a name from `workbench models`); default: the first present.",
    )
    models_dir: str = Field(
        "models", description="Folder of model files, relative to the config file's folder."
    )
    min_person_px: int | None = Field(
        None,
        ge=24,
        le=2000,
        description="Smallest person height (pixels of the camera's picture) to look for; default a sixth of the picture's height, at least 120 but at most a third of the height (180 at 1080p, 80 at 240 rows). Detection time grows with (default / this)^2: lower it for wide views of small people.",
    )
    detect_fps: float = Field(
        5.0,
        gt=0,
        le=60,
        description="People are detected at most this often per second of video (never more often than detection.detect_fps).",
    )
    track_max_gap_s: float = Field(
        1.0, gt=0, le=30, description="A person track survives this long unseen (occlusions)."
    )
    confirm_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="A crossing, zone entry or zone exit counts once the person has stayed on the new side this long (commercial counters use ~2 s); flicker back and forth never counts.",
    )
    occupancy_interval_s: float = Field(
        10.0, ge=1, le=3600, description="Occupancy is stored as mean and max per this interval."
    )
    heat_cells: int = Field(
        32, ge=4, le=256, description="Heat map columns across the picture (cells are square)."
    )
    heat_cell_m: float = Field(
        0.5, gt=0, le=10, description="Heat map cell size on the floor plan (metres)."
    )
    close_m: float = Field(
        1.0,
        gt=0,
        le=10,
        description="People closer than this (metres) count as a close pair. Without a floor plan, distances are estimated from body height (1.7 m).",
    )


def check_camera_geometry(
    camera_id: str, lines: list[LineConfig], zones: list[ZoneConfig], floor: FloorConfig | None
) -> None:
    """Raise ValueError (pydantic shows it under the camera) for geometry that cannot work."""
    where = f"camera {camera_id!r}"
    for kind, items in (("lines", lines), ("zones", zones)):
        names = [i.name for i in items]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"{where}: {kind}: name {sorted(dup)[0]!r} is used twice")
    for i, line in enumerate(lines):
        a, b = np.asarray(line.points, float)
        key = f"{where}: lines[{i}] ({line.name!r})"
        if np.allclose(a, b):
            raise ValueError(f"{key}.points: both ends are the same point")
        if side_of_line(np.asarray([line.inside]), a, b)[0] == 0:
            raise ValueError(
                f"{key}.inside: the point lies on the line; pick a pixel on the 'in' side"
            )
    for i, zone in enumerate(zones):
        crossing = self_crossing(np.asarray(zone.points))
        if crossing is not None:
            e1, e2 = crossing
            raise ValueError(
                f"{where}: zones[{i}] ({zone.name!r}).points: the polygon crosses itself "
                f"(edge {e1 + 1} crosses edge {e2 + 1}); list the corners in order around the zone"
            )
    if floor is not None:
        for key in ("image", "plan"):
            triple = collinear_triple(np.asarray(getattr(floor, key)))
            if triple is not None:
                raise ValueError(
                    f"{where}: floor.{key}: points {', '.join(str(t + 1) for t in triple)} are on one "
                    "line, so no floor mapping can be computed; mark four points spread over the floor"
                )


def check_in_frame(camera, width: int, height: int) -> None:
    """ConfigError when a camera's line, zone or floor point lies outside a ``width`` x ``height`` picture."""

    def bad(points) -> list[float] | None:
        for x, y in points:
            if not (0 <= x <= width and 0 <= y <= height):
                return [x, y]
        return None

    keys = [(f"lines[{i}] ({ln.name!r}).points", ln.points) for i, ln in enumerate(camera.lines)]
    keys += [(f"lines[{i}] ({ln.name!r}).inside", [ln.inside]) for i, ln in enumerate(camera.lines)]
    keys += [(f"zones[{i}] ({z.name!r}).points", z.points) for i, z in enumerate(camera.zones)]
    if camera.floor is not None:
        keys.append(("floor.image", camera.floor.image))
    for key, points in keys:
        p = bad(points)
        if p is not None:
            raise ConfigError(
                f"camera {camera.id!r}: {key}: point {p} is outside the {width}x{height} picture; "
                "coordinates are pixels of the camera's full-size picture"
            )
