"""Heat, flow, density and proximity from tracked people's foot points.

* Heat: person-seconds per grid cell and hour, on the picture and (with a floor plan)
  on the floor, split by heading (the 8 compass directions of the picture or plan,
  north = up; '' for standing), so one table gives both the heat map and the dominant
  flow directions per cell.
* Proximity: pairs of people closer than a distance, in metres on the floor plan, or
  without one estimated from their height in the picture (a person is ~1.7 m tall).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from workbench.geometry import apply_homography

PERSON_HEIGHT_M = 1.7
MOVING_BODY_HEIGHTS_PER_S = 0.25  # slower than this (~0.4 m/s) is standing
HEADINGS = ["E", "NE", "N", "NW", "W", "SW", "S", "SE"]
VELOCITY_WINDOW_S = 1.0  # speed is measured over about this long


def heading(vx: float, vy: float) -> str:
    """Compass heading of a velocity in picture/plan axes (y grows downwards, north is up)."""
    angle = np.degrees(np.arctan2(-vy, vx)) % 360
    return HEADINGS[int(round(angle / 45)) % 8]


def close_pairs(
    feet: np.ndarray, heights: np.ndarray, limit_m: float, floor: np.ndarray | None
) -> int:
    """Number of pairs of people closer than ``limit_m``.

    ``floor``: their positions on the floor plan in metres, when the camera has one;
    otherwise distances are picture distances scaled by the pair's mean body height.
    """
    n = len(feet)
    if n < 2:
        return 0
    i, j = _pairs(n)
    if floor is not None:
        dist = np.linalg.norm(floor[i] - floor[j], axis=1)
    else:
        px = np.linalg.norm(feet[i] - feet[j], axis=1)
        dist = px / np.maximum((heights[i] + heights[j]) / 2, 1) * PERSON_HEIGHT_M
    return int((dist < limit_m).sum())


@lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j) of every pair i < j of ``n`` things."""
    i, j = np.triu_indices(n, 1)
    i.flags.writeable = j.flags.writeable = False  # shared between calls
    return i, j


@dataclass
class HeatGrid:
    """Accumulates person-seconds per (hour, space, cell, heading) until ``pop_rows``."""

    width: int
    height: int
    cells: int  # columns across the picture
    floor_h: np.ndarray | None = None  # picture -> plan (metres)
    cell_m: float = 0.5
    _acc: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0.0]))
    _paths: dict = field(default_factory=dict)  # track id -> recent (t, x, y, fx, fy)

    @property
    def cell_px(self) -> float:
        return self.width / self.cells

    def add(
        self,
        hour: float,
        ts: float,
        dt: float,
        ids: np.ndarray,
        feet: np.ndarray,
        heights: np.ndarray,
        floor: np.ndarray | None,
    ) -> None:
        """One frame: tracked people's foot points (picture) and, with a plan, floor points."""
        for k, (tid, p, h) in enumerate(zip(ids.tolist(), feet, heights)):
            f = floor[k] if floor is not None else (np.nan, np.nan)
            path = self._paths.setdefault(tid, deque())
            path.append((ts, p[0], p[1], f[0], f[1]))
            while len(path) > 2 and ts - path[1][0] >= VELOCITY_WINDOW_S:
                path.popleft()
            t0, x0, y0, fx0, fy0 = path[0]
            span = ts - t0
            img_head = flo_head = ""
            if span > 0:
                vx, vy = (p[0] - x0) / span, (p[1] - y0) / span
                if np.hypot(vx, vy) >= MOVING_BODY_HEIGHTS_PER_S * h:
                    img_head = heading(vx, vy)
                if floor is not None:
                    fvx, fvy = (f[0] - fx0) / span, (f[1] - fy0) / span
                    if np.hypot(fvx, fvy) >= MOVING_BODY_HEIGHTS_PER_S * PERSON_HEIGHT_M:
                        flo_head = heading(fvx, fvy)
            cx = min(int(p[0] // self.cell_px), self.cells - 1)
            cy = int(p[1] // self.cell_px)
            self._bump((hour, "image", cx, cy, img_head), dt)
            if floor is not None:
                self._bump(
                    (
                        hour,
                        "floor",
                        int(np.floor(f[0] / self.cell_m)),
                        int(np.floor(f[1] / self.cell_m)),
                        flo_head,
                    ),
                    dt,
                )

    def forget(self, ids) -> None:
        for tid in ids:
            self._paths.pop(tid, None)

    def _bump(self, key: tuple, dt: float) -> None:
        cell = self._acc[key]
        cell[0] += 1
        cell[1] += dt

    def floor_points(self, feet: np.ndarray) -> np.ndarray | None:
        return None if self.floor_h is None else apply_homography(self.floor_h, feet)

    def pop_rows(self) -> list[dict]:
        """Everything accumulated, as rows; the store sums rows of the same cell and hour."""
        rows = [
            {
                "hour": hour,
                "space": space,
                "cell_x": cx,
                "cell_y": cy,
                "cell_size": self.cell_px if space == "image" else self.cell_m,
                "heading": head,
                "samples": n,
                "seconds": secs,
            }
            for (hour, space, cx, cy, head), (n, secs) in self._acc.items()
        ]
        self._acc.clear()
        return rows
