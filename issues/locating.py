"""Where an issue belongs: its micro-grid and every area above it, found in one vectorised pass.

A point in no micro-grid (a gap) or in several (an overlap) is located at the community level, then the
street level, so it lands in that area's *unlocated* queue instead of being refused. Its ``location_status``
says which: ``outside`` (a gap) or ``ambiguous`` (overlapping areas — then the overlapping areas of the lowest
level where they overlap are its *candidates*). A point where streets themselves overlap is queued at the
lowest-coded candidate street, as a point on a shared edge is. Points near a boundary are flagged.
"""

from __future__ import annotations

import numpy as np

from boundaries.levels import LEVEL_NAMES_ZH, LEVELS
from boundaries.registry import Registry
from geo.topology import line_distance_m
from issues.workflow import LADDER

__all__ = ["Placement", "place_points", "location_candidates", "location_note", "PLACE_LEVELS"]

_CODE_COLUMNS = {level: f"{level}_code" for level in LEVELS}
#: The levels an issue is located at, in order: its micro-grid, else its community's or street's queue.
PLACE_LEVELS = (LADDER[0], "community", "street")


class Placement:
    """Per point: the code at each level (``None`` where not located), the handling level and area, flags."""

    def __init__(self, n: int):
        self.codes = {column: np.full(n, None, dtype=object) for column in _CODE_COLUMNS.values()}
        self.status = np.full(n, "outside", dtype=object)
        self.on_boundary = np.zeros(n, bool)
        self.near_boundary = np.zeros(n, bool)
        self.level = np.full(n, None, dtype=object)
        self.handler = np.full(n, None, dtype=object)
        #: For ambiguous points: the overlapping areas' codes at the lowest level where they overlap.
        self.candidates = np.full(n, None, dtype=object)

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
    """Locate WGS84 points for issues: micro-grid first, then community, then street.

    ``status`` is ``ok`` in one micro-grid, ``ambiguous`` where the areas of some level overlap (the point is
    then placed in the next level up that has one area there, or in the lowest-coded street when the streets
    overlap), else ``outside``; a point that no street holds keeps ``level`` ``None`` (the caller refuses it).
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    placed = Placement(len(lon))
    index_of = registry.ancestors(generation)
    todo = np.ones(len(lon), bool)
    present = registry.levels_present(generation)
    for level in PLACE_LEVELS:
        if not todo.any() or level not in present:
            continue
        idx = np.flatnonzero(todo)
        found, _names, status, on_boundary = registry.locate_arrays(lon[idx], lat[idx], level, generation)
        ok = status == "ok"
        for j, codes in zip(idx[status == "ambiguous"], found[status == "ambiguous"], strict=True):
            codes = sorted(codes.split(";"))
            if placed.candidates[j] is None:
                placed.candidates[j] = codes
            if level == "street":  # overlapping streets: queue at the lowest-coded one, as on a shared edge
                _place(placed, j, level, codes[0], index_of)
        for j, code in zip(idx[ok], found[ok], strict=True):
            _place(placed, j, level, code, index_of)
        placed.on_boundary[idx[ok]] = on_boundary[ok]
        if level == LADDER[0] and ok.any():
            placed.status[idx[ok]] = "ok"
            hit = idx[ok]
            # the outline from the index's own edges: no geometry read from the database
            lines = [registry.outline(level, c, generation) for c in found[ok]]
            placed.near_boundary[hit] = line_distance_m(lines, lon[hit], lat[hit]) <= near_m
        todo[idx] &= ~(ok | ((status == "ambiguous") & (level == "street")))
    placed.status[(placed.status != "ok") & np.array([c is not None for c in placed.candidates], bool)] = "ambiguous"
    return placed


def _place(placed: Placement, j: int, level: str, code: str, index_of: dict) -> None:
    for lvl, c in index_of.get(code, {}).items():
        placed.codes[_CODE_COLUMNS[lvl]][j] = c
    placed.level[j], placed.handler[j] = level, code


def location_candidates(registry: Registry, issue: dict) -> tuple[str | None, list[str]]:
    """The level where an ambiguous issue's place lies in overlapping areas, and those areas' codes.

    Found again in the generation the issue was located in (a published generation never changes, so the
    answer is the one intake saw).
    """
    generation = issue.get("generation")
    if issue.get("location_status") != "ambiguous" or generation is None:
        return None, []
    present = registry.levels_present(generation)
    for level in (lvl for lvl in PLACE_LEVELS if lvl in present):
        result = registry.locate([issue["lon"]], [issue["lat"]], level=level, generation=generation)
        if result["status"].iat[0] == "ambiguous":
            return level, sorted(result["code"].iat[0].split(";"))
    return None, []


def location_note(registry: Registry, issue: dict) -> dict:
    """Why an issue is not located in one micro-grid, and whose queue it waits in.

    Returns ``location_note`` (bilingual: a gap, or overlapping areas with their codes), ``location_candidates``
    and ``candidates_level``.
    """
    level, handler = issue["level"], issue["handler_code"]
    queue_zh, queue = (
        f"在{LEVEL_NAMES_ZH.get(level, level)} {handler} 待分派",
        f"it waits in the queue of {level} {handler}",
    )
    if issue["location_status"] == "ambiguous":
        found, codes = location_candidates(registry, issue)
        what = found or "area"
        note = (
            f"位置在多个{LEVEL_NAMES_ZH.get(found, '区域')}重叠处（{', '.join(codes)}），{queue_zh}，边界需要修正 "
            f"the place lies where several {what} areas overlap ({', '.join(codes)}); {queue} — the boundaries need "
            "fixing"
        )
        return {"location_note": note, "location_candidates": codes, "candidates_level": found}
    note = (
        f"位置不在任何微网格内（网格间空隙），{queue_zh} the place lies in no micro-grid (a gap between them); {queue}"
    )
    return {"location_note": note, "location_candidates": [], "candidates_level": None}
