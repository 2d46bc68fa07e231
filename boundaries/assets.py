"""Buildings, service points and workers, and the household counts areas derive from their buildings.

Household estimate (used when a building has no household count): gross floor area / 90 m², where gross
floor area is footprint area × floors and floors is the ``floors`` attribute, else ``height / 3 m``, else 1.
90 m² is a typical Chinese urban dwelling's gross floor area; say so wherever estimated counts are shown.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from boundaries.registry import Registry, frame_from_rows
from boundaries.syncing import AssetImportReport, geometry_key, merge_pieces, source_ids, sync_rows
from core.audit import SYSTEM, Actor, record
from core.errors import InvalidInputError
from geo import topology

__all__ = [
    "SQUARE_METRES_PER_HOUSEHOLD",
    "AssetImportReport",
    "import_roads",
    "estimate_households",
    "import_buildings",
    "import_service_points",
    "buildings",
    "service_points",
    "household_counts",
    "add_worker",
    "workers_of",
]

SQUARE_METRES_PER_HOUSEHOLD = 90.0
_BUILDING_COLUMNS = ["id", "ref", "name", "address", "floors", "households", "vulnerable_households", "use"]
_BUILDING_COLUMNS += ["lon", "lat"]


def estimate_households(footprints, floors=None, heights=None) -> tuple[np.ndarray, np.ndarray]:
    """Floors and estimated households of WGS84 footprints (see the module docstring for the rule)."""
    footprints = np.asarray(footprints, dtype=object)
    n = len(footprints)
    fl = pd.to_numeric(pd.Series(floors if floors is not None else [np.nan] * n), errors="coerce").to_numpy(float)
    ht = pd.to_numeric(pd.Series(heights if heights is not None else [np.nan] * n), errors="coerce").to_numpy(float)
    fl = np.where(
        np.isfinite(fl) & (fl > 0), fl, np.where(np.isfinite(ht) & (ht > 0), np.maximum(np.round(ht / 3), 1), 1)
    )
    households = np.maximum(np.round(topology.areas_m2(footprints) * fl / SQUARE_METRES_PER_HOUSEHOLD), 0)
    return fl.astype(int), households.astype(int)


def _field(gdf, name, default=""):
    if name is None:
        return np.full(len(gdf), default, dtype=object)
    if name not in gdf.columns:
        raise InvalidInputError(f"字段不存在 field {name!r} is not in the file")
    return gdf[name].where(gdf[name].notna(), default).to_numpy(dtype=object)


def _wkb_key(row: dict) -> str:
    return geometry_key(row["geometry"])


def _point_key(kind, lon: float, lat: float) -> tuple:
    return (str(kind), round(float(lon), 8), round(float(lat), 8))


def _prepare(gdf, id_field, object_type, lines=False):
    """The features to import (pieces sharing an id merged) with their ids (``None`` without an id field)."""
    report = AssetImportReport(object_type, matched_by=f"id field {id_field}" if id_field else "geometry")
    if id_field is None:
        report.count = len(gdf)
        return gdf, np.full(len(gdf), None, dtype=object), report
    gdf, report.merged = merge_pieces(gdf, source_ids(gdf, id_field), lines=lines)
    report.count = len(gdf)
    return gdf, gdf["__ref"].to_numpy(dtype=object), report


def _audit(conn, actor, report, **extra) -> None:
    record(conn, actor, "import", report.object_type, "", None, {**report.as_dict(), **extra})


def import_buildings(
    registry: Registry,
    gdf: gpd.GeoDataFrame,
    name_field=None,
    address_field=None,
    floors_field=None,
    households_field=None,
    height_field=None,
    use_field=None,
    id_field=None,
    replace: bool = False,
    actor: Actor = SYSTEM,
    ref_field=None,
) -> AssetImportReport:
    """Import building footprints (WGS84 polygons): add new ones, update changed ones, leave the same ones.

    Features are matched to stored buildings by ``id_field`` (stored as ``ref``), else by geometry; with
    ``replace`` stored buildings the file does not hold are removed (see :mod:`boundaries.syncing`).
    Households come from ``households_field`` where given and numeric, else from :func:`estimate_households`.
    ``ref_field`` is the former name of ``id_field``.

    Returns
    -------
    AssetImportReport
        Added, updated, unchanged and removed counts.
    """
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    polygonal = np.array(
        [g is not None and g.geom_type in ("Polygon", "MultiPolygon") and not g.is_empty for g in geoms]
    )
    if not polygonal.all():
        raise InvalidInputError(
            f"建筑必须是面 buildings must be polygons: feature #{int(np.flatnonzero(~polygonal)[0]) + 1} is not"
        )
    gdf = gdf.set_geometry(topology.repair_polygons(geoms))
    gdf, refs, report = _prepare(gdf, id_field or ref_field, "building")
    report.replace = replace
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    floors, estimate = estimate_households(geoms, _field(gdf, floors_field, np.nan), _field(gdf, height_field, np.nan))
    given = pd.to_numeric(pd.Series(_field(gdf, households_field, np.nan)), errors="coerce").to_numpy(float)
    households = np.where(np.isfinite(given) & (given >= 0), given, estimate).astype(int)
    pts = shapely.point_on_surface(geoms)
    names, addresses = _field(gdf, name_field), _field(gdf, address_field)
    uses = _field(gdf, use_field, "residential")
    rows = [
        {
            "ref": refs[i],
            "name": str(names[i]),
            "address": str(addresses[i]),
            "floors": int(floors[i]),
            "households": int(households[i]),
            "use": str(uses[i]),
            "lon": float(shapely.get_x(pts[i])),
            "lat": float(shapely.get_y(pts[i])),
            "geometry": geoms[i],
        }
        for i in range(len(geoms))
    ]
    keys = [geometry_key(g) for g in geoms]
    with registry.store.transaction() as conn:
        sync_rows(registry.store, conn, "buildings", rows, keys, _wkb_key, replace, report, geometries=list(geoms))
        _audit(conn, actor, report)
    return report


def import_service_points(
    registry: Registry,
    gdf: gpd.GeoDataFrame,
    kind=None,
    kind_field=None,
    name_field=None,
    hours_field=None,
    capacity_field=None,
    address_field=None,
    id_field=None,
    replace: bool = False,
    actor: Actor = SYSTEM,
) -> AssetImportReport:
    """Import service points (WGS84 points; polygons are reduced to a point on their surface).

    Matched by ``id_field``, else by kind and place; with ``replace`` the stored points of the imported kinds that
    the file does not hold are removed (see :mod:`boundaries.syncing`).
    """
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if any(g is None or g.is_empty for g in geoms):
        raise InvalidInputError("服务点缺少位置 a service point has no geometry")
    if kind is None and kind_field is None:
        raise InvalidInputError("请指定服务点类型 give the service-point kind (--kind) or a kind field")
    if id_field is not None:
        ids = source_ids(gdf, id_field)
        repeated = sorted({i for i in ids if list(ids).count(i) > 1})
        if repeated:
            raise InvalidInputError(f"编号重复 service points share an id: {', '.join(repeated[:10])}")
    gdf, refs, report = _prepare(gdf, id_field, "service_point")
    report.replace = replace
    pts = shapely.point_on_surface(np.asarray(gdf.geometry.values, dtype=object))
    kinds = _field(gdf, kind_field, kind) if kind_field else np.full(len(gdf), kind, dtype=object)
    capacity = pd.to_numeric(pd.Series(_field(gdf, capacity_field, np.nan)), errors="coerce").to_numpy(float)
    names, hours, addresses = _field(gdf, name_field), _field(gdf, hours_field), _field(gdf, address_field)
    rows = [
        {
            "ref": refs[i],
            "name": str(names[i]) or f"{kinds[i]} {i + 1}",
            "kind": str(kinds[i]),
            "opening_hours": str(hours[i]),
            "capacity": int(capacity[i]) if np.isfinite(capacity[i]) else None,
            "address": str(addresses[i]),
            "lon": float(shapely.get_x(pts[i])),
            "lat": float(shapely.get_y(pts[i])),
        }
        for i in range(len(pts))
    ]
    keys = [_point_key(r["kind"], r["lon"], r["lat"]) for r in rows]
    imported_kinds = sorted({r["kind"] for r in rows})
    with registry.store.transaction() as conn:
        sync_rows(
            registry.store, conn, "service_points", rows, keys,
            lambda r: _point_key(r["kind"], r["lon"], r["lat"]), replace, report, kinds=imported_kinds,
        )  # fmt: skip
        _audit(conn, actor, report, kinds=imported_kinds)
    return report


#: Road kinds people do not walk along (everything else is walkable in both directions).
NOT_WALKABLE = {"rail", "railway", "subway", "ferry", "motorway", "motorway_link", "construction"}


def import_roads(
    registry: Registry,
    gdf: gpd.GeoDataFrame,
    name_field=None,
    kind_field=None,
    id_field=None,
    replace: bool = False,
    actor: Actor = SYSTEM,
) -> AssetImportReport:
    """Import road centre lines (WGS84 lines), matched by ``id_field`` else by geometry (see ``import_buildings``).

    Kinds in :data:`NOT_WALKABLE` are kept but left out of the walking network.
    """
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    lines = np.array(
        [g is not None and not g.is_empty and g.geom_type in ("LineString", "MultiLineString") for g in geoms]
    )
    if not lines.all():
        bad = int(np.flatnonzero(~lines)[0])
        raise InvalidInputError(
            f"道路必须是线 roads must be lines: feature #{bad + 1} is {getattr(geoms[bad], 'geom_type', 'empty')}"
        )
    gdf, refs, report = _prepare(gdf, id_field, "road", lines=True)
    report.replace = replace
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    names, kinds = _field(gdf, name_field), _field(gdf, kind_field)
    rows = [
        {
            "ref": refs[i],
            "name": str(names[i]),
            "kind": str(kinds[i]),
            "walkable": str(kinds[i]) not in NOT_WALKABLE,
            "geometry": geoms[i],
        }
        for i in range(len(geoms))
    ]
    keys = [geometry_key(g) for g in geoms]
    with registry.store.transaction() as conn:
        sync_rows(registry.store, conn, "roads", rows, keys, _wkb_key, replace, report, geometries=list(geoms))
        _audit(conn, actor, report)
    return report


def roads(registry: Registry, bbox=None) -> gpd.GeoDataFrame:
    """Road centre lines, optionally within a bounding box."""
    return frame_from_rows(registry.store.roads(bbox=bbox), ["id", "name", "kind", "walkable"])


def _area_filter(registry, frame, area_code, generation):
    if area_code is None:
        return frame
    area = registry.area(area_code, generation)
    keep = shapely.covers(area.geometry, shapely.points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)))
    return frame[keep]


def buildings(registry: Registry, bbox=None, area_code=None, generation=None) -> gpd.GeoDataFrame:
    """Buildings in a bounding box and/or whose representative point lies in an area."""
    if area_code is not None and bbox is None:
        bbox = tuple(registry.area(area_code, generation).geometry.bounds)
    frame = frame_from_rows(registry.store.buildings(bbox=bbox), _BUILDING_COLUMNS)
    return _area_filter(registry, frame, area_code, generation)


def service_points(registry: Registry, bbox=None, area_code=None, kind=None, generation=None) -> gpd.GeoDataFrame:
    """Service points in a bounding box and/or an area, optionally of one kind."""
    if area_code is not None and bbox is None:
        bbox = tuple(registry.area(area_code, generation).geometry.bounds)
    rows = registry.store.service_points(bbox=bbox, kind=kind)
    frame = pd.DataFrame(rows, columns=["id", "name", "kind", "opening_hours", "capacity", "address", "lon", "lat"])
    frame = gpd.GeoDataFrame(
        frame, geometry=shapely.points(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)), crs="EPSG:4326"
    )
    return _area_filter(registry, frame, area_code, generation)


def household_counts(registry: Registry, generation=None) -> pd.DataFrame:
    """Buildings and households of every area in a generation, derived from building locations.

    Each building counts in the lowest-level area that contains its representative point; totals are summed up
    the hierarchy through ``parent_code``.

    Returns
    -------
    pandas.DataFrame
        Indexed by code, columns ``buildings`` and ``households``.
    """
    g = registry.resolve_generation(generation)
    key = ("households", g, registry.store.data_version(), registry.cache_version(g))
    cached = registry.cache.get(key)
    if cached is not None:
        return cached
    rows = registry.store.areas(g, geometry=False)
    parents = {r["code"]: r["parent_code"] for r in rows}
    totals = pd.DataFrame(
        0, index=pd.Index([r["code"] for r in rows], name="code"), columns=["buildings", "households"]
    )
    b = registry.store.buildings(geometry=False)
    if rows and b:
        frame = pd.DataFrame(b)
        level = registry.lowest_level(g)
        located = registry.locate(frame["lon"].to_numpy(), frame["lat"].to_numpy(), level=level, generation=g)
        ok = (located["status"] == "ok").to_numpy()
        sums = frame[ok].assign(code=located["code"][ok].to_numpy()).groupby("code")["households"].agg(["count", "sum"])
        for code, (count, total) in sums.iterrows():
            seen = set()
            while code and code in parents and code not in seen:
                seen.add(code)
                totals.loc[code, "buildings"] += int(count)
                totals.loc[code, "households"] += int(total)
                code = parents[code]
    registry.cache.put(key, totals)
    return totals


def add_worker(registry: Registry, name: str, role: str, phone: str = "", area_codes=()) -> int:
    """Add a worker answering for the areas with the given codes."""
    if role not in ("grid_worker", "micro_grid_worker", "dedicated_worker"):
        raise InvalidInputError(f"未知角色 unknown worker role {role!r}")
    with registry.store.transaction() as conn:
        return registry.store.insert_worker(conn, name, role, phone, list(area_codes))


def workers_of(registry: Registry, codes, assets_revision: int | None = None) -> list[dict]:
    """Workers assigned to any of the given area codes, each with the code they answer for.

    With ``assets_revision`` (the database's, read by the caller) the answer comes from a table of every
    assignment cached under that revision: no query.
    """
    if assets_revision is None:
        return registry.store.workers(area_codes=list(codes))

    def build():
        table: dict[str, list[dict]] = {}
        for row in registry.store.workers():
            if row["area_code"] is not None:
                table.setdefault(row["area_code"], []).append(row)
        return table

    table = registry.cache.get_or_build(("workers", assets_revision), build)
    return [row for code in dict.fromkeys(codes) for row in table.get(code, ())]
