"""The exact (GEOS) answer for points, and polygons whose outlines are fetched only when a point needs them.

:class:`~geo.locate.PolygonIndex` answers most points from its own arrays; the points within a hair of an edge,
and overlaps, are decided here. A loaded index does not need every outline in memory: :class:`LazyPolygons`
knows each polygon's bounding box and fetches the outlines of the few polygons whose box holds such a point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely

from geo.errors import GeometryTypeError

__all__ = ["OUTSIDE", "AMBIGUOUS", "LocateResult", "LazyPolygons", "locate_exact"]

OUTSIDE = -1
AMBIGUOUS = -2

_FEW = 32  # up to this many points, candidate boxes are found by a plain scan instead of a tree


@dataclass
class LocateResult:
    """Result of locating points: see :mod:`geo.locate` for the meaning of each field."""

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


class LazyPolygons:
    """Polygons known by their bounding boxes, whose geometries are fetched by position when first needed.

    Parameters
    ----------
    bounds : array_like, shape (n, 4), or callable
        ``minx, miny, maxx, maxy`` of every polygon, in order, or a function returning them when first needed
        (``None``: set by :meth:`~geo.locate.PolygonIndex.from_arrays` from the index's own edges).
    fetch : callable
        ``fetch(positions)`` returns the polygons at those positions (an int array), in that order. Fetched
        polygons are kept.

    Examples
    --------
    >>> from shapely import box
    >>> polys = [box(0, 0, 1, 1), box(1, 0, 2, 1)]
    >>> lazy = LazyPolygons([p.bounds for p in polys], lambda at: [polys[i] for i in at])
    >>> lazy.take([1])[0].bounds, lazy.fetched
    ((1.0, 0.0, 2.0, 1.0), 1)
    """

    def __init__(self, bounds, fetch: Callable[[np.ndarray], object], n: int | None = None):
        self._bounds = None
        self.bounds_source = bounds if callable(bounds) or bounds is None else None
        if self.bounds_source is None and bounds is not None:
            self._bounds = np.asarray(bounds, dtype="float64").reshape(-1, 4)
            n = len(self._bounds)
        if n is None:
            raise ValueError("LazyPolygons needs the bounds or the number of polygons")
        self._fetch = fetch
        self._geoms = np.full(n, None, dtype=object)
        self._box_tree = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._geoms)

    @property
    def bounds(self) -> np.ndarray:
        """``(n, 4)`` bounding boxes, computed by :attr:`bounds_source` on first use when not given."""
        if self._bounds is None:
            if self.bounds_source is None:
                raise ValueError("LazyPolygons has no bounds yet")
            with self._lock:
                if self._bounds is None:
                    self._bounds = np.asarray(self.bounds_source(), dtype="float64").reshape(-1, 4)
        return self._bounds

    @property
    def fetched(self) -> int:
        """How many polygons have been fetched so far."""
        return int(sum(g is not None for g in self._geoms))

    def take(self, positions) -> np.ndarray:
        """The polygons at ``positions`` (fetched once, then kept)."""
        positions = np.asarray(positions, dtype="int64").ravel()
        missing = np.unique(positions[[g is None for g in self._geoms[positions]]])
        if len(missing):
            geoms = np.asarray(self._fetch(missing), dtype=object)
            if len(geoms) != len(missing) or not np.isin(shapely.get_type_id(geoms), (3, 6)).all():
                raise GeometryTypeError("fetched outlines do not match the polygons asked for")
            self._geoms[missing] = geoms
        return self._geoms[positions]

    def candidates(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(point, polygon)`` whose bounding box covers the point."""
        b = self.bounds
        if len(x) <= _FEW:
            pairs = [
                np.flatnonzero((b[:, 0] <= px) & (px <= b[:, 2]) & (b[:, 1] <= py) & (py <= b[:, 3]))
                for px, py in zip(x, y, strict=True)
            ]
            pt = np.repeat(np.arange(len(x)), [len(p) for p in pairs])
            return pt, np.concatenate(pairs).astype("int64") if pairs else np.empty(0, "int64")
        with self._lock:
            if self._box_tree is None:
                self._box_tree = shapely.STRtree(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
        return self._box_tree.query(shapely.points(x, y), predicate="intersects")


def locate_exact(polygons, x, y, tree: shapely.STRtree | None = None, checked: bool = False) -> LocateResult:
    """Locate points with GEOS only (the reference rules; slower than :class:`~geo.locate.PolygonIndex`).

    Parameters
    ----------
    polygons : array_like of shapely Polygon or MultiPolygon, or LazyPolygons
        With :class:`LazyPolygons`, only the polygons whose bounding box holds a point are fetched.
    x, y : array_like of float
    tree : shapely.STRtree, optional
        A tree over ``polygons`` to reuse.
    checked : bool, default False
        ``polygons`` is already an array checked by :func:`polygons_array` (an index's own): skip the check.

    Returns
    -------
    LocateResult
    """
    x = np.asarray(x, dtype="float64").ravel()
    y = np.asarray(y, dtype="float64").ravel()
    index = np.full(len(x), OUTSIDE, dtype="int64")
    on_boundary = np.zeros(len(x), dtype=bool)
    ambiguous: dict[int, np.ndarray] = {}
    if len(x) == 0:
        return LocateResult(index, on_boundary, ambiguous)
    if isinstance(polygons, LazyPolygons):
        pt, poly = polygons.candidates(x, y)
        geoms = polygons.take(poly) if len(poly) else np.empty(0, dtype=object)
    else:
        polygons = polygons if checked else polygons_array(polygons)
        tree = tree if tree is not None else shapely.STRtree(polygons)
        pt, poly = tree.query(shapely.points(x, y))  # boxes only: the tests below use prepared outlines
        geoms = polygons[poly]
    # prepared (indexed) outlines: a point tested against a detailed outline costs a lookup, not a scan of its
    # edges; preparing is kept on the geometry, so each outline is prepared once
    shapely.prepare(geoms)
    touch = shapely.intersects_xy(geoms, x[pt], y[pt]) if len(pt) else np.zeros(0, bool)
    pt, poly, geoms = pt[touch], poly[touch], geoms[touch]
    if len(pt) == 0:
        return LocateResult(index, on_boundary, ambiguous)
    inside = shapely.contains_xy(geoms, x[pt], y[pt])
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


def polygons_array(geoms):
    """``geoms`` checked to be non-empty Polygons or MultiPolygons, as a 1-d object array (LazyPolygons as is)."""
    if isinstance(geoms, LazyPolygons):
        return geoms
    geoms = np.asarray(geoms, dtype=object)
    if geoms.ndim != 1:
        geoms = geoms.ravel()
    types = shapely.get_type_id(geoms)
    bad = ~np.isin(types, (3, 6)) | shapely.is_empty(geoms)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GeometryTypeError(f"polygon {i} is not a non-empty Polygon or MultiPolygon")
    return geoms
