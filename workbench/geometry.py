"""Plane geometry for lines, zones and floor plans: small numpy functions, no state."""

from __future__ import annotations

import cv2
import numpy as np


def cross2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z of the cross product of 2-d vectors (broadcasts)."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def side_of_line(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """+1 / -1 / 0 for each point: which side of the infinite line a->b it lies on."""
    return np.sign(cross2(b - a, np.asarray(points, float) - a)).astype(int)


def segments_intersect(p1, p2, q1, q2) -> np.ndarray:
    """Whether segments p1-p2 and q1-q2 properly cross (touching ends do not count).

    ``p1``, ``p2`` may be (n, 2) arrays against one segment ``q1``-``q2``.
    """
    p1, p2, q1, q2 = (np.asarray(v, float) for v in (p1, p2, q1, q2))
    d1 = cross2(q2 - q1, p1 - q1)
    d2 = cross2(q2 - q1, p2 - q1)
    d3 = cross2(p2 - p1, q1 - p1)
    d4 = cross2(p2 - p1, q2 - p1)
    return (d1 * d2 < 0) & (d3 * d4 < 0)


def self_crossing(polygon: np.ndarray) -> tuple[int, int] | None:
    """The first pair of non-adjacent edges (by index) that cross, or None for a simple polygon."""
    pts = np.asarray(polygon, float)
    n = len(pts)
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing edge
            if segments_intersect(pts[i], pts[(i + 1) % n], pts[j], pts[(j + 1) % n]):
                return i, j
    return None


def polygon_area(polygon: np.ndarray) -> float:
    pts = np.asarray(polygon, float)
    return float(abs(cross2(pts, np.roll(pts, -1, axis=0)).sum()) / 2)


def collinear_triple(points: np.ndarray, tolerance: float = 1e-3) -> tuple[int, int, int] | None:
    """Indices of three (nearly) collinear points, or None.

    Nearly: the triangle's area is below ``tolerance`` of the points' bounding-box area.
    """
    pts = np.asarray(points, float)
    span = np.ptp(pts, axis=0)
    scale = max(float(span[0] * span[1]), float(span.max()) ** 2 * 1e-6, 1e-12)
    n = len(pts)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n):
                area = abs(cross2(pts[j] - pts[i], pts[k] - pts[i])) / 2
                if area < tolerance * scale:
                    return i, j, k
    return None


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Boolean mask: which points lie inside the polygon (its edges count as inside)."""
    contour = np.asarray(polygon, np.float32).reshape(-1, 1, 2)
    pts = np.asarray(points, float).reshape(-1, 2)
    return np.array(
        [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in pts], bool
    )


def homography(image_points: np.ndarray, plan_points: np.ndarray) -> np.ndarray:
    """3x3 matrix mapping image pixels to floor-plan coordinates from 4 point pairs."""
    return cv2.getPerspectiveTransform(
        np.asarray(image_points, np.float32), np.asarray(plan_points, np.float32)
    )


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64).reshape(-1, 1, 2)
    if not len(pts):
        return np.zeros((0, 2))
    return cv2.perspectiveTransform(pts, h).reshape(-1, 2)
