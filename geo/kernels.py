"""Compiled loops (numba) that build and query a :class:`~geo.locate.PolygonIndex`.

Coordinates are in grid-cell units: cell ``(i, j)`` is the square ``[i, i + 1] x [j, j + 1]``, ``nx`` cells per
row. Edges are ``(k, k + 1)`` for every vertex ``k`` whose polygon ``poly[k]`` is not ``-1`` (the last vertex of a
ring); vertices are grouped by polygon in increasing order. See :mod:`geo.locate` for the layout of the arrays.

Every function is compiled once per install (``cache=True``: the machine code is kept beside this module, or in
numba's user cache when that folder is read-only) and releases the GIL, so web threads locate in parallel.
Each loop does, per item, exactly the arithmetic the earlier numpy version did, so answers do not depend on
which one built an index.
"""

from __future__ import annotations

import logging

import numpy as np
from numba import njit

__all__ = [
    "OUTSIDE", "FALLBACK", "MIXED0", "LINE_LEFT", "wkb_rings", "ring_sides", "cell_vertices", "cell_pairs",
    "corner_labels", "references", "pack", "locate",
]  # fmt: skip

OUTSIDE = -1
FALLBACK = -2  # GEOS decides (a point near an edge, an overlap, a cell with no clear reference corner)
MIXED0 = -3  # grid codes: line cell k is MIXED0 - 2k, crossing cell k is MIXED0 - 1 - 2k
LINE_LEFT = 4  # ref of a line cell while building: its edges lie on one line (left and right labelled)
NEAR = 1e-6  # cell units: closer than this to an edge goes to GEOS
REF_CLEARANCE = 1e-3  # cell units: a reference corner is this far from every edge of its cell
PAIR_TOL = 1e-7  # cell units: an edge this close to a cell counts as touching it

_TILED = 50_000  # more mixed points than this are visited tile by tile
_TILE = 16  # cells


def _jit(function):
    """Compile ``function`` on first use, keeping the machine code in numba's cache when a folder is writable.

    Numba caches beside this module, else in the user's cache folder; when neither can be written (a read-only
    install run by a user without a home) it compiles in memory in every process instead, and says how to give
    it a cache folder (``NUMBA_CACHE_DIR``).
    """
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
        global _CACHE_WARNED
        if not _CACHE_WARNED:
            _CACHE_WARNED = True
            logging.getLogger(__name__).warning(
                "no writable folder for numba's cache (%s): locate kernels are compiled in every process (about "
                "10 s); set NUMBA_CACHE_DIR to a writable folder to keep them",
                exc,
            )
        return njit(cache=False, nogil=True)(function)


_CACHE_WARNED = False


@_jit
def _u32(data, pos):
    return (
        np.int64(data[pos])
        | (np.int64(data[pos + 1]) << 8)
        | (np.int64(data[pos + 2]) << 16)
        | (np.int64(data[pos + 3]) << 24)
    )


@_jit
def _polygon_rings(data, pos, poly, fill, coords, ring_len, ring_poly, ring_exterior, count_only):
    """Read one little-endian 2D WKB Polygon at ``pos``; returns the position after it and the ring count."""
    if data[pos] != 1 or _u32(data, pos + 1) != 3:
        raise ValueError("not a little-endian 2D WKB Polygon")
    n_rings = _u32(data, pos + 5)
    pos += 9
    r, c = fill[0], fill[1]
    for i in range(n_rings):
        n = _u32(data, pos)
        pos += 4
        if not count_only:
            coords[c * 16 : (c + n) * 16] = data[pos : pos + n * 16]
            ring_len[r], ring_poly[r], ring_exterior[r] = n, poly, i == 0
        r += 1
        c += n
        pos += n * 16
    fill[0], fill[1] = r, c
    return pos


