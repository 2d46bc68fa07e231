"""Locate points in polygons: which area of one level contains each point.

:class:`PolygonIndex` answers millions of points per second. It lays a regular grid of cells over the
polygons (about ``cells_per_polygon`` cells per polygon) and classifies every cell once:

* a **pure** cell has no polygon edge touching it, so every point in it shares one answer; pure cells are
  grouped into connected components and one representative point per component is located exactly with GEOS;
* a **mixed** cell keeps the list of edge pieces that touch it and a reference point whose containing polygon
  is known exactly. A query point in a mixed cell is answered by counting, per polygon, how many of those
  edges the segment from the point to the reference point crosses (a crossing-number test over only the edges
  in that cell, vectorised in numpy): the point is inside a polygon when the reference's status flips an odd
  number of times.

Points that need judgement go to GEOS: points within ``1e-6`` cell of an edge (on a boundary), points in more
than one polygon (overlaps), and cells where polygons overlap. Answers follow these rules:

* ``index[i] >= 0``: the one polygon whose interior contains the point;
* a point on a boundary shared by several polygons (and in no interior) goes to the **lowest polygon index**
  that covers it, and ``on_boundary[i]`` is set; callers order polygons by code so this is deterministic;
* ``OUTSIDE`` (-1): in no polygon (a gap, or outside them all);
* ``AMBIGUOUS`` (-2): inside two or more polygons (an overlap); ``ambiguous[i]`` lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from scipy import ndimage

from geo.errors import GeometryTypeError

__all__ = ["OUTSIDE", "AMBIGUOUS", "LocateResult", "PolygonIndex", "locate_exact"]

OUTSIDE = -1
AMBIGUOUS = -2

_FALLBACK = -2  # cell code: answer with GEOS
_MIXED0 = -3  # cell code for mixed cell k is -3 - k
_NEAR = 1e-6  # in cell units: closer than this to an edge goes to GEOS
_REF_CLEARANCE = 1e-3  # a reference point must be this far from every edge (cell units)
_REF_OFFSETS = ((0.5, 0.5), (0.3137, 0.7291), (0.7713, 0.1927), (0.1411, 0.2683))
_CHUNK = 2_000_000


@dataclass
class LocateResult:
    """Result of locating points: see the module docstring for the meaning of each field."""

    index: np.ndarray
    on_boundary: np.ndarray
    ambiguous: dict[int, np.ndarray] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of points that were found, outside and ambiguous."""
        return {
            "ok": int((self.index >= 0).sum()),
            "outside": int((self.index == OUTSIDE).sum()),
            "ambiguous": int((self.index == AMBIGUOUS).sum()),
        }


def _polygons(geoms) -> np.ndarray:
    geoms = np.asarray(geoms, dtype=object)
    if geoms.ndim != 1:
        geoms = geoms.ravel()
    types = shapely.get_type_id(geoms)
    bad = ~np.isin(types, (3, 6)) | shapely.is_empty(geoms)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GeometryTypeError(f"polygon {i} is not a non-empty Polygon or MultiPolygon")
    return geoms


def locate_exact(polygons, x, y, tree: shapely.STRtree | None = None) -> LocateResult:
    """Locate points with GEOS only (the reference rules; slower than :class:`PolygonIndex`).

    Parameters
    ----------
    polygons : array_like of shapely Polygon or MultiPolygon
    x, y : array_like of float
    tree : shapely.STRtree, optional
        A tree over ``polygons`` to reuse.

    Returns
    -------
    LocateResult
    """
    polygons = _polygons(polygons)
    x = np.asarray(x, dtype="float64").ravel()
    y = np.asarray(y, dtype="float64").ravel()
    tree = tree if tree is not None else shapely.STRtree(polygons)
    index = np.full(len(x), OUTSIDE, dtype="int64")
    on_boundary = np.zeros(len(x), dtype=bool)
    ambiguous: dict[int, np.ndarray] = {}
    if len(x) == 0:
        return LocateResult(index, on_boundary, ambiguous)
    points = shapely.points(x, y)
    pt, poly = tree.query(points, predicate="intersects")
    if len(pt) == 0:
        return LocateResult(index, on_boundary, ambiguous)
    inside = shapely.contains_xy(polygons[poly], x[pt], y[pt])
    n_inside = np.bincount(pt[inside], minlength=len(x))
    one = n_inside == 1
    index[pt[inside & one[pt]]] = poly[inside & one[pt]]
    many = np.flatnonzero(n_inside >= 2)
    if len(many):
        index[many] = AMBIGUOUS
        sel = inside & (n_inside[pt] >= 2)
        order = np.lexsort((poly[sel], pt[sel]))
        p_sorted, q_sorted = pt[sel][order], poly[sel][order]
        starts = np.flatnonzero(np.r_[True, p_sorted[1:] != p_sorted[:-1]])
        for s, e in zip(starts, np.r_[starts[1:], len(p_sorted)], strict=True):
            ambiguous[int(p_sorted[s])] = q_sorted[s:e]
    edge = (n_inside[pt] == 0) & ~inside
    if edge.any():
        lowest = np.full(len(x), np.iinfo("int64").max)
        np.minimum.at(lowest, pt[edge], poly[edge])
        hit = lowest != np.iinfo("int64").max
        index[hit] = lowest[hit]
        on_boundary[hit] = True
    return LocateResult(index, on_boundary, ambiguous)


