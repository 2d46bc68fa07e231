"""How far a fix moves an outline (see :mod:`boundaries.fixing`): every vertex that moves, and along the edges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from boundaries import rules
from geo.crs import geometries_to_wgs84

__all__ = ["EPSILON_M", "Move", "moves", "edge_move", "vertices"]

#: A vertex whose nearest point on the other outline is closer than this (m) has not moved (floating-point noise).
EPSILON_M = 1e-4


@dataclass(frozen=True)
class Move:
    """One vertex that moves: its area ``code``, ``old`` and ``new`` position (lon, lat) and ``distance_m``."""

    code: str
    old: tuple[float, float]
    new: tuple[float, float]
    distance_m: float

    def feature(self) -> dict:
        """The move as a GeoJSON Point feature at the new position (properties: code, distance_m, old)."""
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": list(self.new)},
            "properties": {"code": self.code, "distance_m": round(self.distance_m, 4), "old": list(self.old)},
        }


def vertices(geom) -> np.ndarray:
    """The distinct vertices of an outline, sorted (rows x, y)."""
    return np.unique(shapely.get_coordinates(shapely.boundary(geom)), axis=0)


def _moved(code, source, target, plane, towards_target: bool) -> list[Move]:
    """Vertices of ``source`` farther than :data:`EPSILON_M` from ``target``'s outline, as moves.

    ``towards_target``: the vertex is old and moves to its nearest point on the new outline; else the vertex is
    new and comes from its nearest point on the old outline. Distances are on the ground (``plane.ground``).
    """
    coords = vertices(source)
    if not len(coords):
        return []
    outline = shapely.boundary(target)
    points = shapely.points(coords)
    far = np.flatnonzero(shapely.distance(points, outline) > EPSILON_M / 2)  # the plane is within 1 % of the ground
    nearest = shapely.get_coordinates(shapely.shortest_line(points[far], outline))[1::2]
    distance = plane.ground(*(nearest - coords[far]).T, coords[far, 1])
    moved = distance > EPSILON_M
    far, nearest, distance = far[moved], nearest[moved], distance[moved]
    if not len(far):
        return []
    here = coords[far]
    old, new = (here, nearest) if towards_target else (nearest, here)
    lon_lat = geometries_to_wgs84(shapely.points(np.vstack([old, new])), plane)
    xy = shapely.get_coordinates(lon_lat)
    n = len(far)
    return [
        Move(code, (float(xy[k, 0]), float(xy[k, 1])), (float(xy[n + k, 0]), float(xy[n + k, 1])), float(d))
        for k, d in enumerate(distance)
    ]


def edge_move(old, new, tolerance: float, plane) -> float:
    """How far the outline moves anywhere along its edges (m on the ground), not only at vertices.

    A vertex's distance to the other outline misses an edge that swings across a corner (the new edge's end lies
    near the old corner's other side). Around each piece of the symmetric difference (its box widened by the
    tolerance) both outlines are sampled every tenth of the tolerance and each sample is measured to the other
    outline nearby (widened by twice the tolerance: anything farther is beyond the tolerance anyway). The largest
    is the move, to within a twentieth of the tolerance.
    """
    changed = [p for p in shapely.get_parts(shapely.symmetric_difference(old, new)) if p.area >= rules.NOISE_M2]
    if not changed:
        return 0.0
    step, margin = tolerance / 10, tolerance + EPSILON_M
    outlines = shapely.boundary(old), shapely.boundary(new)
    worst = 0.0
    for x0, y0, x1, y1 in shapely.bounds(np.array(changed, dtype=object)).tolist():
        near = [shapely.clip_by_rect(o, x0 - margin, y0 - margin, x1 + margin, y1 + margin) for o in outlines]
        far = [_segments(shapely.clip_by_rect(o, x0 - 2 * margin, y0 - 2 * margin, x1 + 2 * margin, y1 + 2 * margin))
               for o in outlines]  # fmt: skip
        for source, target in ((near[0], far[1]), (near[1], far[0])):
            samples = shapely.get_coordinates(shapely.segmentize(source, step)) if not source.is_empty else []
            if len(samples) and not len(target):
                return float("inf")  # the other outline is nowhere near
            worst = max(worst, _farthest(samples[:1_000_000], target, plane))
    return worst


def _segments(lines) -> np.ndarray:
    """The segments of (Multi)LineStrings as rows ``x0, y0, x1, y1``."""
    parts = shapely.get_parts(lines)
    return np.vstack([np.hstack([c[:-1], c[1:]]) for c in map(shapely.get_coordinates, parts)] or [np.empty((0, 4))])


def _farthest(points: np.ndarray, segments: np.ndarray, plane) -> float:
    """The largest ground distance from ``points`` (rows x, y) to the nearest of ``segments`` (numpy, in chunks)."""
    if not len(points) or not len(segments):
        return 0.0
    a, d = segments[:, :2], segments[:, 2:] - segments[:, :2]
    length2 = np.maximum((d * d).sum(1), 1e-300)
    rx, ry = plane.ratios(points[:, 1])
    scale = np.column_stack([rx, ry])
    worst, chunk = 0.0, max(1, 4_000_000 // len(segments))
    for k in range(0, len(points), chunk):
        p = points[k : k + chunk, None, :] - a[None]
        t = np.clip((p * d[None]).sum(2) / length2, 0.0, 1.0)
        gap = (p - t[..., None] * d[None]) * scale[k : k + chunk, None, :]
        worst = max(worst, float(np.sqrt((gap * gap).sum(2).min(1)).max()))
    return worst


def moves(code, old, new, plane) -> list[Move]:
    """Every vertex that moves between the ``old`` and ``new`` outline of one area (in ``plane``, a LocalPlane)."""
    return _moved(code, old, new, plane, True) + _moved(code, new, old, plane, False)
