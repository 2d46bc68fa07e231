"""Voronoi cells of building points covering a parent, and which cells are neighbours (for :mod:`boundaries.suggest`).

Each node (a building point) gets the Voronoi cell of its point and, when footprints are given, of points sampled
along its footprint's outline (so a cell holds the whole footprint where it can); the cells are computed in the
local plane of :mod:`geo.plane` (where the rules measure), clipped to the parent there and brought back to WGS84,
so they cover the parent exactly with shared edges (``shapely.coverage_is_valid``). A piece of a cell cut off from
its node's point (a concave parent, a wrapped footprint) goes to the neighbour that shares the longest boundary
with it. Two nodes are neighbours when their cells share a boundary of positive length; the pair is *across a
barrier* when the segment between their points crosses a barrier line.
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.crs import geometries_from_wgs84, geometries_to_wgs84, to_wgs84_keeping

__all__ = ["FOOTPRINT_STEP_M", "polygonal", "building_cells", "cell_adjacency"]

#: Shared boundary (degrees) below which two cells only touch (a point, or floating-point noise).
_TOUCH = 1e-9
#: Spacing (m) of the points sampled along a footprint's outline.
FOOTPRINT_STEP_M = 8.0


def polygonal(geom) -> shapely.Geometry:
    """The polygons of ``geom``: one Polygon, a MultiPolygon, or an empty Polygon."""
    polys = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty]
    polys = [q for p in polys for q in shapely.get_parts(p)]
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys) if polys else shapely.Polygon()


def _generators(points_m, footprints_m, parent_m):
    """Voronoi generators: each node's point, then points along its footprint outline (not inside another's)."""
    gens, owner = [points_m], [np.arange(len(points_m))]
    if footprints_m is not None:
        outline = shapely.segmentize(shapely.boundary(footprints_m), FOOTPRINT_STEP_M)
        coords, which = shapely.get_coordinates(outline, return_index=True)
        samples = shapely.points(coords)
        keep = shapely.covers(parent_m, samples)
        tree = shapely.STRtree(footprints_m)
        s, f = tree.query(samples, predicate="within")
        keep[s[which[s] != f]] = False  # a sample inside another building's footprint would interleave the cells
        gens.append(samples[keep])
        owner.append(which[keep])
    gens, owner = np.concatenate(gens), np.concatenate(owner)
    _, first = np.unique(np.round(shapely.get_coordinates(gens), 3), axis=0, return_index=True)
    first = np.sort(first)  # node points come first, so a sample on a node's point never replaces it
    return gens[first], owner[first]


def building_cells(parent, points, footprints, crs, n) -> np.ndarray:
    """Each node's cell (WGS84), clipped to the parent; the cells cover it with shared edges.

    ``points`` and ``footprints`` (one per node, or None) are in ``crs`` (a local plane); ``parent`` is WGS84.
    """
    parent_m = geometries_from_wgs84(np.array([parent], dtype=object), crs)[0]
    gens, owner = _generators(points, footprints, parent_m)
    if len(gens) == 1:
        return np.array([parent], dtype=object)
    frame = shapely.envelope(parent_m).buffer(100.0)
    raw = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(gens), extend_to=frame, ordered=True))
    clipped = _to_wgs84(shapely.intersection(raw, parent_m), parent_m, parent, crs)
    cells = np.empty(n, dtype=object)
    for node in range(n):
        mine = clipped[owner == node]
        cells[node] = polygonal(shapely.union_all(mine) if len(mine) > 1 else mine[0])
    return _repair(cells, geometries_to_wgs84(points, crs))


def _to_wgs84(geoms, parent_m, parent, crs) -> np.ndarray:
    """Metric cells back to WGS84, the parent's own vertices to their exact input coordinates.

    The cells are clipped in the local plane, an affine map of longitude and latitude, so a vertex on a parent edge
    stays on it in WGS84 up to rounding; shared vertices transform alike, so neighbours keep sharing them.
    """
    lookup = dict(zip(map(tuple, shapely.get_coordinates(parent_m).tolist()),
                      map(tuple, shapely.get_coordinates(parent).tolist()), strict=True))  # fmt: skip

    convert = to_wgs84_keeping(lookup, crs)
    return np.array([shapely.transform(g, convert) for g in geoms], dtype=object)


def _repair(cells, points) -> np.ndarray:
    """Keep each cell's part that holds its point; other parts go to the neighbour sharing most boundary."""
    orphans = []
    for i, cell in enumerate(cells):
        parts = shapely.get_parts(cell)
        if len(parts) > 1:
            keep = int(np.argmin(shapely.distance(parts, points[i])))
            cells[i] = parts[keep]
            orphans += [p for k, p in enumerate(parts) if k != keep]
    pending = sorted(orphans, key=lambda p: -p.area)
    while pending:
        left = []
        tree = shapely.STRtree(cells)
        for piece in pending:
            near = tree.query(piece, predicate="intersects")
            shared = shapely.length(shapely.intersection(shapely.boundary(cells[near]), piece.boundary))
            if len(near) and shared.max() > _TOUCH:
                k = near[int(np.argmax(shared))]
                cells[k] = polygonal(shapely.coverage_union_all(np.array([cells[k], piece], dtype=object)))
            else:
                left.append(piece)
        if len(left) == len(pending):  # touching nothing but at points: the nearest cell takes it
            for piece in left:
                k = int(np.argmin(shapely.distance(cells, piece)))
                cells[k] = polygonal(shapely.union_all([cells[k], piece]))
            break
        pending = left
    return cells


def cell_adjacency(cells, points_m, barriers_m) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of nodes whose cells share a boundary, and whether the segment between them crosses a barrier."""
    if len(cells) < 2:
        return np.empty((0, 2), dtype=int), np.empty(0, dtype=bool)
    i, j = shapely.STRtree(cells).query(cells, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(cells[i]), shapely.boundary(cells[j])))
    keep = shared > _TOUCH
    edges = np.column_stack([i[keep], j[keep]])
    barrier = np.zeros(len(edges), dtype=bool)
    if barriers_m is not None and len(barriers_m) and len(edges):
        xy = shapely.get_coordinates(points_m)
        segments = shapely.linestrings(np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], axis=1))
        e, _ = shapely.STRtree(barriers_m).query(segments, predicate="intersects")
        barrier[np.unique(e)] = True
    return edges, barrier
