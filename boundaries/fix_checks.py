"""The fix tool's check that a fix leaves the children no worse than before (see :mod:`boundaries.fixing`)."""

from __future__ import annotations

import numpy as np
import shapely

from boundaries import rules
from geo.crs import geometries_from_wgs84

__all__ = ["GEOMETRY_RULES", "GROWTH_M2", "worse"]

#: The rules that make a coverage unclean (what the fix is for).
GEOMETRY_RULES = ("overlap", "gap", "outside_parent", "sliver", "invalid_ring")
#: An overlap, gap or outside part that grows by less than this (m²) has not grown (floating-point noise).
GROWTH_M2 = 1e-3
#: A changed area nearer than this (m) to a new gap is to blame for it.
DISTANCE_M = 1e-4


def _polygonal(geom) -> shapely.Geometry:
    polys = [q for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6) for q in shapely.get_parts(p)]
    return shapely.multipolygons(polys) if len(polys) > 1 else (polys[0] if polys else shapely.Polygon())


def _metric(geometry, crs) -> shapely.Geometry:
    return geometries_from_wgs84(np.array([geometry], dtype=object), crs)[0]


def worse(before, after, codes, changed, old, new, crs, buildings) -> dict:
    """Index → reason of the changed areas that leave the children worse than ``before`` (empty when none).

    Worse: an overlap of a pair new or larger, a gap not within the old gaps, a part outside the parent larger, a
    building split that was not, a building's point in another area though it lay in no flagged piece.
    ``old`` and ``new``: the children's outlines before and after (metric); ``changed``: the indices that differ.
    """
    index = {c: k for k, c in enumerate(codes)}
    blamed: dict = {}

    def blame(involved, zh, en):
        for code in involved:
            k = index.get(code)
            if k in changed and k not in blamed:
                blamed[k] = f"修复 {code} 会{zh} fixing {code} would {en}"

    def by_kind(failures, kind):
        return [f for f in failures if f.measure.get("kind") == kind]

    old_pairs = {f.codes: f.measure["area_m2"] for f in by_kind(before, "overlap")}
    old_outside = {f.codes: f.measure["area_m2"] for f in by_kind(before, "outside_parent")}
    for f in by_kind(after, "overlap"):
        if f.measure["area_m2"] > old_pairs.get(f.codes, 0.0) + GROWTH_M2:
            blame(f.codes, "造成或扩大重叠", f"make or widen an overlap ({f.measure['area_m2']:.2f} m²)")
    for f in by_kind(after, "outside_parent"):
        if f.measure["area_m2"] > old_outside.get(f.codes, 0.0) + GROWTH_M2:
            blame(f.codes, "超出上级区域", "reach outside its parent")
    old_gaps = [_metric(f.geometry, crs) for f in by_kind(before, "gap")]
    old_gap = shapely.union_all(old_gaps) if old_gaps else shapely.Polygon()
    flagged = [_metric(f.geometry, crs) for f in before if f.rule in GEOMETRY_RULES and f.geometry is not None]
    for f in by_kind(after, "gap"):
        for piece in rules.noise_free(shapely.difference(_metric(f.geometry, crs), old_gap)):
            if piece.area > GROWTH_M2:
                touching = [codes[k] for k in changed if shapely.distance(new[k], piece) < DISTANCE_M]
                blame(touching, "造成空隙", f"open a gap of {piece.area:.2f} m²")
    old_split = {f.measure["building_id"] for f in before if f.rule == "building_split"}
    for f in after:
        if f.rule == "building_split" and f.measure["building_id"] not in old_split:
            blame(f.codes, f"分割建筑 {f.measure['building_id']}", f"split building {f.measure['building_id']}")
    if buildings is not None and len(buildings["id"]):
        _households_moved(old, new, codes, buildings, flagged, crs, blame)
    return blamed


def _households_moved(old, new, codes, buildings, flagged, crs, blame) -> None:
    """Blame the areas a building's point would leave or enter though it lay in no flagged piece."""
    points = geometries_from_wgs84(shapely.points(np.asarray(buildings["lon"]), np.asarray(buildings["lat"])), crs)
    free = np.ones(len(points), bool)
    if flagged:
        free = ~shapely.intersects(shapely.union_all(flagged), points)
    was, now = _place(old, points), _place(new, points)
    ids = np.asarray(buildings["id"])
    for k in np.flatnonzero(free & (was != now)):
        involved = [codes[x] for x in (was[k], now[k]) if x < len(codes)]
        blame(involved, f"移动建筑 {ids[k]} 的住户", f"move the households of building {ids[k]} to another area")


def _place(children, points) -> np.ndarray:
    """Index of the area holding each point (the lowest on a shared edge), ``len(children)`` for none."""
    p, c = shapely.STRtree(children).query(points, predicate="intersects")
    first = np.full(len(points), len(children))
    np.minimum.at(first, p, c)
    return first
