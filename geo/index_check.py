"""Checks that the arrays of a :class:`~geo.locate.PolygonIndex` are consistent before the kernels read them.

The compiled kernels (:mod:`geo.kernels`) index arrays without bounds checks, so arrays from outside (a saved
index read back from files) are checked here first: types, lengths, and that every stored index points inside
the array it indexes. A damaged index is refused with :class:`ValueError` (and rebuilt by its caller) instead of
crashing the process or answering wrongly.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["check_grid", "check_arrays"]

#: The dtype of each array (the kernels are compiled for these).
DTYPES = {
    "grid": "int32", "uv": "float64", "line_edge": "int32", "line_left": "int32", "line_right": "int32",
    "pair_vertex": "int32", "ref": "int8", "ref_poly": "int32", "ring_poly": "int32",
}  # fmt: skip
_INTEGERS = ("int32", "int64")  # ring_start and ptr: either, by size


def check_grid(origin, cell, shape) -> tuple[tuple[float, float], float, tuple[int, int]]:
    """``origin``, ``cell`` and ``(nx, ny)`` as numbers, or :class:`ValueError` when they make no grid."""
    try:
        origin = (float(origin[0]), float(origin[1]))
        cell, nx, ny = float(cell), int(shape[0]), int(shape[1])
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"index grid is malformed: {exc}") from exc
    if not (all(map(math.isfinite, origin)) and math.isfinite(cell) and cell > 0 and nx >= 1 and ny >= 1):
        raise ValueError(f"index grid is malformed: origin {origin}, cell {cell}, shape {(nx, ny)}")
    return origin, cell, (nx, ny)


def _range(name: str, values: np.ndarray, low: int, high: int) -> None:
    if len(values) and (int(values.min()) < low or int(values.max()) >= high):
        raise ValueError(f"index array {name} holds values outside [{low}, {high})")


def check_arrays(arrays: dict, n_polygons: int, nx: int, ny: int) -> None:
    """Raise :class:`ValueError` unless ``arrays`` form an index of ``n_polygons`` polygons on an nx x ny grid."""
    for name, dtype in DTYPES.items():
        if arrays[name].dtype != np.dtype(dtype) or arrays[name].ndim != (2 if name == "uv" else 1):
            raise ValueError(f"index array {name} is {arrays[name].dtype} {arrays[name].shape}, not {dtype}")
    for name in ("ring_start", "ptr"):
        if arrays[name].dtype.name not in _INTEGERS or arrays[name].ndim != 1:
            raise ValueError(f"index array {name} is {arrays[name].dtype}, not an integer array")
    uv, grid = arrays["uv"], arrays["grid"]
    if uv.shape[1:] != (2,) or len(grid) != nx * ny:
        raise ValueError("index arrays do not match the grid shape")
    n_vertices, n_line, n_cross = len(uv), len(arrays["line_edge"]), len(arrays["ref"])
    if not (len(arrays["line_left"]) == len(arrays["line_right"]) == n_line):
        raise ValueError("index line cells are of unequal lengths")
    if len(arrays["ref_poly"]) != n_cross or len(arrays["ptr"]) != n_cross + 1:
        raise ValueError("index crossing cells are of unequal lengths")
    if len(arrays["ring_poly"]) != len(arrays["ring_start"]):
        raise ValueError("index rings are of unequal lengths")
    ptr = np.asarray(arrays["ptr"])
    if ptr[0] != 0 or ptr[-1] != len(arrays["pair_vertex"]) or (len(ptr) > 1 and (np.diff(ptr) < 0).any()):
        raise ValueError("index array ptr does not partition pair_vertex")
    ring_start = np.asarray(arrays["ring_start"])
    if len(ring_start) and (ring_start[0] != 0 or (np.diff(ring_start) <= 0).any()):
        raise ValueError("index array ring_start is not increasing from 0")
    _range("ring_start", ring_start, 0, max(n_vertices, 1))
    _range("ring_poly", np.asarray(arrays["ring_poly"]), 0, n_polygons)
    _range("line_edge", np.asarray(arrays["line_edge"]), 0, n_vertices - 1)
    for name in ("line_left", "line_right", "ref_poly"):
        _range(name, np.asarray(arrays[name]), -1, n_polygons)
    _range("ref", np.asarray(arrays["ref"]), 0, 4)
    pairs = np.asarray(arrays["pair_vertex"])
    _range("pair_vertex", np.where(pairs < 0, ~pairs, pairs), 0, n_vertices - 1)
    grid = np.asarray(grid)
    _range("grid", grid[grid >= -2], -2, n_polygons)
    mixed = -3 - grid[grid <= -3].astype("int64")
    _range("grid (line cells)", mixed[mixed % 2 == 0] >> 1, 0, n_line)
    _range("grid (crossing cells)", mixed[mixed % 2 == 1] >> 1, 0, n_cross)
