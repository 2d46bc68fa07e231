"""Household estimate of OpenStreetMap buildings (the Lujiazui extract): dwellings only, by floor area.

The rule, stated once (say so wherever the estimate is shown):

- A building holds **no households** when it is not a dwelling: its OSM ``kind_detail`` is in
  :data:`NON_DWELLING_KINDS` (offices, shops, hotels, banks, towers, stations, embassies, temples, schools,
  sheds, building sites …), or its land use is non-residential — the building's own ``landuse_kind`` or the kind
  of a land-use polygon holding its point is in :data:`NON_RESIDENTIAL_LANDUSE` (commercial, retail, attraction,
  park, garden, hospital, school, place of worship …) and no residential land-use polygon holds it.
- A **building part** (``kind`` ``building_part``) whose building (``root_id``) is in the data holds none of its own:
  its building counts them (OSM draws parts inside the outline for their heights; counting both counts twice).
- Every other building (``residential``, ``apartments``, ``house``, or untagged): households =
  round(footprint m² × floors / 90 m²), floors = round(height / 3 m), at least 1, and
  :data:`DEFAULT_FLOORS` (6) where the data has no height. 90 m² is a typical Chinese urban dwelling's gross floor
  area (:data:`boundaries.assets.SQUARE_METRES_PER_HOUSEHOLD`).

Many large untagged blocks are in truth offices, so the estimate is high there; it is an estimate, not a count.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries.assets import SQUARE_METRES_PER_HOUSEHOLD
from geo.crs import metric_crs

__all__ = [
    "NON_DWELLING_KINDS",
    "NON_RESIDENTIAL_LANDUSE",
    "RESIDENTIAL_LANDUSE",
    "DEFAULT_FLOORS",
    "RULE",
    "dwellings",
    "estimate_households",
    "osm_buildings",
]

#: OSM building ``kind_detail`` (``building=*``) values that are not dwellings.
NON_DWELLING_KINDS = frozenset(
    {
        "commercial", "office", "hotel", "retail", "bank", "mall", "shop", "supermarket", "kiosk", "attraction",
        "tower", "communications_tower", "transportation", "train_station", "station", "embassy", "government",
        "public", "civic", "place_of_worship", "church", "cathedral", "chapel", "temple", "mosque", "shrine",
        "arts_centre", "museum", "theatre", "cinema", "library", "school", "kindergarten", "university", "college",
        "hospital", "clinic", "industrial", "warehouse", "factory", "manufacture", "shed", "garage", "garages",
        "parking", "carport", "construction", "roof", "service", "toilets", "stadium", "sports_centre",
        "sports_hall", "fire_station", "police", "military", "bunker", "greenhouse", "barn", "bridge", "pavilion",
    }
)  # fmt: skip
#: Land-use kinds (Tilezen ``kind`` of land use, the building's ``landuse_kind``) where nobody lives.
NON_RESIDENTIAL_LANDUSE = frozenset(
    {
        "commercial", "retail", "attraction", "park", "garden", "hospital", "school", "kindergarten", "university",
        "college", "place_of_worship", "forest", "natural_wood", "wood", "grass", "pedestrian", "footway", "parking",
        "recreation_ground", "pitch", "stadium", "sports_centre", "library", "fuel", "pier", "bridge", "industrial",
        "railway", "military", "cemetery", "zoo", "theme_park", "power", "wastewater_plant", "water_works",
    }
)  # fmt: skip
#: Land-use kinds that hold homes: a building in one of these counts even inside a non-residential polygon.
RESIDENTIAL_LANDUSE = frozenset({"residential"})
#: Floors assumed where the data has no height.
DEFAULT_FLOORS = 6
#: The rule in one line, for where the estimate is shown.
RULE = (
    "户数估算：非住宅建筑（商业、办公、酒店、塔、交通、宗教、学校等，或位于非居住用地）和建筑部件为 0，"
    f"其余为 占地面积 × 层数 ÷ 90 平方米，层数 = 高度 ÷ 3 米，无高度按 {DEFAULT_FLOORS} 层 "
    "households estimated: 0 for buildings that are not dwellings (commercial, office, hotel, tower, transport, "
    "worship, school … or on non-residential land) and for building parts, else footprint × floors ÷ 90 m², "
    f"floors = height ÷ 3 m, {DEFAULT_FLOORS} without a height"
)


def _labels(values, n) -> np.ndarray:
    if values is None:
        return np.full(n, "", dtype=object)
    out = pd.Series(values, dtype=object).reset_index(drop=True)
    return out.where(out.notna(), "").astype(str).str.strip().str.lower().to_numpy(dtype=object)


def dwellings(kind_detail=None, landuse_kind=None, points=None, landuse=None) -> np.ndarray:
    """Whether each building may hold households (see the module docstring for the rule).

    Parameters
    ----------
    kind_detail : array_like of str or None, optional
        The buildings' OSM ``kind_detail``.
    landuse_kind : array_like of str or None, optional
        The buildings' own ``landuse_kind``.
    points : array_like of shapely.Point, optional
        The buildings' points (same CRS as ``landuse``); needed with ``landuse``.
    landuse : geopandas.GeoDataFrame, optional
        Land-use features with a ``kind`` column; only polygons count.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> dwellings(["apartments", "office", None, None], [None, None, "retail", None]).tolist()
    [True, False, False, True]
    """
    sizes = [len(v) for v in (kind_detail, landuse_kind, points) if v is not None]
    n = sizes[0] if sizes else 0
    kinds, uses = _labels(kind_detail, n), _labels(landuse_kind, n)
    out = ~np.isin(kinds, list(NON_DWELLING_KINDS)) & ~np.isin(uses, list(NON_RESIDENTIAL_LANDUSE))
    if landuse is not None and points is not None and len(landuse) and n:
        polygons = landuse[landuse.geom_type.isin(["Polygon", "MultiPolygon"])]
        polygon_kinds = _labels(polygons["kind"], len(polygons))
        p, k = shapely.STRtree(polygons.geometry.values).query(np.asarray(points, dtype=object), predicate="within")
        other = np.zeros(n, bool)
        homes = np.zeros(n, bool)
        other[p[np.isin(polygon_kinds[k], list(NON_RESIDENTIAL_LANDUSE))]] = True
        homes[p[np.isin(polygon_kinds[k], list(RESIDENTIAL_LANDUSE))]] = True
        out &= ~(other & ~homes)
    return out


def estimate_households(footprints_m2, heights=None, dwelling=None) -> np.ndarray:
    """Households per building: footprint × floors / 90 m² for dwellings, 0 for the others.

    Parameters
    ----------
    footprints_m2 : array_like of float
        Footprint areas in square metres.
    heights : array_like of float, optional
        Heights in metres (missing, zero or negative: :data:`DEFAULT_FLOORS` floors).
    dwelling : array_like of bool, optional
        From :func:`dwellings`; default all.

    Returns
    -------
    numpy.ndarray of int

    Examples
    --------
    >>> estimate_households([900.0, 900.0, 900.0], [30.0, None, 30.0], [True, True, False]).tolist()
    [100, 60, 0]
    """
    area = np.asarray(footprints_m2, dtype=float)
    height = pd.to_numeric(pd.Series(heights if heights is not None else [np.nan] * len(area)), errors="coerce")
    height = height.to_numpy(float)
    known = np.isfinite(height) & (height > 0)
    floors = np.where(known, np.maximum(1, np.round(np.where(known, height, 0) / 3)), DEFAULT_FLOORS)
    households = np.round(area * floors / SQUARE_METRES_PER_HOUSEHOLD).astype(int)
    if dwelling is not None:
        households = np.where(np.asarray(dwelling, dtype=bool), households, 0)
    return households


def osm_buildings(pieces: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """OSM building pieces (Tilezen tiles) merged by ``id``, with their point and estimated households.

    Parameters
    ----------
    pieces : geopandas.GeoDataFrame
        WGS84 footprints with ``id`` and optionally ``height``, ``kind``, ``root_id``, ``kind_detail``,
        ``landuse_kind``; pieces clipped at tile edges share an ``id`` (merged: the highest height, the first tag
        given).
    landuse : geopandas.GeoDataFrame, optional
        WGS84 land use (``kind``), e.g. ``lujiazui/landuse.geojson``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per building (WGS84): ``id``, ``height``, ``kind``, ``root_id``, ``kind_detail``, ``landuse_kind``,
        ``footprint_m2``, ``dwelling``, ``part`` (a building part of a building in the data), ``households``,
        ``lon``, ``lat`` (a point on the footprint, from the local metric CRS).
    """
    frame = pieces.copy()
    tags = ("kind", "root_id", "kind_detail", "landuse_kind")
    for column in ("height", *tags):
        if column not in frame.columns:
            frame[column] = None
    frame["height"] = pd.to_numeric(frame["height"], errors="coerce")
    merged = frame.dissolve(by="id", aggfunc={"height": "max"} | dict.fromkeys(tags, "first")).reset_index()
    x0, y0 = shapely.centroid(shapely.box(*merged.total_bounds)).coords[0]
    metric = merged.to_crs(metric_crs(x0, y0))
    points = metric.representative_point().to_crs(4326)
    merged["footprint_m2"] = metric.area.to_numpy()
    merged["dwelling"] = dwellings(merged["kind_detail"], merged["landuse_kind"], points.values, landuse)
    merged["part"] = (merged["kind"] == "building_part").to_numpy() & merged["root_id"].isin(merged["id"]).to_numpy()
    counted = merged["dwelling"].to_numpy() & ~merged["part"].to_numpy()
    merged["households"] = estimate_households(merged["footprint_m2"], merged["height"], counted)
    merged["lon"], merged["lat"] = points.x.to_numpy(), points.y.to_numpy()
    return merged
