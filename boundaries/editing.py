"""Changes made through the API: areas drawn in the draft, publishing, buildings and service points.

Every function takes the caller's :class:`~boundaries.scope.ScopedRegistry`, refuses what lies outside the
caller's scope, and writes the change and its audit entry (before and after) in one transaction.
"""

from __future__ import annotations

import numpy as np
import shapely

from boundaries.audit import record
from boundaries.errors import ConflictError, InvalidInputError, NotFoundError
from boundaries.levels import check_kind, check_level, parent_level
from boundaries.registry import wkb_row
from boundaries.scope import ScopedRegistry
from geo import topology
from geo.crs import check_lonlat

__all__ = [
    "create_area",
    "update_area",
    "retire_area",
    "publish",
    "discard",
    "update_building",
    "create_service_point",
    "update_service_point",
    "delete_service_point",
    "BUILDING_FIELDS",
    "SERVICE_POINT_FIELDS",
]

_AREA_KEYS = ("code", "level", "name", "kind", "parent_code")
#: Fields of a building that may be edited.
BUILDING_FIELDS = ("name", "address", "floors", "households", "use")
#: Fields of a service point that may be set.
SERVICE_POINT_FIELDS = ("name", "kind", "opening_hours", "capacity", "address", "lon", "lat")


def _polygon(geometry) -> shapely.Geometry:
    """A valid WGS84 polygon from GeoJSON (dict) or shapely, or a clear error."""
    try:
        geom = geometry if isinstance(geometry, shapely.Geometry) else shapely.geometry.shape(geometry)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, shapely.errors.GEOSException) as exc:
        raise InvalidInputError(f"几何格式错误 invalid GeoJSON geometry: {exc}") from exc
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInputError(f"区域必须是面 an area must be a Polygon or MultiPolygon, not {geom.geom_type}")
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise InvalidInputError("坐标不是有限数 coordinates must be finite numbers")
    check_lonlat(coords[:, 0], coords[:, 1], "区域边界 area boundary")
    reasons = topology.invalid_reasons(np.array([geom], dtype=object))
    if reasons:
        raise InvalidInputError(f"无效面 invalid polygon: {reasons[0]}; fix the drawing and send it again")
    return geom


def _checks(view: ScopedRegistry, conn, draft, code, geom, parent_code) -> dict:
    """Drawing-rule findings for one area: outside its parent, overlapping its siblings (m²)."""
    store = view.registry.store
    found = {"outside_parent_m2": 0.0, "overlaps": []}
    if parent_code is not None:
        parent = store.areas(draft, codes=[parent_code], conn=conn)
        if parent:
            parent_geom = shapely.from_wkb(parent[0]["geometry"])
            outside = topology.outside_parent(np.array([geom], dtype=object), np.array([parent_geom], dtype=object))
            found["outside_parent_m2"] = round(float(outside[0]), 2)
    siblings = [r for r in store.areas(draft, parent_code=parent_code, conn=conn) if r["code"] != code]
    if siblings:
        geoms = np.array([geom, *shapely.from_wkb([r["geometry"] for r in siblings])], dtype=object)
        found["overlaps"] = [
            {"code": siblings[j - 1]["code"], "area_m2": round(a, 2)}
            for i, j, a in topology.overlapping_pairs(geoms)
            if i == 0
        ]
    return found


def _as_record(row: dict) -> dict:
    out = {k: row[k] for k in _AREA_KEYS}
    if "geometry" in row:
        geom = row["geometry"]
        geom = shapely.from_wkb(geom) if isinstance(geom, bytes | memoryview) else geom
        out["geometry"] = shapely.geometry.mapping(geom)
    return out


def _draft(view: ScopedRegistry, code=None, parent_code=None) -> int:
    """The draft generation after checking the caller may change ``code`` (or add under ``parent_code``).

    The check runs against the draft, or the current generation when there is no draft yet; the draft is
    created (empty) only after the check passed, so a refused request leaves nothing behind.
    """
    store = view.registry.store
    draft = store.draft_generation_id()
    generation = draft or store.current_generation_id()
    if code is not None:
        rows = store.areas(generation, codes=[code], geometry=False) if generation else []
        if not rows:
            raise NotFoundError(f"区域不存在 no area with code {code!r}")
        parent_code = rows[0]["parent_code"]
    if generation is not None or not view.scope.unrestricted:
        view.require_below(parent_code, generation)
    if draft is None:
        with store.transaction() as conn:
            draft = store.draft_generation_id(conn) or store.create_generation(conn, "")
    return draft


