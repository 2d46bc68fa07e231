"""Where an issue belongs: its micro-grid and every area above it, found in one vectorised pass.

A point in no micro-grid (a gap, or an overlap) is located at the community level, then the street level, so
it lands in that area's *unlocated* queue instead of being refused. Points near a boundary are flagged.
"""

from __future__ import annotations

import numpy as np

from boundaries.levels import LEVELS
from boundaries.registry import Registry
from geo.topology import boundary_distance_m
from issues.workflow import LADDER

__all__ = ["Placement", "place_points"]

_CODE_COLUMNS = {level: f"{level}_code" for level in LEVELS}


class Placement:
    """Per point: the code at each level (``None`` where not located), the handling level and area, flags."""

    def __init__(self, n: int):
        self.codes = {column: np.full(n, None, dtype=object) for column in _CODE_COLUMNS.values()}
        self.status = np.full(n, "outside", dtype=object)
        self.on_boundary = np.zeros(n, bool)
        self.near_boundary = np.zeros(n, bool)
        self.level = np.full(n, None, dtype=object)
        self.handler = np.full(n, None, dtype=object)

    def row(self, i: int) -> dict:
        """The columns of one point, as stored on its issue."""
        out = {column: values[i] for column, values in self.codes.items()}
        out.update(
            location_status=self.status[i],
            on_boundary=bool(self.on_boundary[i]),
            near_boundary=bool(self.near_boundary[i]),
            level=self.level[i],
            handler_code=self.handler[i],
        )
        return out


def place_points(registry: Registry, lon, lat, generation: int, near_m: float = 10.0) -> Placement:
    """Locate WGS84 points for issues: micro-grid first, then community, then street."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    placed = Placement(len(lon))
    index_of = registry.ancestors(generation)
    todo = np.ones(len(lon), bool)
    present = registry.levels_present(generation)
    for level in (LADDER[0], "community", "street"):
        if not todo.any() or level not in present:
            continue
        idx = np.flatnonzero(todo)
        result = registry.locate(lon[idx], lat[idx], level=level, generation=generation)
        ok = (result["status"] == "ok").to_numpy()
        for j, code in zip(idx[ok], result["code"].to_numpy()[ok], strict=True):
            for lvl, c in index_of.get(code, {}).items():
                placed.codes[_CODE_COLUMNS[lvl]][j] = c
            placed.level[j], placed.handler[j] = level, code
        placed.on_boundary[idx[ok]] = result["on_boundary"].to_numpy()[ok]
        if level == LADDER[0]:
            placed.status[idx] = result["status"].to_numpy()
            if ok.any():
                _, frame = registry.index(level, generation)
                rows = registry.positions(level, generation)
                hit = idx[ok]
                geoms = frame.geometry.to_numpy()
                polys = geoms[[rows[c] for c in result["code"].to_numpy()[ok]]]
                placed.near_boundary[hit] = boundary_distance_m(polys, lon[hit], lat[hit]) <= near_m
        todo[idx[ok]] = False
    return placed
