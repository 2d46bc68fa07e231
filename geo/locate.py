"""Locate points in polygons: which area of one level contains each point.

:class:`PolygonIndex` answers millions of points per second. It lays a regular grid of cells over the
polygons, sized by their number of edges (a few detailed outlines get as fine a grid as many simple shapes),
and classifies every cell once, with no GEOS call:

* every grid **corner** is labelled by a scanline: along each horizontal grid line the crossings of each
  polygon's edges, sorted left to right, alternate in and out (half-open rule at vertices), so a cumulative
  count tells which polygon the line is inside at every corner;
* a **pure** cell has no polygon edge touching it, so every point in it shares its corner's answer;
* a **mixed** cell keeps the list of edges that touch it, sorted by polygon, and a reference corner clear of
  them. A query point in a mixed cell is answered by counting, per polygon, how many of those edges the
  segment from the point to the reference corner crosses (a crossing-number test over only the edges in that
  cell, vectorised in numpy): the point is inside a polygon when the reference's status flips an odd number
  of times.

The arrays of a built index can be saved and memory-mapped again (``geo.index_files``).

Points that need judgement go to GEOS (``geo.exact``; a loaded index may fetch just those outlines lazily):
points within ``1e-6`` cell of an edge (on a boundary), points in more than one polygon (overlaps), and cells
where polygons overlap. Answers follow these rules:

* ``index[i] >= 0``: the one polygon whose interior contains the point;
* a point on a boundary shared by several polygons (and in no interior) goes to the **lowest polygon index**
  that covers it, and ``on_boundary[i]`` is set; callers order polygons by code so this is deterministic;
* ``OUTSIDE`` (-1): in no polygon (a gap, or outside them all);
* ``AMBIGUOUS`` (-2): inside two or more polygons (an overlap); ``ambiguous[i]`` lists them all.
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.exact import AMBIGUOUS, OUTSIDE, LazyPolygons, LocateResult, locate_exact
from geo.exact import polygons_array as _polygons
from geo.scanline import FALLBACK as _FALLBACK
from geo.scanline import cell_pairs, corner_labels, ranges

__all__ = ["OUTSIDE", "AMBIGUOUS", "LazyPolygons", "LocateResult", "PolygonIndex", "locate_exact"]

_MIXED0 = -3  # cell code for mixed cell k is -3 - k
_NEAR = 1e-6  # in cell units: closer than this to an edge goes to GEOS
_REF_CLEARANCE = 1e-3  # a reference point must be this far from every edge (cell units)
_CHUNK = 2_000_000
_LINE_LEFT = 4  # _ref of a line cell (see PolygonIndex._find_line_cells)
_MAX_EDGE = 8.0  # cells: longer edges are cut, so an edge touches at most a 10x10 block of cells


class PolygonIndex:
    """A grid index over polygons for fast, exact point location.

    The grid is sized by the number of polygon edges (``cells_per_edge`` cells per edge), so a few polygons
    with detailed outlines get as fine a grid as many simple ones, and memory stays proportional to the edges.
    Building needs no GEOS call: every grid corner is labelled by a scanline over the horizontal grid lines
    (the polygons an edge crossing toggles, counted left to right), so a pure cell takes the label of its
    corner and a mixed cell uses one of its corners, clear of every edge in the cell, as the reference of the
    crossing-number test. The arrays (:attr:`arrays`) can be saved and loaded again without rebuilding.

    Parameters
    ----------
    polygons : array_like of shapely Polygon or MultiPolygon
        The areas of one level, in one planar coordinate system (lon/lat degrees are fine: the test is planar,
        as GEOS's is).
    cells_per_edge : float, default 3
        Grid density per polygon edge. More cells make more points pure (fast) at the cost of memory.
    cells_per_polygon : float, optional
        A lower bound on the density, in cells per polygon (for a handful of simple polygons).
    max_cells : int, default 2**25
        Upper bound on the number of grid cells (4 bytes each).
    cell : float, optional
        The cell size in the polygons' units, instead of one derived from the density (within ``max_cells``).

    Examples
    --------
    >>> from shapely import box
    >>> index = PolygonIndex([box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> index.locate([0.5, 1.5, 3.0], [0.5, 0.5, 0.5]).index.tolist()
    [0, 1, -1]
    """

    #: Names of the arrays that make up a built index (see :meth:`from_arrays`).
    ARRAY_NAMES = ("grid", "uv", "ring_start", "ring_poly", "ptr", "pair_vertex", "ref", "ref_poly", "other_poly")

    def __init__(
        self,
        polygons,
        cells_per_edge: float = 3.0,
        cells_per_polygon: float | None = None,
        max_cells: int = 2**25,
        cell: float | None = None,
    ):
        self.polygons = _polygons(polygons)
        self._tree = None
        n = len(self.polygons)
        minx, miny, maxx, maxy = shapely.total_bounds(self.polygons) if n else (0.0, 0.0, 1.0, 1.0)
        width, height = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        edges = int(shapely.get_num_coordinates(self.polygons).sum()) if n else 0
        wanted = max(edges * cells_per_edge, n * (cells_per_polygon or 0), 1)
        cell = cell or np.sqrt(width * height / min(wanted, max_cells))
        cell = max(cell, width / 2**15, height / 2**15, np.sqrt(width * height / max_cells))
        self.origin = (float(minx), float(miny))
        self.cell = float(cell)
        self.nx = int(width // cell) + 1
        self.ny = int(height // cell) + 1
        self._build()

    @classmethod
    def from_arrays(cls, polygons, origin, cell: float, shape, arrays: dict) -> PolygonIndex:
        """An index over ``polygons`` from the arrays of one built before (no rebuilding).

        Parameters
        ----------
        polygons : array_like of shapely Polygon or MultiPolygon, or LazyPolygons
            The same polygons, in the same order, as the index was built on (lazily fetched ones are read only
            for the points GEOS must decide).
        origin : (float, float)
            :attr:`origin` of the built index.
        cell : float
            :attr:`cell` of the built index.
        shape : (int, int)
            ``(nx, ny)`` of the built index.
        arrays : dict of numpy.ndarray
            :attr:`arrays` of the built index (memory-mapped arrays are used as they are).

        Returns
        -------
        PolygonIndex
        """
        self = cls.__new__(cls)
        self.polygons = _polygons(polygons)
        self._tree = None
        self.origin = (float(origin[0]), float(origin[1]))
        self.cell = float(cell)
        self.nx, self.ny = int(shape[0]), int(shape[1])
        missing = set(cls.ARRAY_NAMES) - set(arrays)
        if missing:
            raise ValueError(f"index arrays missing: {sorted(missing)}")
        for name in cls.ARRAY_NAMES:
            setattr(self, f"_{name}", arrays[name])
        if len(self._grid) != self.nx * self.ny:
            raise ValueError("index arrays do not match the grid shape")
        if isinstance(self.polygons, LazyPolygons) and self.polygons.bounds_source is None:
            self.polygons.bounds_source = self.polygon_bounds
        return self

    def polygon_bounds(self) -> np.ndarray:
        """``(n, 4)`` bounding boxes of the polygons from the index's own edges, widened by a hair (1e-9 cell)."""
        n = len(self.polygons)
        uv = np.asarray(self._uv)
        lo = np.full((n, 2), np.inf)
        hi = np.full((n, 2), -np.inf)
        if len(self._ring_start):
            np.minimum.at(lo, self._ring_poly, np.minimum.reduceat(uv, self._ring_start, axis=0))
            np.maximum.at(hi, self._ring_poly, np.maximum.reduceat(uv, self._ring_start, axis=0))
        origin = np.asarray(self.origin)
        return np.hstack([(lo - 1e-9) * self.cell + origin, (hi + 1e-9) * self.cell + origin])

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays of the built index, by name (with :attr:`origin`, :attr:`cell`, ``nx`` and ``ny``)."""
        return {name: getattr(self, f"_{name}") for name in self.ARRAY_NAMES}

    @property
    def tree(self) -> shapely.STRtree | None:
        """An STRtree over the polygons, for the points GEOS decides (built on first use; none when lazy)."""
        if self._tree is None and not isinstance(self.polygons, LazyPolygons):
            self._tree = shapely.STRtree(self.polygons)
        return self._tree

    def outline(self, i: int) -> shapely.MultiLineString:
        """The rings of polygon ``i`` from the index's own edges (no outline fetched), in its coordinates.

        Vertices go through cell units and back, so they equal the polygon's to within rounding (1e-15
        relative); long edges are split into collinear pieces.
        """
        first = int(np.searchsorted(self._ring_poly, i, side="left"))
        stop = int(np.searchsorted(self._ring_poly, i, side="right"))
        if first == stop:
            raise IndexError(f"no polygon {i} in the index")
        starts = self._ring_start
        lines = []
        for r in range(first, stop):
            end = int(starts[r + 1]) if r + 1 < len(starts) else len(self._uv)
            uv = np.asarray(self._uv[int(starts[r]) : end])
            lines.append(uv * self.cell + self.origin)
        return shapely.multilinestrings([shapely.linestrings(c) for c in lines])

    # -- build -------------------------------------------------------------------------------------
    def _to_cells(self, x, y):
        return (np.asarray(x, dtype="float64") - self.origin[0]) / self.cell, (
            np.asarray(y, dtype="float64") - self.origin[1]
        ) / self.cell

    def _vertices(self):
        """Ring vertices in cell units, long edges cut so no edge is longer than ``_MAX_EDGE`` cells.

        Returns ``u, v``, the polygon of each vertex (``-1`` for the last vertex of a ring, where no edge
        starts: the edges are ``(i, i + 1)`` for every ``i`` with a polygon) and the side of each edge's ring:
        ``+1`` when the polygon lies left of the ring's direction (a counter-clockwise exterior or a clockwise
        hole), ``-1`` otherwise.
        """
        parts, part_poly = shapely.get_parts(self.polygons, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        exterior = np.r_[True, ring_part[1:] != ring_part[:-1]] if len(rings) else np.zeros(0, bool)
        ring_side = np.where(shapely.is_ccw(rings) == exterior, 1, -1).astype("int8")
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        u, v = self._to_cells(coords[:, 0], coords[:, 1])
        del coords
        has_edge = np.r_[coord_ring[1:] == coord_ring[:-1], False]
        poly = np.where(has_edge, part_poly[ring_part[coord_ring]], -1).astype("int32")
        side = ring_side[coord_ring]
        nu, nv = np.r_[u[1:], 0.0], np.r_[v[1:], 0.0]
        k = np.where(has_edge, np.ceil(np.maximum(np.abs(nu - u), np.abs(nv - v)) / _MAX_EDGE), 1)
        k = np.maximum(k, 1).astype("int64")
        if (k == 1).all():
            return u, v, poly, side
        src = np.repeat(np.arange(len(u)), k)
        t = (np.arange(len(src)) - np.repeat(np.cumsum(k) - k, k)) / k[src]
        return u[src] + (nu - u)[src] * t, v[src] + (nv - v)[src] * t, poly[src], side[src]

    def _build(self):
        u, v, poly, side = self._vertices()
        corners = corner_labels(u, v, poly, side, self.nx, self.ny)
        del side
        self._uv = np.column_stack([u, v])
        # the polygon of an edge, by its ring: rings are runs of vertices (poly -1 marks a ring's last vertex)
        ends = np.flatnonzero(poly < 0)
        self._ring_start = np.r_[0, ends[:-1] + 1].astype("int64")
        self._ring_poly = poly[self._ring_start].astype("int32")
        cell_ids, edge_ids = cell_pairs(u, v, poly, self.nx, self.ny)
        # pairs grouped by cell, and inside a cell by polygon (the query counts crossings per polygon in runs)
        order = np.argsort(cell_ids * np.int64(max(len(self.polygons), 1)) + poly[edge_ids])
        cell_ids, edge_ids = cell_ids[order], edge_ids[order]
        del order
        start = np.flatnonzero(np.r_[True, cell_ids[1:] != cell_ids[:-1]]) if len(cell_ids) else np.empty(0, "int64")
        mixed = cell_ids[start]
        del cell_ids
        self._ptr = np.r_[start, len(edge_ids)].astype("int32" if len(edge_ids) < 2**31 else "int64")
        # an edge that starts a run of one polygon's edges inside a cell is stored as ~edge (negative); the
        # first edge of every cell starts one
        run = np.ones(len(edge_ids), dtype=bool)
        if len(edge_ids):
            run[1:] = poly[edge_ids[1:]] != poly[edge_ids[:-1]]
            run[start] = True
        self._pair_vertex = np.where(run, ~edge_ids, edge_ids)
        cells = np.arange(self.nx * self.ny, dtype="int64")
        grid = corners[(cells // self.nx) * (self.nx + 1) + cells % self.nx]
        del cells
        self._set_references(mixed, grid, corners, edge_ids)
        self._grid = grid

    def _set_references(self, mixed, grid, corners, edge_ids):
        """For each mixed cell, a corner clear of every edge in the cell with a known label, or GEOS."""
        n = len(mixed)
        self._ref = np.full(n, -1, dtype="int8")
        self._ref_poly = np.full(n, _FALLBACK, dtype="int32")
        self._other_poly = np.full(n, _FALLBACK, dtype="int32")
        counts = np.diff(self._ptr).astype("int64")
        self._find_line_cells(mixed, corners, edge_ids, counts)
        ref, ref_poly = self._ref, self._ref_poly
        ix, iy = mixed % self.nx, mixed // self.nx
        for c in range(4):
            todo = np.flatnonzero(ref < 0)
            if not len(todo):
                break
            du, dv = c & 1, c >> 1
            label = corners[(iy[todo] + dv) * (self.nx + 1) + ix[todo] + du]
            cell_of_pair = np.repeat(np.arange(len(todo)), counts[todo])
            e = edge_ids[ranges(self._ptr[todo], counts[todo])]
            ax, ay = self._uv[e, 0], self._uv[e, 1]
            ex, ey = self._uv[e + 1, 0] - ax, self._uv[e + 1, 1] - ay
            # near the edge's line (a superset of near the edge: another corner is tried)
            cross = ex * ((iy[todo] + dv)[cell_of_pair] - ay) - ey * ((ix[todo] + du)[cell_of_pair] - ax)
            near = np.abs(cross) < _REF_CLEARANCE * (np.abs(ex) + np.abs(ey))
            blocked = np.bincount(cell_of_pair[near], minlength=len(todo)) > 0
            ok = ~blocked & (label != _FALLBACK)
            ref[todo[ok]], ref_poly[todo[ok]] = c, label[ok]
        grid[mixed] = np.where(ref < 0, _FALLBACK, _MIXED0 - np.arange(n)).astype("int32")
        # a line cell needs only its first edge: drop the second, collinear one
        line = np.flatnonzero((ref == _LINE_LEFT) & (counts == 2))
        if len(line):
            drop = np.zeros(len(self._pair_vertex), dtype=bool)
            drop[self._ptr[line].astype("int64") + 1] = True
            self._pair_vertex = self._pair_vertex[~drop]
            counts[line] = 1
            self._ptr = np.r_[0, np.cumsum(counts)].astype(self._ptr.dtype)

    def _find_line_cells(self, mixed, corners, edge_ids, counts):
        """Mark mixed cells whose edges all lie on one straight line (most: one edge shared by two areas).

        Such a line cuts the cell into two parts no edge enters, so a point's answer is the label of a clear
        corner on its side of the line: one cross product instead of a crossing-number test. ``_ref`` becomes
        ``_LINE_LEFT``, ``_ref_poly`` labels the left of the line (seen along its first edge) and
        ``_other_poly`` the right.
        """
        # cells of one edge, or of two on one line (an edge shared by two areas, or a long edge cut in two)
        rows = np.flatnonzero(counts <= 2)
        starts = self._ptr[rows].astype("int64")
        first = edge_ids[starts]
        a = self._uv[first]
        d = self._uv[first + 1] - a
        scale = np.abs(d).sum(axis=1)
        line = scale > 0
        two = np.flatnonzero(counts[rows] == 2)
        second = edge_ids[starts[two] + 1]
        tol = 1e-9 * scale[two] ** 2  # collinear to far below the 1e-6-cell margin that goes to GEOS
        for point in (self._uv[second] - a[two], self._uv[second + 1] - a[two]):
            line[two] &= np.abs(d[two, 0] * point[:, 1] - d[two, 1] * point[:, 0]) <= tol
        keep = np.flatnonzero(line)
        rows, a, d, scale = rows[keep], a[keep], d[keep], scale[keep]
        ix, iy = mixed[rows] % self.nx, mixed[rows] // self.nx
        left = np.full(len(rows), _FALLBACK, dtype="int32")
        right = np.full(len(rows), _FALLBACK, dtype="int32")
        for c in range(4):
            cu, cv = ix + (c & 1), iy + (c >> 1)
            side = d[:, 0] * (cv - a[:, 1]) - d[:, 1] * (cu - a[:, 0])
            label = corners[cv * (self.nx + 1) + cu]
            clear = (np.abs(side) >= _REF_CLEARANCE * scale) & (label != _FALLBACK)
            take = clear & (side > 0) & (left == _FALLBACK)
            left[take] = label[take]
            take = clear & (side < 0) & (right == _FALLBACK)
            right[take] = label[take]
        found = (left != _FALLBACK) & (right != _FALLBACK)
        rows = rows[found]
        self._ref[rows] = _LINE_LEFT
        self._ref_poly[rows] = left[found]
        self._other_poly[rows] = right[found]

    # -- query -------------------------------------------------------------------------------------
    @property
    def memory_bytes(self) -> int:
        """Memory held by the index arrays."""
        return int(sum(a.nbytes for a in self.arrays.values()))

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
        if len(x) == 1:  # one point (a request): a pure cell answers with no array arithmetic
            u, v = (float(x[0]) - self.origin[0]) / self.cell, (float(y[0]) - self.origin[1]) / self.cell
            if 0 <= u < self.nx and 0 <= v < self.ny:
                code = int(self._grid[int(v) * self.nx + int(u)])
                if code >= OUTSIDE:
                    return LocateResult(np.array([code], dtype="int64"), np.zeros(1, dtype=bool), {})
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
        code[inside_grid] = self._grid[cell]
        index = np.where(code >= OUTSIDE, code, OUTSIDE)
        exact = code == _FALLBACK
        mixed = np.flatnonzero(code <= _MIXED0)
        if len(mixed):
            k = _MIXED0 - code[mixed]
            line = self._ref[k] == _LINE_LEFT
            for sel, method in ((line, self._line_side), (~line, self._crossing)):
                points = mixed[sel]
                if len(points):
                    answer = method(u[points], v[points], k[sel])
                    index[points] = answer
                    exact[points[answer == _FALLBACK]] = True
        on_boundary = np.zeros(len(x), dtype=bool)
        ambiguous: dict[int, np.ndarray] = {}
        todo = np.flatnonzero(exact)
        if len(todo):
            sub = locate_exact(self.polygons, x[todo], y[todo], self.tree)
            index[todo] = sub.index
            on_boundary[todo] = sub.on_boundary
            ambiguous = {int(todo[k]): v for k, v in sub.ambiguous.items()}
        return LocateResult(index, on_boundary, ambiguous)

    def _line_side(self, u, v, k):
        """Answer for points in line cells ``k``: the label of their side of the line; _FALLBACK on the line."""
        pv = self._pair_vertex[self._ptr[k]]
        e = np.where(pv < 0, ~pv, pv)
        ax, ay = self._uv[e, 0], self._uv[e, 1]
        dx, dy = self._uv[e + 1, 0] - ax, self._uv[e + 1, 1] - ay
        side = dx * (v - ay) - dy * (u - ax)
        answer = np.where(side > 0, self._ref_poly[k], self._other_poly[k]).astype("int64")
        answer[np.abs(side) < _NEAR * (np.abs(dx) + np.abs(dy))] = _FALLBACK
        return answer

    def _crossing(self, u, v, k):
        """Crossing-number answer for points at ``u, v`` in mixed cells ``k``; _FALLBACK where GEOS must decide.

        The segment from the point to its cell's reference corner crosses edges of some polygons; the point is
        in a polygon when the reference's membership flips an odd number of times. A cell's edges are sorted
        by polygon, so the crossings of one polygon form a run and no sort is needed.
        """
        m = len(u)
        counts = (self._ptr[k + 1] - self._ptr[k]).astype("int64")
        owner = np.repeat(np.arange(m), counts)
        e = self._pair_vertex[ranges(self._ptr[k], counts)]
        run = np.flatnonzero(e < 0)
        e = np.where(e < 0, ~e, e)
        px, py = u[owner], v[owner]
        uv = self._uv
        edges = np.lib.stride_tricks.as_strided(
            uv, shape=(max(len(uv) - 1, 0), 4), strides=(uv.strides[0], uv.strides[1]), writeable=False
        )[e]
        ax, ay, bx, by = edges[:, 0], edges[:, 1], edges[:, 2], edges[:, 3]
        corner = self._ref[k].astype("int64")
        rx = (np.floor(u) + (corner & 1))[owner]
        ry = (np.floor(v) + (corner >> 1))[owner]
        ex, ey = bx - ax, by - ay
        cross_p = ex * (py - ay) - ey * (px - ax)
        # within _NEAR of the edge's line (|e|_1 >= |e|_2, so this flags every point that near the edge)
        near = np.abs(cross_p) < _NEAR * (np.abs(ex) + np.abs(ey))
        dx, dy = rx - px, ry - py
        crosses = ((dx * (ay - py) - dy * (ax - px) > 0) != (dx * (by - py) - dy * (bx - px) > 0)) & (
            (cross_p > 0) != (ex * (ry - ay) - ey * (rx - ax) > 0)
        )
        del px, py, ax, ay, bx, by, ex, ey, dx, dy, cross_p
        # odd runs: polygons whose boundary the segment crosses an odd number of times
        odd = np.add.reduceat(crosses.astype("int64"), run) % 2 == 1 if len(run) else np.zeros(0, bool)
        odd_edges = e[run[odd]]
        odd_owner = owner[run][odd]
        odd_poly = self._ring_poly[np.searchsorted(self._ring_start, odd_edges, side="right") - 1].astype("int64")
        ref = self._ref_poly[k].astype("int64")
        ref_flipped = odd_poly == ref[odd_owner]
        flipped = np.bincount(odd_owner[ref_flipped], minlength=m) > 0
        others = ~ref_flipped
        n_in = np.bincount(odd_owner[others], minlength=m) + ((ref >= 0) & ~flipped)
        total = np.bincount(odd_owner[others], weights=odd_poly[others], minlength=m).astype("int64")
        answer = np.where(n_in == 0, OUTSIDE, np.where((ref >= 0) & ~flipped, ref + total, total))
        answer[n_in >= 2] = _FALLBACK
        answer[np.bincount(owner[near], minlength=m) > 0] = _FALLBACK
        return answer