def _draft_row(view, conn, draft, code) -> dict | None:
    rows = view.registry.store.areas(draft, codes=[code], conn=conn)
    return rows[0] if rows else None


def create_area(view: ScopedRegistry, code, level, name, parent_code, geometry, kind="general") -> dict:
    """Add an area to the draft under ``parent_code`` (which must be in the caller's scope)."""
    check_level(level)
    check_kind(kind)
    code, name = str(code).strip(), str(name).strip()
    if not code or not name:
        raise InvalidInputError("编码和名称不能为空 code and name are required")
    geom = _polygon(geometry)
    draft = _draft(view, parent_code=parent_code)
    with view.registry.store.transaction() as conn:
        if _draft_row(view, conn, draft, code) is not None:
            raise ConflictError(f"编码已存在 an area with code {code!r} already exists in the draft")
        parent = view.registry.store.areas(draft, codes=[parent_code], conn=conn) if parent_code else []
        if parent_code and not parent:
            raise NotFoundError(f"上级区域不存在 parent {parent_code!r} is not in the draft")
        if parent and parent_level(level) != parent[0]["level"]:
            raise InvalidInputError(
                f"层级不匹配 a {level} must lie under a {parent_level(level)}, not a {parent[0]['level']}"
            )
        row = {"code": code, "level": level, "name": name, "kind": kind, "parent_code": parent_code}
        view.registry.store.insert_areas(conn, [{**row, "generation_low": draft, **wkb_row(geom)}])
        checks = _checks(view, conn, draft, code, geom, parent_code)
        record(conn, view.actor, "create", "area", code, None, {**_as_record({**row, "geometry": geom})})
    view.registry._invalidate()
    return {"generation": draft, "area": row, "checks": checks}


def update_area(view: ScopedRegistry, code, name=None, kind=None, geometry=None) -> dict:
    """Change an area's name, kind and/or boundary in the draft."""
    if name is None and kind is None and geometry is None:
        raise InvalidInputError("没有要修改的字段 nothing to change: send name, kind or geometry")
    if kind is not None:
        check_kind(kind)
    geom = _polygon(geometry) if geometry is not None else None
    draft = _draft(view, code=code)
    with view.registry.store.transaction() as conn:
        old = _draft_row(view, conn, draft, code)
        if old is None:
            raise NotFoundError(f"区域不存在 no area with code {code!r} in the draft")
        new = {k: old[k] for k in _AREA_KEYS}
        if name is not None:
            if not str(name).strip():
                raise InvalidInputError("名称不能为空 name must not be empty")
            new["name"] = str(name).strip()
        if kind is not None:
            new["kind"] = kind
        new_geom = geom if geom is not None else shapely.from_wkb(old["geometry"])
        view.registry.store.replace_draft_area(conn, draft, old, {**new, **wkb_row(new_geom)})
        checks = _checks(view, conn, draft, code, new_geom, new["parent_code"])
        record(conn, view.actor, "update", "area", code, _as_record(old), _as_record({**new, "geometry": new_geom}))
    view.registry._invalidate()
    return {"generation": draft, "area": new, "checks": checks}


def retire_area(view: ScopedRegistry, code) -> dict:
    """Remove an area from the draft; refused while areas below it remain."""
    draft = _draft(view, code=code)
    with view.registry.store.transaction() as conn:
        old = _draft_row(view, conn, draft, code)
        if old is None:
            raise NotFoundError(f"区域不存在 no area with code {code!r} in the draft")
        if view.registry.store.areas(draft, parent_code=code, geometry=False, conn=conn):
            raise ConflictError(f"区域 {code} 下仍有下级区域 area {code!r} still has areas below it; remove them first")
        view.registry.store.replace_draft_area(conn, draft, old, None)
        record(conn, view.actor, "delete", "area", code, _as_record(old), None)
    view.registry._invalidate()
    return {"generation": draft, "code": code}