@_jit
def _walk_wkb(data, starts, coords, ring_len, ring_poly, ring_exterior, count_only):
    fill = np.zeros(2, np.int64)  # rings, coordinates so far
    for g in range(len(starts) - 1):
        pos = starts[g]
        kind = _u32(data, pos + 1)
        if data[pos] == 1 and kind == 6:
            n_parts = _u32(data, pos + 5)
            pos += 9
            for _ in range(n_parts):
                pos = _polygon_rings(data, pos, g, fill, coords, ring_len, ring_poly, ring_exterior, count_only)
        else:
            pos = _polygon_rings(data, pos, g, fill, coords, ring_len, ring_poly, ring_exterior, count_only)
        if pos != starts[g + 1]:
            raise ValueError("WKB of a polygon does not end where the next begins")
    return fill


@_jit
def wkb_rings(data, starts):
    """The rings of polygons given as concatenated little-endian 2D WKB (``data[starts[g]:starts[g + 1]]``).

    Returns ``(coordinate bytes, ring lengths, polygon of each ring, whether each ring is an exterior)``; the
    bytes are ``n x 2`` float64, in order (view them with ``.view("float64")``).
    """
    empty8, empty_i = np.empty(0, np.uint8), np.empty(0, np.int64)
    fill = _walk_wkb(data, starts, empty8, empty_i, np.empty(0, np.int32), np.empty(0, np.bool_), True)
    coords = np.empty(fill[1] * 16, np.uint8)
    ring_len = np.empty(fill[0], np.int64)
    ring_poly = np.empty(fill[0], np.int32)
    ring_exterior = np.empty(fill[0], np.bool_)
    _walk_wkb(data, starts, coords, ring_len, ring_poly, ring_exterior, False)
    return coords, ring_len, ring_poly, ring_exterior


@_jit
def ring_sides(x, y, ring_len, ring_exterior):
    """Per ring, +1 when its polygon lies left of its direction, -1 otherwise.

    The polygon lies left of a counter-clockwise exterior or a clockwise hole; counter-clockwise by the sign
    of the shoelace area (relative to the ring's first vertex).
    """
    sides = np.empty(len(ring_len), np.int8)
    start = 0
    for r in range(len(ring_len)):
        x0, y0 = x[start], y[start]
        area = 0.0
        for i in range(start, start + ring_len[r] - 1):
            area += (x[i] - x0) * (y[i + 1] - y0) - (x[i + 1] - x0) * (y[i] - y0)
        sides[r] = 1 if (area > 0) == ring_exterior[r] else -1
        start += ring_len[r]
    return sides


@_jit
def _pieces(u0, v0, u1, v1, max_edge):
    return max(int(np.ceil(max(abs(u1 - u0), abs(v1 - v0)) / max_edge)), 1)


@_jit
def cell_vertices(x, y, ring_len, ring_poly, ring_sides, ox, oy, cell, max_edge):
    """Ring vertices in cell units, edges longer than ``max_edge`` cells cut into equal pieces.

    Returns ``u, v``, the polygon of each vertex (``-1`` for the last vertex of a ring, where no edge starts)
    and the side of each vertex's ring (see :func:`ring_sides`).
    """
    total, start = 0, 0
    for r in range(len(ring_len)):
        stop = start + ring_len[r]
        for i in range(start, stop - 1):
            total += _pieces((x[i] - ox) / cell, (y[i] - oy) / cell, (x[i + 1] - ox) / cell, (y[i + 1] - oy) / cell,
                             max_edge)  # fmt: skip
        total += ring_len[r] > 0
        start = stop
    u, v = np.empty(total, np.float64), np.empty(total, np.float64)
    poly, side = np.empty(total, np.int32), np.empty(total, np.int8)
    at, start = 0, 0
    for r in range(len(ring_len)):
        stop = start + ring_len[r]
        for i in range(start, stop):
            ui, vi = (x[i] - ox) / cell, (y[i] - oy) / cell
            if i == stop - 1:
                u[at], v[at], poly[at], side[at] = ui, vi, -1, ring_sides[r]
                at += 1
                continue
            un, vn = (x[i + 1] - ox) / cell, (y[i + 1] - oy) / cell
            k = _pieces(ui, vi, un, vn, max_edge)
            for j in range(k):
                t = j / k
                u[at], v[at] = ui + (un - ui) * t, vi + (vn - vi) * t
                poly[at], side[at] = ring_poly[r], ring_sides[r]
                at += 1
        start = stop
    return u, v, poly, side


