"""What the planners' editor page needs of one parent area, read in the caller's change set.

One read gives the parent, its children with their versions (ETags) and households, the buildings inside the
parent (point, households, and the footprint for snapping when there are not too many), the code a new child
would get, the household range of the children's level and the caller's change set.
"""

from __future__ import annotations

import numpy as np
import shapely

from boundaries import drafts
from boundaries.levels import LEVELS
from boundaries.reshaping import next_code
from boundaries.versions import area_version
from core.errors import InvalidInputError

__all__ = ["editor_data", "MAX_FOOTPRINTS", "EDITABLE_LEVELS"]

#: Above this many buildings in the parent, footprints are left out (points only; no snapping to outlines).
MAX_FOOTPRINTS = 5000
#: Levels whose children the editor redraws (a micro-grid has none).
EDITABLE_LEVELS = ("street", "community", "grid")


def _feature(geom, properties: dict) -> dict:
    return {"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": properties}


def _households(rows: list[dict], buildings: list[dict]) -> dict[str, int]:
    """Households per child, each building counted in the child its point lies in (lowest code on an edge)."""
    totals = {r["code"]: 0 for r in rows}
    if not buildings or not rows:
        return totals
    lon = np.array([b["lon"] for b in buildings], float)
    lat = np.array([b["lat"] for b in buildings], float)
    households = np.array([int(b["households"] or 0) for b in buildings])
    free = np.ones(len(buildings), bool)
    for row in sorted(rows, key=lambda r: r["code"]):  # the lowest code takes a point on a shared edge
        geom = row["geometry"]
        shapely.prepare(geom)
        taken = free & shapely.intersects_xy(geom, lon, lat)
        totals[row["code"]] = int(households[taken].sum())
        free &= ~taken
    return totals


def editor_data(view, code: str, household_ranges: dict) -> dict:
    """The parent ``code`` and everything below it the editor shows, in the caller's change set (or current)."""
    draft = drafts.draft_of(view)
    generation = draft if draft is not None else view.resolve_generation(None)
    parent = view.area(code, generation)
    if parent["level"] not in EDITABLE_LEVELS:
        raise InvalidInputError(
            f"区域 {code} 没有下级区域可编辑 a {parent['level']} has no areas below it to draw: "
            "open its grid or community"
        )
    level = LEVELS[LEVELS.index(parent["level"]) + 1]
    store = view.registry.store
    rows = [r for r in store.areas(generation, parent_code=code) if r["level"] == level]
    box = shapely.bounds(parent.geometry).tolist()
    candidates = store.buildings(bbox=box)
    within = shapely.intersects_xy(parent.geometry, [b["lon"] for b in candidates], [b["lat"] for b in candidates])
    buildings = [b for b, keep in zip(candidates, within, strict=True) if keep]
    households = _households(rows, buildings)
    footprints = len(buildings) <= MAX_FOOTPRINTS
    children = [
        _feature(
            r["geometry"],
            {
                "code": r["code"],
                "name": r["name"],
                "kind": r["kind"],
                "version": area_version(r),
                "households": households[r["code"]],
                "in_change_set": r["generation_low"] == draft,
            },
        )  # fmt: skip
        for r in rows
    ]
    return {
        "generation": generation,
        "change_set": draft,
        "parent": _feature(parent.geometry, {"code": code, "name": parent["name"], "level": parent["level"]}),
        "level": level,
        "household_range": list(household_ranges.get(level, ())) or None,
        "children": {"type": "FeatureCollection", "features": children},
        "buildings": {
            "type": "FeatureCollection",
            "features": [
                _feature(
                    b["geometry"] if footprints else shapely.Point(b["lon"], b["lat"]),
                    {
                        "id": b["id"],
                        "households": int(b["households"] or 0),
                        "lon": b["lon"],
                        "lat": b["lat"],
                        "name": b["name"] or b["address"],
                    },
                )  # fmt: skip
                for b in buildings
            ],
        },
        "footprints": footprints,
        "next_code": next_code(view.registry.layout, code, level, {r["code"] for r in rows}),
    }
