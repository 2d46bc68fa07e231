"""The scanline and cell enumeration that build a :class:`~geo.locate.PolygonIndex` (pure array functions).

Coordinates are in grid-cell units: cell ``(i, j)`` is the square ``[i, i + 1] x [j, j + 1]``. Edges are
``(k, k + 1)`` for every vertex ``k`` whose polygon ``poly[k]`` is not ``-1`` (the last vertex of a ring).
"""

from __future__ import annotations

import numpy as np

__all__ = ["cell_pairs", "corner_labels", "ranges"]

OUTSIDE = -1
FALLBACK = -2
_CHUNK = 2_000_000


def cell_pairs(u, v, poly, nx: int, ny: int):
    """(cell id, edge id) for every cell whose closed square an edge touches (conservatively)."""
    tol = 1e-7
    cells, edges = [], []
    starts = np.flatnonzero(poly >= 0)
    for chunk in range(0, len(starts), _CHUNK // 8):
        e = starts[chunk : chunk + _CHUNK // 8]
        ax, ay, bx, by = u[e], v[e], u[e + 1], v[e + 1]
        x0 = np.clip(np.floor(np.minimum(ax, bx) - tol), 0, nx - 1).astype("int64")
        x1 = np.clip(np.floor(np.maximum(ax, bx) + tol), 0, nx - 1).astype("int64")
        y0 = np.clip(np.floor(np.minimum(ay, by) - tol), 0, ny - 1).astype("int64")
        y1 = np.clip(np.floor(np.maximum(ay, by) + tol), 0, ny - 1).astype("int64")
        cx, cy = x1 - x0 + 1, y1 - y0 + 1
        m = cx * cy
        r = np.repeat(np.arange(len(m)), m)
        local = np.arange(len(r)) - np.repeat(np.cumsum(m) - m, m)
        ix = x0[r] + local % cx[r]
        iy = y0[r] + local // cx[r]
        # Separating-axis test: the segment misses the square iff all four corners lie strictly on one side.
        ex, ey = (bx - ax)[r], (by - ay)[r]
        s00 = ex * (iy - ay[r]) - ey * (ix - ax[r])
        s10 = s00 - ey
        s01 = s00 + ex
        s11 = s01 - ey
        scale = tol * (np.abs(ex) + np.abs(ey))
        lo = np.minimum(np.minimum(s00, s10), np.minimum(s01, s11))
        hi = np.maximum(np.maximum(s00, s10), np.maximum(s01, s11))
        hit = (lo <= scale) & (hi >= -scale)
        cells.append(iy[hit] * nx + ix[hit])
        edges.append(e[r[hit]].astype("int32"))
    if not cells:
        return np.empty(0, "int64"), np.empty(0, "int32")
    return np.concatenate(cells), np.concatenate(edges)


def corner_labels(u, v, poly, side, nx: int, ny: int) -> np.ndarray:
    """The polygon containing every grid corner (row-major, ``(ny + 1) * (nx + 1)``), by a scanline.

    Along grid line ``y = j`` an edge is crossed where ``ay <= j < by`` or ``by <= j < ay`` (half-open, so a
    vertex on the line counts once). Walking the line left to right, a crossing enters the polygon when the
    polygon lies left of the edge's direction and the edge goes down, or right of it and the edge goes up
    (winding numbers: for valid polygons, in and out alternate). The label of a corner is the one polygon
    the walk is inside just before it, ``OUTSIDE`` if none, ``FALLBACK`` if several (overlaps) or if the
    count is off (an invalid ring). Exact for corners off every edge; corners near an edge are never used
    as references (see ``PolygonIndex._set_references``).
    """
    e = np.flatnonzero(poly >= 0)
    ax, ay, bx, by = u[e], v[e], u[e + 1], v[e + 1]
    first = np.ceil(np.minimum(ay, by)).astype("int64")
    count = np.where(by == ay, 0, np.ceil(np.maximum(ay, by)).astype("int64") - first)
    edge = np.repeat(np.arange(len(e)), count)
    row = np.repeat(first, count) + (np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count))
    slope = (bx - ax) / np.where(by == ay, 1.0, by - ay)
    x = ax[edge] + (row - ay[edge]) * slope[edge]
    p = poly[e][edge].astype("int64")
    sign = (side[e] * np.where(by < ay, 1, -1))[edge].astype("int64")  # +1: the walk enters the polygon
    del edge, ax, ay, bx, by, slope
    # left to right along each line, lines in order (x < nx + 1, so one float key orders both)
    order = np.argsort(row * float(nx + 2) + x)
    n_after = np.cumsum(sign[order])
    id_after = np.cumsum(sign[order] * p[order])
    # the first corner right of each crossing takes the state after it; the corners after it inherit it
    corner = row[order] * (nx + 1) + np.clip(np.floor(x[order]).astype("int64") + 1, 0, nx)
    last = np.r_[corner[1:] != corner[:-1], True]
    n_corners = (nx + 1) * (ny + 1)
    marker = np.full(n_corners, -1, dtype="int64")
    marker[corner[last]] = np.flatnonzero(last)
    seen = np.maximum.accumulate(marker)
    del marker, corner
    labels = np.full(n_corners, OUTSIDE, dtype="int32")
    hit = seen >= 0
    n_in, ids = n_after[seen[hit]], id_after[seen[hit]]
    labels[hit] = np.where(n_in == 0, OUTSIDE, np.where(n_in == 1, ids, FALLBACK))
    return labels


def ranges(starts, counts) -> np.ndarray:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorised."""
    counts = np.asarray(counts, dtype="int64")
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, "int64")
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(starts, dtype="int64"), counts) + (np.arange(total) - offsets)
