"""What the coverage map page draws, cut from one :class:`~serving.analysis.CoverageResult` for the view.

The page loads these as small JSON answers rather than carrying every geometry in its HTML:

- :func:`area_rows` — one level's per-area shares (the same figures as the coverage API's ``areas``), joined in
  the browser to the area polygons of the vector tiles by code;
- :func:`reach_outline` — the area within reach of any service point as ONE outline (the union of the reach
  polygons), simplified for the zoom and capped at :data:`MAX_OUTLINE_VERTICES`;
- :func:`buildings_in_view` — the buildings of a bounding box that no service point reaches (the actionable
  ones; covered ones only from :data:`COVERED_ZOOM`), most households first, at most ``limit``, saying how many
  more there are.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from boundaries.layers import tolerance_deg
from boundaries.levels import LEVELS
from serving.analysis import CoverageResult

__all__ = [
    "AREA_COLUMNS",
    "BUILDING_COLUMNS",
    "COVERED_ZOOM",
    "MAX_BUILDINGS",
    "MAX_OUTLINE_VERTICES",
    "area_rows",
    "buildings_in_view",
    "levels_of",
    "reach_outline",
    "reach_union",
]

#: The columns of :func:`area_rows`' rows.
AREA_COLUMNS = ("code", "name", "covered_share", "households", "covered_households", "uncovered_buildings")
#: The columns of :func:`buildings_in_view`'s rows.
BUILDING_COLUMNS = ("id", "lon", "lat", "covered", "households", "nearest_m", "name")
#: The most buildings one answer carries.
MAX_BUILDINGS = 5_000
#: The zoom from which covered buildings are listed too (below it only the uncovered ones).
COVERED_ZOOM = 17
#: The most vertices the reach outline carries at any zoom (simplified further until it fits).
MAX_OUTLINE_VERTICES = 20_000


def _number(value):
    """A JSON-ready number: ``None`` for NaN, an ``int`` for a whole number."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    value = float(value)
    return int(value) if value.is_integer() else value


def levels_of(result: CoverageResult) -> list[str]:
    """The levels that have per-area figures in ``result``, from the top down."""
    present = set(result.areas["level"]) if "level" in result.areas.columns else set()
    return [level for level in LEVELS if level in present]


def area_rows(result: CoverageResult, level: str) -> list[list]:
    """The per-area figures of one level as rows of :data:`AREA_COLUMNS` (share ``None`` with no households).

    Parameters
    ----------
    result : CoverageResult
    level : str
        One of :func:`levels_of`; another level gives no rows.

    Returns
    -------
    list of list
        ``[code, name, covered_share, households, covered_households, uncovered_buildings]`` ordered by code.
    """
    if "level" not in result.areas.columns:
        return []
    frame = result.areas[result.areas["level"] == level].sort_values("code")
    return [
        [str(r.code), str(r.name), _number(r.covered_share), *(int(getattr(r, c)) for c in AREA_COLUMNS[3:])]
        for r in frame.itertuples(index=False)
    ]


def reach_union(result: CoverageResult):
    """The union of every reach polygon of ``result`` (an empty polygon when there is none)."""
    polygons = result.reach_polygons
    if polygons.empty:
        return shapely.Polygon()
    return shapely.union_all(np.asarray(polygons.geometry.values, dtype=object))


def reach_outline(union, zoom: int, max_vertices: int = MAX_OUTLINE_VERTICES) -> dict | None:
    """The reach as one GeoJSON geometry simplified for ``zoom``, at most ``max_vertices`` vertices.

    Parameters
    ----------
    union : shapely geometry
        The reach, from :func:`reach_union`.
    zoom : int
        The map's zoom: the outline is simplified by half a screen pixel (kept whole from zoom 17).
    max_vertices : int
        A cap for any extent: the tolerance doubles until the outline fits.

    Returns
    -------
    dict or None
        A GeoJSON (Multi)Polygon, or ``None`` when nothing is within reach.
    """
    if union is None or union.is_empty:
        return None
    tolerance = tolerance_deg(zoom)
    shape = shapely.simplify(union, tolerance, preserve_topology=True) if tolerance else union
    step = tolerance or 1e-6
    while shapely.get_num_coordinates(shape) > max_vertices:
        step *= 2
        shape = shapely.simplify(union, step, preserve_topology=True)
    return shapely.geometry.mapping(shapely.set_precision(shape, 1e-7))


def buildings_in_view(result: CoverageResult, bbox, zoom: int, limit: int = MAX_BUILDINGS) -> dict:
    """The buildings whose point lies in ``bbox``: the uncovered ones, and the covered ones from :data:`COVERED_ZOOM`.

    Parameters
    ----------
    result : CoverageResult
    bbox : tuple of float
        ``(minlon, minlat, maxlon, maxlat)``.
    zoom : int
        The map's zoom.
    limit : int
        The most rows returned: uncovered buildings first, most households first, then by id.

    Returns
    -------
    dict
        ``columns`` (:data:`BUILDING_COLUMNS`), ``buildings`` (rows; ``nearest_m`` ``None`` beyond reach),
        ``uncovered`` (how many uncovered buildings lie in the box), ``covered`` (how many covered ones, or ``None``
        when they are not listed at this zoom), ``limit`` and ``truncated`` (whether some were left out).
    """
    b = result.buildings
    minx, miny, maxx, maxy = bbox
    lon, lat = b["lon"].to_numpy(float), b["lat"].to_numpy(float)
    inside = (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)
    covered = b["covered"].to_numpy(bool)
    with_covered = zoom >= COVERED_ZOOM
    chosen = inside & (~covered | with_covered)
    rows = np.flatnonzero(chosen)
    households = b["households"].to_numpy(float)
    ids = b["id"].to_numpy()
    order = np.lexsort((ids[rows], -households[rows], covered[rows]))  # uncovered first, then most households
    rows = rows[order][:limit]
    nearest = b["nearest_m"].to_numpy(float)
    names = b["name"].to_numpy(object)
    out = [
        [
            int(ids[i]),
            round(float(lon[i]), 6),
            round(float(lat[i]), 6),
            bool(covered[i]),
            int(households[i]),
            _number(nearest[i]),
            "" if names[i] is None else str(names[i]),
        ]
        for i in rows
    ]
    return {
        "columns": list(BUILDING_COLUMNS),
        "buildings": out,
        "uncovered": int((inside & ~covered).sum()),
        "covered": int((inside & covered).sum()) if with_covered else None,
        "limit": limit,
        "truncated": int(chosen.sum()) > len(out),
    }