def _check_draft_scope(view: ScopedRegistry):
    def check(conn, draft, changes):
        if view.scope.unrestricted:
            return
        current = view.registry.store.current_generation_id()
        for row in changes:
            generation = draft if row["generation_low"] == draft else current
            view.require_below(row["parent_code"], generation)

    return check


def publish(view: ScopedRegistry) -> int:
    """Publish the draft; a planner may publish only a draft whose every change lies under their areas."""
    return view.registry.publish(view.actor, _check_draft_scope(view))


def discard(view: ScopedRegistry) -> int:
    """Discard the draft (same scope rule as :func:`publish`)."""
    return view.registry.discard_draft(view.actor, _check_draft_scope(view))


def _clean(values: dict, allowed) -> dict:
    if not values:
        raise InvalidInputError("没有要修改的字段 nothing to change: send at least one field")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidInputError(f"不能修改的字段 fields that cannot be set: {', '.join(unknown)}")
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}


def update_building(view: ScopedRegistry, building_id: int, changes: dict) -> dict:
    """Edit a building's attributes (its footprint comes from imports)."""
    changes = _clean(changes, BUILDING_FIELDS)
    for key in ("floors", "households"):
        if key in changes and (not isinstance(changes[key], int) or changes[key] < 0):
            raise InvalidInputError(f"{key} 必须是非负整数 must be a non-negative integer")
    old = view.building(building_id)
    with view.registry.store.transaction() as conn:
        view.registry.store.update_one(conn, "buildings", int(building_id), changes)
        record(conn, view.actor, "update", "building", building_id, old, {**old, **changes})
    return {**old, **changes}


def _point_values(values: dict) -> dict:
    for key in ("lon", "lat"):
        if key in values and not isinstance(values[key], int | float):
            raise InvalidInputError(f"{key} 必须是数字 must be a number")
    if "lon" in values or "lat" in values:
        check_lonlat(np.array([values.get("lon", 0.0)]), np.array([values.get("lat", 0.0)]), "服务点 service point")
    if (
        "capacity" in values
        and values["capacity"] is not None
        and (not isinstance(values["capacity"], int) or values["capacity"] < 0)
    ):
        raise InvalidInputError("capacity 必须是非负整数 must be a non-negative integer")
    for key in ("name", "kind"):
        if key in values and not values[key]:
            raise InvalidInputError(f"{key} 不能为空 must not be empty")
    return values


def create_service_point(view: ScopedRegistry, values: dict) -> dict:
    """Add a service point inside the caller's areas."""
    values = _point_values(_clean(values, SERVICE_POINT_FIELDS))
    missing = [k for k in ("name", "kind", "lon", "lat") if k not in values]
    if missing:
        raise InvalidInputError(f"缺少字段 missing fields: {', '.join(missing)}")
    view.require_point(values["lon"], values["lat"])
    with view.registry.store.transaction() as conn:
        point_id = view.registry.store.insert_one(conn, "service_points", values)
        record(conn, view.actor, "create", "service_point", point_id, None, values)
    return {"id": point_id, **values}


def update_service_point(view: ScopedRegistry, point_id: int, changes: dict) -> dict:
    """Change a service point; moving it requires the new place to be in scope too."""
    changes = _point_values(_clean(changes, SERVICE_POINT_FIELDS))
    old = view.service_point(point_id)
    new = {**old, **changes}
    view.require_point(new["lon"], new["lat"])
    with view.registry.store.transaction() as conn:
        view.registry.store.update_one(conn, "service_points", int(point_id), changes)
        record(conn, view.actor, "update", "service_point", point_id, old, new)
    return new


def delete_service_point(view: ScopedRegistry, point_id: int) -> dict:
    """Delete a service point."""
    old = view.service_point(point_id)
    with view.registry.store.transaction() as conn:
        view.registry.store.delete_one(conn, "service_points", int(point_id))
        record(conn, view.actor, "delete", "service_point", point_id, old, None)
    return old