@_jit
def _hits(ax, ay, bx, by, ix, iy):
    """Whether the segment touches the closed square of cell ``(ix, iy)`` (separating axes, within PAIR_TOL)."""
    ex, ey = bx - ax, by - ay
    s00 = ex * (iy - ay) - ey * (ix - ax)
    s10 = s00 - ey
    s01 = s00 + ex
    s11 = s01 - ey
    scale = PAIR_TOL * (abs(ex) + abs(ey))
    lo = min(min(s00, s10), min(s01, s11))
    hi = max(max(s00, s10), max(s01, s11))
    return lo <= scale and hi >= -scale


@_jit
def _cell_span(a, b, n):
    lo = int(min(max(np.floor(min(a, b) - PAIR_TOL), 0), n - 1))
    hi = int(min(max(np.floor(max(a, b) + PAIR_TOL), 0), n - 1))
    return lo, hi


@_jit
def cell_pairs(u, v, poly, nx, ny):
    """The cells every edge touches, as ``(mixed, ptr, edges)``.

    ``mixed`` lists the touched cells in increasing order; the edges of ``mixed[k]`` are
    ``edges[ptr[k]:ptr[k + 1]]``, in increasing order (so grouped by polygon).
    """
    bound = 0
    for e in range(len(u) - 1):
        if poly[e] >= 0:
            x0, x1 = _cell_span(u[e], u[e + 1], nx)
            y0, y1 = _cell_span(v[e], v[e + 1], ny)
            bound += (x1 - x0 + 1) * (y1 - y0 + 1)
    pair_cell = np.empty(bound, np.int64)
    pair_edge = np.empty(bound, np.int32)
    counts = np.zeros(nx * ny + 1, np.int64)
    m = 0
    for e in range(len(u) - 1):
        if poly[e] < 0:
            continue
        ax, ay, bx, by = u[e], v[e], u[e + 1], v[e + 1]
        x0, x1 = _cell_span(ax, bx, nx)
        y0, y1 = _cell_span(ay, by, ny)
        for iy in range(y0, y1 + 1):
            for ix in range(x0, x1 + 1):
                if _hits(ax, ay, bx, by, ix, iy):
                    c = iy * nx + ix
                    pair_cell[m], pair_edge[m] = c, e
                    counts[c + 1] += 1
                    m += 1
    n_mixed = 0
    for c in range(1, nx * ny + 1):
        if counts[c]:
            n_mixed += 1
        counts[c] += counts[c - 1]
    edges = np.empty(m, np.int32)
    fill = counts[:-1].copy()
    for j in range(m):  # a stable counting sort by cell: a cell's edges stay in increasing order
        c = pair_cell[j]
        edges[fill[c]] = pair_edge[j]
        fill[c] += 1
    mixed = np.empty(n_mixed, np.int64)
    ptr = np.empty(n_mixed + 1, np.int64)
    k = 0
    for c in range(nx * ny):
        if counts[c + 1] > counts[c]:
            mixed[k] = c
            ptr[k] = counts[c]
            k += 1
    ptr[n_mixed] = counts[nx * ny]
    return mixed, ptr, edges