class PolygonIndex:
    """A grid index over polygons for fast, exact point location.

    Parameters
    ----------
    polygons : array_like of shapely Polygon or MultiPolygon
        The areas of one level, in one planar coordinate system (lon/lat degrees are fine: the test is planar,
        as GEOS's is).
    cells_per_polygon : float, default 256
        Grid density. More cells make more points pure (fast) at the cost of memory and build time.
    max_cells : int, default 2**26
        Upper bound on the number of grid cells (4 bytes each).

    Examples
    --------
    >>> from shapely import box
    >>> index = PolygonIndex([box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> index.locate([0.5, 1.5, 3.0], [0.5, 0.5, 0.5]).index.tolist()
    [0, 1, -1]
    """

    def __init__(self, polygons, cells_per_polygon: float = 256, max_cells: int = 2**26):
        self.polygons = _polygons(polygons)
        self.tree = shapely.STRtree(self.polygons)
        n = len(self.polygons)
        minx, miny, maxx, maxy = shapely.total_bounds(self.polygons) if n else (0.0, 0.0, 1.0, 1.0)
        width, height = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        cell = np.sqrt(width * height / max(n * cells_per_polygon, 1))
        cell = max(cell, np.sqrt(width * height / max_cells), width / 2**15, height / 2**15)
        self.origin = (float(minx), float(miny))
        self.cell = float(cell)
        self.nx = int(width // cell) + 1
        self.ny = int(height // cell) + 1
        self._build()

    # -- build -------------------------------------------------------------------------------------
    def _to_cells(self, x, y):
        return (np.asarray(x, dtype="float64") - self.origin[0]) / self.cell, (
            np.asarray(y, dtype="float64") - self.origin[1]
        ) / self.cell

    def _edge_pieces(self):
        parts, part_poly = shapely.get_parts(self.polygons, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        u, v = self._to_cells(coords[:, 0], coords[:, 1])
        same = coord_ring[1:] == coord_ring[:-1]
        ax, ay, bx, by = u[:-1][same], v[:-1][same], u[1:][same], v[1:][same]
        poly = part_poly[ring_part[coord_ring[:-1][same]]]
        # Split edges into pieces no longer than one cell so each touches at most a 3x3 block of cells.
        k = np.maximum(np.ceil(np.maximum(np.abs(bx - ax), np.abs(by - ay))).astype("int64"), 1)
        seg = np.repeat(np.arange(len(ax)), k)
        j = np.arange(len(seg)) - np.repeat(np.cumsum(k) - k, k)
        t0, t1 = j / k[seg], (j + 1) / k[seg]
        last = j + 1 == k[seg]
        dx, dy = bx - ax, by - ay
        px0, py0 = ax[seg] + dx[seg] * t0, ay[seg] + dy[seg] * t0
        px1 = np.where(last, bx[seg], ax[seg] + dx[seg] * t1)
        py1 = np.where(last, by[seg], ay[seg] + dy[seg] * t1)
        return px0, py0, px1, py1, poly[seg].astype("int32")

    def _cell_pairs(self, ax, ay, bx, by):
        """(cell id, piece id) for every cell whose closed square a piece touches (conservatively)."""
        tol = 1e-7
        cells, pieces = [], []
        for start in range(0, len(ax), _CHUNK // 4):
            sl = slice(start, start + _CHUNK // 4)
            x0 = np.clip(np.floor(np.minimum(ax[sl], bx[sl]) - tol), 0, self.nx - 1).astype("int64")
            x1 = np.clip(np.floor(np.maximum(ax[sl], bx[sl]) + tol), 0, self.nx - 1).astype("int64")
            y0 = np.clip(np.floor(np.minimum(ay[sl], by[sl]) - tol), 0, self.ny - 1).astype("int64")
            y1 = np.clip(np.floor(np.maximum(ay[sl], by[sl]) + tol), 0, self.ny - 1).astype("int64")
            cx, cy = x1 - x0 + 1, y1 - y0 + 1
            m = cx * cy
            piece = np.repeat(np.arange(start, start + len(m)), m)
            local = np.arange(len(piece)) - np.repeat(np.cumsum(m) - m, m)
            r = piece - start
            ix = x0[r] + local % cx[r]
            iy = y0[r] + local // cx[r]
            # Separating-axis test: the segment misses the square iff all four corners lie strictly on one side.
            ex, ey = bx[piece] - ax[piece], by[piece] - ay[piece]
            ox, oy = ix - ax[piece], iy - ay[piece]
            s00 = ex * oy - ey * ox
            s10 = s00 - ey
            s01 = s00 + ex
            s11 = s00 + ex - ey
            scale = tol * (np.abs(ex) + np.abs(ey))
            lo = np.minimum(np.minimum(s00, s10), np.minimum(s01, s11))
            hi = np.maximum(np.maximum(s00, s10), np.maximum(s01, s11))
            hit = (lo <= scale) & (hi >= -scale)
            cells.append(iy[hit] * self.nx + ix[hit])
            pieces.append(piece[hit].astype("int32"))
        if not cells:
            return np.empty(0, "int64"), np.empty(0, "int32")
        return np.concatenate(cells), np.concatenate(pieces)

    def _build(self):
        ax, ay, bx, by, poly = self._edge_pieces()
        self._ax, self._ay, self._bx, self._by, self._piece_poly = ax, ay, bx, by, poly
        cell_ids, piece_ids = self._cell_pairs(ax, ay, bx, by)
        order = np.argsort(cell_ids, kind="stable")
        cell_ids, piece_ids = cell_ids[order], piece_ids[order]
        mixed, start = np.unique(cell_ids, return_index=True)
        self._ptr = np.r_[start, len(cell_ids)].astype("int64")
        self._pair_piece = piece_ids
        code = np.empty(self.nx * self.ny, dtype="int32")
        self._label_pure_cells(mixed, code)
        self._set_references(mixed, code)
        self._code = code

    def _exact_single(self, x, y):
        """Exact answer for points known to be off every edge: polygon, OUTSIDE, or _FALLBACK if several."""
        result = locate_exact(self.polygons, x, y, self.tree)
        return np.where(result.index == AMBIGUOUS, _FALLBACK, result.index)

    def _label_pure_cells(self, mixed, code):
        pure = np.ones(self.nx * self.ny, dtype=bool)
        pure[mixed] = False
        labels, n_components = ndimage.label(pure.reshape(self.ny, self.nx))
        labels = labels.ravel()
        comp, first = np.unique(labels, return_index=True)
        keep = comp > 0
        comp, first = comp[keep], first[keep]
        cx = self.origin[0] + (first % self.nx + 0.5) * self.cell
        cy = self.origin[1] + (first // self.nx + 0.5) * self.cell
        comp_code = np.full(n_components + 1, _FALLBACK, dtype="int32")
        comp_code[comp] = self._exact_single(cx, cy)
        code[:] = comp_code[labels]

    def _set_references(self, mixed, code):
        n = len(mixed)
        ref_u = np.full(n, np.nan)
        ref_v = np.full(n, np.nan)
        cell_of_pair = np.repeat(np.arange(n), np.diff(self._ptr))
        piece = self._pair_piece
        ix, iy = mixed % self.nx, mixed // self.nx
        for ou, ov in _REF_OFFSETS:
            todo = np.isnan(ref_u)
            if not todo.any():
                break
            ru, rv = ix + ou, iy + ov
            sel = todo[cell_of_pair]
            d = _segment_distance(
                ru[cell_of_pair[sel]],
                rv[cell_of_pair[sel]],
                self._ax[piece[sel]],
                self._ay[piece[sel]],
                self._bx[piece[sel]],
                self._by[piece[sel]],
            )
            clear = np.ones(n, dtype=bool)
            np.logical_and.at(clear, cell_of_pair[sel], d >= _REF_CLEARANCE)
            ok = todo & clear
            ref_u[ok], ref_v[ok] = ru[ok], rv[ok]
        ref_poly = np.full(n, _FALLBACK, dtype="int32")
        found = ~np.isnan(ref_u)
        ref_poly[found] = self._exact_single(
            self.origin[0] + ref_u[found] * self.cell, self.origin[1] + ref_v[found] * self.cell
        )
        self._ref_u, self._ref_v, self._ref_poly = ref_u, ref_v, ref_poly
        code[mixed] = np.where(ref_poly == _FALLBACK, _FALLBACK, _MIXED0 - np.arange(n)).astype("int32")

    # -- query -------------------------------------------------------------------------------------
    @property
    def memory_bytes(self) -> int:
        """Approximate memory held by the index arrays."""
        arrays = (
            self._code,
            self._ptr,
            self._pair_piece,
            self._ax,
            self._ay,
            self._bx,
            self._by,
            self._piece_poly,
            self._ref_u,
            self._ref_v,
            self._ref_poly,
        )
        return int(sum(a.nbytes for a in arrays))

    def locate(self, x, y) -> LocateResult:
        """Locate points given as coordinate arrays in the polygons' coordinate system.

        Parameters
        ----------
        x, y : array_like of float
            Finite coordinates (check them first: NaN is reported as outside).

        Returns
        -------
        LocateResult
        """
        x = np.asarray(x, dtype="float64").ravel()
        y = np.asarray(y, dtype="float64").ravel()
        index = np.full(len(x), OUTSIDE, dtype="int64")
        on_boundary = np.zeros(len(x), dtype=bool)
        ambiguous: dict[int, np.ndarray] = {}
        for start in range(0, len(x), _CHUNK):
            sl = slice(start, start + _CHUNK)
            part = self._locate_chunk(x[sl], y[sl])
            index[sl] = part.index
            on_boundary[sl] = part.on_boundary
            ambiguous.update({start + k: v for k, v in part.ambiguous.items()})
        return LocateResult(index, on_boundary, ambiguous)

    def _locate_chunk(self, x, y) -> LocateResult:
        u, v = self._to_cells(x, y)
        ix, iy = np.floor(u), np.floor(v)
        inside_grid = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        code = np.full(len(x), OUTSIDE, dtype="int64")
        cell = (iy[inside_grid] * self.nx + ix[inside_grid]).astype("int64")
        code[inside_grid] = self._code[cell]
        index = np.where(code >= OUTSIDE, code, OUTSIDE)
        exact = code == _FALLBACK
        mixed = np.flatnonzero(code <= _MIXED0)
        if len(mixed):
            answer = self._crossing(mixed, u[mixed], v[mixed], _MIXED0 - code[mixed])
            index[mixed] = answer
            exact[mixed[answer == _FALLBACK]] = True
        on_boundary = np.zeros(len(x), dtype=bool)
        ambiguous: dict[int, np.ndarray] = {}
        todo = np.flatnonzero(exact)
        if len(todo):
            sub = locate_exact(self.polygons, x[todo], y[todo], self.tree)
            index[todo] = sub.index
            on_boundary[todo] = sub.on_boundary
            ambiguous = {int(todo[k]): v for k, v in sub.ambiguous.items()}
        return LocateResult(index, on_boundary, ambiguous)

    def _crossing(self, points, u, v, k):
        """Crossing-number answer for points in mixed cells ``k``; _FALLBACK where GEOS must decide."""
        m = len(points)
        counts = self._ptr[k + 1] - self._ptr[k]
        owner = np.repeat(np.arange(m), counts)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
        piece = self._pair_piece[self._ptr[k][owner] + offset]
        px, py = u[owner], v[owner]
        ax, ay, bx, by = self._ax[piece], self._ay[piece], self._bx[piece], self._by[piece]
        near = _segment_distance(px, py, ax, ay, bx, by) < _NEAR
        rx, ry = self._ref_u[k][owner], self._ref_v[k][owner]
        dx, dy = rx - px, ry - py
        side_a = dx * (ay - py) - dy * (ax - px) > 0
        side_b = dx * (by - py) - dy * (bx - px) > 0
        ex, ey = bx - ax, by - ay
        side_p = ex * (py - ay) - ey * (px - ax) > 0
        side_r = ex * (ry - ay) - ey * (rx - ax) > 0
        crosses = (side_a != side_b) & (side_p != side_r)
        n_poly = np.int64(len(self.polygons))
        ref = self._ref_poly[k]
        has_ref = np.flatnonzero(ref >= 0)
        keys = np.concatenate(
            [owner[crosses] * n_poly + self._piece_poly[piece[crosses]], has_ref * n_poly + ref[has_ref]]
        )
        keys, times = np.unique(keys, return_counts=True)
        odd = keys[times % 2 == 1]
        point_of, poly_of = odd // n_poly, odd % n_poly
        n_in = np.bincount(point_of, minlength=m)
        answer = np.full(m, OUTSIDE, dtype="int64")
        single = n_in[point_of] == 1
        answer[point_of[single]] = poly_of[single]
        answer[n_in >= 2] = _FALLBACK
        is_near = np.zeros(m, dtype=bool)
        is_near[owner[near]] = True
        answer[is_near] = _FALLBACK
        return answer


def _segment_distance(px, py, ax, ay, bx, by):
    ex, ey = bx - ax, by - ay
    length2 = ex * ex + ey * ey
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(length2 > 0, ((px - ax) * ex + (py - ay) * ey) / length2, 0.0)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(px - (ax + t * ex), py - (ay + t * ey))
