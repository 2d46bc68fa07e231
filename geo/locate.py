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
  cell): the point is inside a polygon when the reference's status flips an odd number of times;
* a mixed cell whose edges lie on one straight line (most often one edge two areas share) is a **line cell**:
  one cross product tells the side, and each side has its label.

Building and querying run as compiled loops (``geo.kernels``, numba), one pass per edge or per point.

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

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import shapely

from geo import kernels
from geo.exact import AMBIGUOUS, OUTSIDE, LazyPolygons, LocateResult, locate_exact
from geo.exact import polygons_array as _polygons
from geo.index_check import check_arrays, check_grid
from geo.kernels import FALLBACK as _FALLBACK
from geo.kernels import MIXED0 as _MIXED0

__all__ = ["OUTSIDE", "AMBIGUOUS", "LazyPolygons", "LocateResult", "PolygonIndex", "locate_exact"]

_MAX_EDGE = 8.0  # cells: longer edges are cut, so an edge touches at most a 10x10 block of cells


def _rings(polygons):
    """The rings of ``polygons``: ``(xy, ring lengths, polygon of each ring, whether each ring is an exterior)``.

    Simple polygons (one ring each, the usual micro-grid) are read with one ``get_coordinates`` call, six times
    faster than the general path: every polygon's WKB walked by :func:`geo.kernels.wkb_rings`.
    """
    n = len(polygons)
    if n and (shapely.get_type_id(polygons) == 3).all() and not shapely.get_num_interior_rings(polygons).any():
        ring_len = shapely.get_num_coordinates(polygons).astype(np.int64)
        if ring_len.min() > 0:  # (an empty polygon has no ring at all)
            return shapely.get_coordinates(polygons), ring_len, np.arange(n, dtype=np.int32), np.ones(n, dtype=bool)
    wkb = shapely.to_wkb(polygons, output_dimension=2, byte_order=1, include_srid=False)
    starts = np.r_[0, np.cumsum(np.fromiter(map(len, wkb), dtype="int64", count=len(wkb)))]
    data = np.frombuffer(b"".join(wkb), dtype="uint8")
    del wkb
    coords, ring_len, ring_poly, exterior = kernels.wkb_rings(data, starts)
    return coords.view("float64").reshape(-1, 2), ring_len, ring_poly, exterior


def _beside(pool, fn, *args) -> Future:
    """``fn(*args)`` in the pool's thread, or here when no thread can start (the interpreter is shutting down)."""
    try:
        return pool.submit(fn, *args)
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        done = Future()
        done.set_result(fn(*args))
        return done


#: Batches of at least this many points are located in two threads, half each.
_SPLIT_POINTS = 50_000