@_jit
def corner_labels(u, v, poly, side, nx, ny):
    """The polygon containing every grid corner (row-major, ``(ny + 1) * (nx + 1)``), by a scanline.

    Along grid line ``y = j`` an edge is crossed where ``ay <= j < by`` or ``by <= j < ay`` (half-open, so a
    vertex on the line counts once). Walking the line left to right, a crossing enters the polygon when the
    polygon lies left of the edge's direction and the edge goes down, or right of it and the edge goes up
    (winding numbers: for valid polygons, in and out alternate). The label of a corner is the one polygon the
    walk is inside just before it, ``OUTSIDE`` if none, ``FALLBACK`` if several (overlaps) or if the count is off
    (an invalid ring). Exact for corners off every edge; corners near an edge are never used as references.
    """
    rows = ny + 1
    start = np.zeros(rows + 1, np.int64)
    for e in range(len(u) - 1):
        if poly[e] < 0 or v[e] == v[e + 1]:
            continue
        first = max(int(np.ceil(min(v[e], v[e + 1]))), 0)
        stop = min(int(np.ceil(max(v[e], v[e + 1]))), rows)
        for row in range(first, stop):
            start[row + 1] += 1
    for r in range(rows):
        start[r + 1] += start[r]
    xs = np.empty(start[rows], np.float64)
    step = np.empty(start[rows], np.int64)
    pid = np.empty(start[rows], np.int64)
    fill = start[:-1].copy()
    for e in range(len(u) - 1):
        ay, by = v[e], v[e + 1]
        if poly[e] < 0 or ay == by:
            continue
        ax, bx = u[e], u[e + 1]
        slope = (bx - ax) / (by - ay)
        sign = side[e] * (1 if by < ay else -1)  # +1: the walk enters the polygon
        first = max(int(np.ceil(min(ay, by))), 0)
        stop = min(int(np.ceil(max(ay, by))), rows)
        for row in range(first, stop):
            at = fill[row]
            xs[at] = ax + (row - ay) * slope
            step[at] = sign
            pid[at] = poly[e]
            fill[row] += 1
    labels = np.full(rows * (nx + 1), OUTSIDE, np.int32)
    for row in range(rows):
        s, t = start[row], start[row + 1]
        order = np.argsort(xs[s:t]) + s
        n_in, ids, j = 0, 0, 0
        for c in range(nx + 1):
            while j < t - s:
                at = order[j]
                corner = min(max(int(np.floor(xs[at])) + 1, 0), nx)
                if corner > c:
                    break
                n_in += step[at]
                ids += step[at] * pid[at]
                j += 1
            if j > 0:
                labels[row * (nx + 1) + c] = OUTSIDE if n_in == 0 else (ids if n_in == 1 else FALLBACK)
    return labels


@_jit
def _line_labels(u, v, e0, ix, iy, nx, corners):
    """Labels left and right of edge ``e0``'s line from the clear corners of cell ``(ix, iy)``."""
    ax, ay = u[e0], v[e0]
    dx, dy = u[e0 + 1] - ax, v[e0 + 1] - ay
    scale = abs(dx) + abs(dy)
    left, right = FALLBACK, FALLBACK
    for c in range(4):
        cu, cv = ix + (c & 1), iy + (c >> 1)
        s = dx * (cv - ay) - dy * (cu - ax)
        label = corners[cv * (nx + 1) + cu]
        if abs(s) >= REF_CLEARANCE * scale and label != FALLBACK:
            if s > 0 and left == FALLBACK:
                left = label
            elif s < 0 and right == FALLBACK:
                right = label
    return left, right


@_jit
def _on_one_line(u, v, e0, e1):
    """Whether edge ``e1`` lies on edge ``e0``'s line (to far below the margin that goes to GEOS)."""
    ax, ay = u[e0], v[e0]
    dx, dy = u[e0 + 1] - ax, v[e0 + 1] - ay
    scale = abs(dx) + abs(dy)
    tol = 1e-9 * scale * scale
    for q in range(e1, e1 + 2):
        if abs(dx * (v[q] - ay) - dy * (u[q] - ax)) > tol:
            return False
    return True