class PolygonIndex:
    """A grid index over polygons for fast, exact point location.

    The grid is sized by the number of polygon edges (``cells_per_edge`` cells per edge) and of polygons
    (``cells_per_polygon``), whichever asks more: a few polygons with detailed outlines get a cell per edge (enough:
    their points fall in large pure areas), many small polygons some 28 cells each (so most points fall in a pure
    cell), and memory stays proportional to the edges.
    Building needs no GEOS call: every grid corner is labelled by a scanline over the horizontal grid lines
    (the polygons an edge crossing toggles, counted left to right), so a pure cell takes the label of its
    corner and a mixed cell uses one of its corners, clear of every edge in the cell, as the reference of the
    crossing-number test. The arrays (:attr:`arrays`) can be saved and loaded again without rebuilding.

    Parameters
    ----------
    polygons : array_like of shapely Polygon or MultiPolygon
        The areas of one level, in one planar coordinate system (lon/lat degrees are fine: the test is planar,
        as GEOS's is).
    cells_per_edge : float, default 1
        Grid density per polygon edge. More cells make more points pure (fast) at the cost of memory and build time.
    cells_per_polygon : float, default 28
        A lower bound on the density, in cells per polygon. (Measured on 126,000 micro-grids and on 5 polygons of
        100,000 vertices, ``bench/locate.py``: 4 cells per edge built the detailed outlines 1.4× slower for the
        same query time, and fewer than 28 cells per polygon cost the micro-grids more in queries than it saved.)
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
    ARRAY_NAMES = (
        "grid", "uv", "ring_start", "ring_poly", "line_edge", "line_left", "line_right", "ptr", "pair_vertex", "ref",
        "ref_poly",
    )  # fmt: skip
    #: Version of the arrays' layout; a saved index of another version is rebuilt.
    FORMAT = 2

    def __init__(
        self,
        polygons,
        cells_per_edge: float = 1.0,
        cells_per_polygon: float | None = 28.0,
        max_cells: int = 2**25,
        cell: float | None = None,
    ):
        self.polygons = _polygons(polygons)
        self._tree = None
        n = len(self.polygons)
        minx, miny, maxx, maxy = shapely.total_bounds(self.polygons) if n else (0.0, 0.0, 1.0, 1.0)
        width, height = max(float(maxx - minx), 1e-9), max(float(maxy - miny), 1e-9)
        if not np.isfinite([minx, miny, width * height]).all():
            raise ValueError("polygons' coordinates are too large for a grid (their extent overflows)")
        edges = int(shapely.get_num_coordinates(self.polygons).sum()) if n else 0
        wanted = max(edges * cells_per_edge, n * (cells_per_polygon or 0), 1)
        cell = cell or np.sqrt(width * height / min(wanted, max_cells))
        cell = max(cell, width / 2**15, height / 2**15, np.sqrt(width * height / max_cells))
        self.origin, self.cell, (self.nx, self.ny) = check_grid(
            (minx, miny), cell, (int(width // cell) + 1, int(height // cell) + 1)
        )
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

        Raises
        ------
        ValueError
            When the grid or the arrays are inconsistent (:mod:`geo.index_check`): a damaged saved index.
        """
        self = cls.__new__(cls)
        self.polygons = _polygons(polygons)
        self._tree = None
        self.origin, self.cell, (self.nx, self.ny) = check_grid(origin, cell, shape)
        missing = set(cls.ARRAY_NAMES) - set(arrays)
        if missing:
            raise ValueError(f"index arrays missing: {sorted(missing)}")
        check_arrays(arrays, len(self.polygons), self.nx, self.ny)  # the kernels index them unchecked
        for name in cls.ARRAY_NAMES:
            setattr(self, f"_{name}", arrays[name])
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
    def _vertices(self):
        """Ring vertices in cell units, long edges cut so no edge is longer than ``_MAX_EDGE`` cells.

        Returns ``u, v``, the polygon of each vertex (``-1`` for the last vertex of a ring, where no edge
        starts: the edges are ``(i, i + 1)`` for every ``i`` with a polygon) and the side of each edge's ring:
        ``+1`` when the polygon lies left of the ring's direction (a counter-clockwise exterior or a clockwise
        hole), ``-1`` otherwise.
        """
        xy, ring_len, ring_poly, exterior = _rings(self.polygons)
        ring_side = kernels.ring_sides(xy[:, 0], xy[:, 1], ring_len, exterior)
        return kernels.cell_vertices(
            xy[:, 0], xy[:, 1], ring_len, ring_poly, ring_side, self.origin[0], self.origin[1], self.cell, _MAX_EDGE
        )

    def _build(self):
        u, v, poly, side = self._vertices()
        nx = self.nx
        # the kernels release the GIL: independent work runs in a second thread (the corner labels beside the
        # cell/edge pairs, then each half of the references and of the packing)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pairs = _beside(pool, kernels.cell_pairs, u, v, poly, nx, self.ny)
            corners = kernels.corner_labels(u, v, poly, side, nx, self.ny)
            mixed, ptr, edges = pairs.result()
            del side
            h = len(mixed) // 2
            first = _beside(pool, kernels.references, mixed[:h], ptr[: h + 1], edges, u, v, corners, nx)
            second = kernels.references(mixed[h:], ptr[h:], edges, u, v, corners, nx)
            ref, ref_poly, other_poly = (np.concatenate(pair) for pair in zip(first.result(), second, strict=True))
            self._uv = np.column_stack([u, v])
            # the polygon of an edge, by its ring: rings are runs of vertices (poly -1 marks a ring's last vertex)
            ends = np.flatnonzero(poly < 0)
            starts = np.r_[0, ends[:-1] + 1] if len(ends) else np.empty(0, dtype="int64")  # (no polygon: no ring)
            self._ring_start = starts.astype("int32" if len(poly) < 2**31 else "int64")
            self._ring_poly = poly[self._ring_start].astype("int32")
            grid = np.ascontiguousarray(corners.reshape(self.ny + 1, nx + 1)[: self.ny, :nx]).ravel()
            grid[mixed] = _FALLBACK
            # line cells: the first edge's line splits the cell; its two sides' labels
            line = np.flatnonzero(ref == kernels.LINE_LEFT)
            grid[mixed[line]] = _MIXED0 - 2 * np.arange(len(line))
            self._line_edge = edges[ptr[line]]
            self._line_left, self._line_right = ref_poly[line], other_poly[line]
            # crossing cells: their edges by polygon run, and a clear reference corner
            crossing = np.flatnonzero((ref >= 0) & (ref != kernels.LINE_LEFT))
            grid[mixed[crossing]] = _MIXED0 - 1 - 2 * np.arange(len(crossing))
            self._ref, self._ref_poly = ref[crossing], ref_poly[crossing]
            h = len(crossing) // 2
            first = _beside(pool, kernels.pack, crossing[:h], ptr, edges, poly)
            ptr_b, pairs_b = kernels.pack(crossing[h:], ptr, edges, poly)
            ptr_a, pairs_a = first.result()
        ptr = np.concatenate([ptr_a[:-1], ptr_b + len(pairs_a)])
        self._pair_vertex = np.concatenate([pairs_a, pairs_b])
        self._ptr = ptr.astype("int32") if len(self._pair_vertex) < 2**31 else ptr
        self._grid = grid

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
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length ({len(x)} and {len(y)})")
        if len(x) == 1:  # one point (a request): a pure cell answers with no array arithmetic
            u, v = (float(x[0]) - self.origin[0]) / self.cell, (float(y[0]) - self.origin[1]) / self.cell
            if 0 <= u < self.nx and 0 <= v < self.ny:
                code = int(self._grid[int(v) * self.nx + int(u)])
                if code >= OUTSIDE:
                    return LocateResult(np.array([code], dtype="int64"), np.zeros(1, dtype=bool), {})
        return self._locate_all(x, y)

    def _locate_all(self, x, y) -> LocateResult:
        a = {name: np.asarray(getattr(self, f"_{name}")) for name in self.ARRAY_NAMES}
        args = (self.origin[0], self.origin[1], self.cell, self.nx, self.ny, a["grid"], a["line_edge"], a["line_left"],
                a["line_right"], a["ptr"], a["pair_vertex"], a["ref"], a["ref_poly"], a["uv"], a["ring_start"],
                a["ring_poly"])  # fmt: skip
        if len(x) < _SPLIT_POINTS:
            index = kernels.locate(x, y, *args)
        else:  # a large batch: each half in its own thread (the kernel releases the GIL)
            h = len(x) // 2
            with ThreadPoolExecutor(max_workers=1) as pool:
                first = _beside(pool, kernels.locate, x[:h], y[:h], *args)
                second = kernels.locate(x[h:], y[h:], *args)
                index = np.concatenate([first.result(), second])
        on_boundary = np.zeros(len(x), dtype=bool)
        ambiguous: dict[int, np.ndarray] = {}
        todo = np.flatnonzero(index == _FALLBACK)
        if len(todo):
            sub = locate_exact(self.polygons, x[todo], y[todo], self.tree, checked=True)
            index[todo] = sub.index
            on_boundary[todo] = sub.on_boundary
            ambiguous = {int(todo[k]): v for k, v in sub.ambiguous.items()}
        return LocateResult(index, on_boundary, ambiguous)