@_jit
def references(mixed, ptr, edges, u, v, corners, nx):
    """For each mixed cell: ``ref`` (a clear corner 0-3, ``LINE_LEFT``, or -1: GEOS), ``ref_poly``, ``other_poly``.

    A cell whose one or two edges lie on one straight line is a *line cell*: the line cuts it into two parts no
    edge enters, labelled by a clear corner on each side. Any other cell takes the first corner clear of every
    edge in it (by ``REF_CLEARANCE``) with a known label, as the reference of the crossing-number test.
    """
    n = len(mixed)
    ref = np.full(n, -1, np.int8)
    ref_poly = np.full(n, FALLBACK, np.int32)
    other_poly = np.full(n, FALLBACK, np.int32)
    for k in range(n):
        ix, iy = mixed[k] % nx, mixed[k] // nx
        s, t = ptr[k], ptr[k + 1]
        e0 = edges[s]
        if t - s <= 2 and abs(u[e0 + 1] - u[e0]) + abs(v[e0 + 1] - v[e0]) > 0:
            if t - s == 1 or _on_one_line(u, v, e0, edges[s + 1]):
                left, right = _line_labels(u, v, e0, ix, iy, nx, corners)
                if left != FALLBACK and right != FALLBACK:
                    ref[k], ref_poly[k], other_poly[k] = LINE_LEFT, left, right
                    continue
        for c in range(4):
            cu, cv = ix + (c & 1), iy + (c >> 1)
            label = corners[cv * (nx + 1) + cu]
            if label == FALLBACK:
                continue
            blocked = False
            for j in range(s, t):
                e = edges[j]
                ax, ay = u[e], v[e]
                ex, ey = u[e + 1] - ax, v[e + 1] - ay
                if abs(ex * (cv - ay) - ey * (cu - ax)) < REF_CLEARANCE * (abs(ex) + abs(ey)):
                    blocked = True
                    break
            if not blocked:
                ref[k], ref_poly[k] = c, label
                break
    return ref, ref_poly, other_poly


@_jit
def pack(cells, ptr, edges, poly):
    """The pair list of crossing cells ``cells`` (positions in ``ptr``), as ``(ptr, pair_vertex)``.

    A cell's edges come in runs, one per polygon; the first edge of a run is stored as ``~edge`` (negative).
    """
    out_ptr = np.empty(len(cells) + 1, np.int64)
    total = 0
    for k in range(len(cells)):
        total += ptr[cells[k] + 1] - ptr[cells[k]]
    out = np.empty(total, np.int32)
    pos = 0
    for k in range(len(cells)):
        out_ptr[k] = pos
        s, t = ptr[cells[k]], ptr[cells[k] + 1]
        for j in range(s, t):
            e = edges[j]
            out[pos] = ~e if j == s or poly[e] != poly[edges[j - 1]] else e
            pos += 1
    out_ptr[len(cells)] = pos
    return out_ptr, out


@_jit
def _ring_of(edge, ring_start, n_vertices):
    """The ring of ``edge``: the last ``r`` with ``ring_start[r] <= edge``.

    The search starts where the ring would be if rings had equal sizes, gallops, then bisects: a step or two
    for similar polygons, log n at worst.
    """
    n = len(ring_start)
    lo = min(int(edge * (n / n_vertices)), n - 1)
    step = 1
    if ring_start[lo] <= edge:
        while lo + step < n and ring_start[lo + step] <= edge:
            lo += step
            step <<= 1
        hi = min(lo + step, n)
    else:
        hi = lo
        while hi - step >= 0 and ring_start[hi - step] > edge:
            hi -= step
            step <<= 1
        lo = max(hi - step, 0)
    while hi - lo > 1:  # ring_start[lo] <= edge < ring_start[hi] (or hi == n)
        mid = (lo + hi) >> 1
        if ring_start[mid] <= edge:
            lo = mid
        else:
            hi = mid
    return lo


@_jit
def _crossing(u, v, fu, fv, k, ref, ref_poly, ptr, pair_vertex, uv, ring_start, ring_poly):
    """Crossing-number answer in crossing cell ``k``: FALLBACK near an edge or in two polygons.

    The segment from the point to the cell's reference corner crosses edges of some polygons; the point is in a
    polygon when the reference's membership flips an odd number of times. A run of one polygon's edges starts
    with ``~edge``; its polygon is looked up (by the edge's ring) only when the run is crossed an odd number of
    times.
    """
    r = ref[k]
    rx, ry = fu + (r & 1), fv + (r >> 1)
    refp = ref_poly[k]
    flipped, n_in, total = False, 0, 0
    parity, run_edge = 0, -1
    dx, dy = rx - u, ry - v
    for j in range(ptr[k], ptr[k + 1] + 1):
        e = pair_vertex[j] if j < ptr[k + 1] else -1
        if e < 0:  # a run starts (or the list ends): the previous run's polygon flips if crossed an odd number
            if parity:
                p = ring_poly[_ring_of(run_edge, ring_start, len(uv))]
                if p == refp:
                    flipped = True
                else:
                    n_in += 1
                    total += p
            if j == ptr[k + 1]:
                break
            e = ~e
            run_edge, parity = e, 0
        ax, ay, bx, by = uv[e, 0], uv[e, 1], uv[e + 1, 0], uv[e + 1, 1]
        ex, ey = bx - ax, by - ay
        cross_p = ex * (v - ay) - ey * (u - ax)
        if abs(cross_p) < NEAR * (abs(ex) + abs(ey)):
            return FALLBACK
        if ((dx * (ay - v) - dy * (ax - u) > 0) != (dx * (by - v) - dy * (bx - u) > 0)) and (
            (cross_p > 0) != (ex * (ry - ay) - ey * (rx - ax) > 0)
        ):
            parity ^= 1
    in_ref = refp >= 0 and not flipped
    if n_in + in_ref == 0:
        return OUTSIDE
    if n_in + in_ref >= 2:
        return FALLBACK
    return refp if in_ref else total


@_jit
def locate(x, y, ox, oy, cell, nx, ny, grid, line_edge, line_left, line_right, ptr, pair_vertex, ref, ref_poly, uv,
           ring_start, ring_poly):  # fmt: skip
    """The polygon of every point, ``OUTSIDE``, or ``FALLBACK`` where GEOS must decide (see :mod:`geo.locate`).

    Grid codes: a label (``>= OUTSIDE``), ``FALLBACK``, line cell ``k`` as ``MIXED0 - 2k``, crossing cell ``k``
    as ``MIXED0 - 1 - 2k``.
    """
    out = np.empty(len(x), np.int64)
    mixed = np.empty(len(x), np.int64)
    m = 0
    for i in range(len(x)):  # pure cells answer at once; the others are listed
        fu, fv = np.floor((x[i] - ox) / cell), np.floor((y[i] - oy) / cell)
        code = OUTSIDE
        if fu >= 0 and fu < nx and fv >= 0 and fv < ny:
            code = grid[int(fv) * nx + int(fu)]
        out[i] = code
        mixed[m] = i
        m += code < FALLBACK
    order = _by_tile(x, y, mixed[:m], ox, oy, cell, nx, ny) if m > _TILED else mixed[:m]
    for j in range(m):  # in tile order: neighbouring cells' edges are near in memory
        i = order[j]
        u, v = (x[i] - ox) / cell, (y[i] - oy) / cell
        fu, fv = np.floor(u), np.floor(v)
        code = out[i]
        k = (MIXED0 - code) >> 1
        if (MIXED0 - code) & 1:
            out[i] = _crossing(u, v, fu, fv, k, ref, ref_poly, ptr, pair_vertex, uv, ring_start, ring_poly)
            continue
        e = line_edge[k]
        ax, ay = uv[e, 0], uv[e, 1]
        dx, dy = uv[e + 1, 0] - ax, uv[e + 1, 1] - ay
        s = dx * (v - ay) - dy * (u - ax)
        if abs(s) < NEAR * (abs(dx) + abs(dy)):
            out[i] = FALLBACK
        else:
            out[i] = line_left[k] if s > 0 else line_right[k]
    return out


@_jit
def _by_tile(x, y, points, ox, oy, cell, nx, ny):
    """``points`` reordered by tiles of ``_TILE`` x ``_TILE`` cells (a counting sort; row-major tiles)."""
    tiles_x = nx // _TILE + 1
    n_tiles = tiles_x * (ny // _TILE + 1)
    tile = np.empty(len(points), np.int64)
    start = np.zeros(n_tiles + 1, np.int64)
    for j in range(len(points)):
        i = points[j]
        t = (int(np.floor((y[i] - oy) / cell)) // _TILE) * tiles_x + int(np.floor((x[i] - ox) / cell)) // _TILE
        tile[j] = t
        start[t + 1] += 1
    for t in range(n_tiles):
        start[t + 1] += start[t]
    order = np.empty(len(points), np.int64)
    for j in range(len(points)):
        order[start[tile[j]]] = points[j]
        start[tile[j]] += 1
    return order
