"""Changes made through the API: areas drawn in the draft, publishing, buildings and service points.

Every function takes the caller's :class:`~boundaries.scope.ScopedRegistry`, refuses what lies outside the
caller's scope, and writes the change and its audit entry (before and after) in one transaction.
"""

from __future__ import annotations

import re

import numpy as np
import shapely

from boundaries import drafts
from boundaries.codes import check_code
from boundaries.drafts import OUTSIDE_PARENT_TOLERANCE_M2
from boundaries.levels import check_kind, check_level, parent_level
from boundaries.scope import ScopedRegistry
from boundaries.versions import area_version, check_version, row_version
from core.audit import record
from core.errors import ConflictError, InvalidInputError, NotFoundError
from geo import topology
from geo.crs import WGS84, check_area_of_use, check_lonlat, geometries_to_wgs84, normalize_crs

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
    "OUTSIDE_PARENT_TOLERANCE_M2",
    "clean_name",
    "numeric_positions",
]

_AREA_KEYS = ("code", "level", "name", "kind", "parent_code")
#: Fields of a building that may be edited.
BUILDING_FIELDS = ("name", "address", "floors", "households", "vulnerable_households", "use")
#: Fields of a service point that may be set.
SERVICE_POINT_FIELDS = ("name", "kind", "opening_hours", "capacity", "address", "lon", "lat")


def _closed_rings(geometry: dict) -> None:
    """Refuse GeoJSON polygons whose rings are not closed (shapely would close them silently)."""
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    polygons = [coordinates] if kind == "Polygon" else coordinates if kind == "MultiPolygon" else None
    if not isinstance(polygons, list | tuple):
        return  # not a polygon, or no coordinates: refused below with shapely's reason
    for p, rings in enumerate(polygons):
        if not isinstance(rings, list | tuple):
            raise InvalidInputError(f"几何格式错误 invalid GeoJSON geometry: polygon {p} is not a list of rings")
        for r, ring in enumerate(rings):
            if not isinstance(ring, list | tuple) or len(ring) < 4:
                raise InvalidInputError(
                    f"环的点数不足 ring {r} of polygon {p} needs at least 4 positions (closed: last = first)"
                )
            first, last = ring[0], ring[-1]
            if isinstance(first, list | tuple) and isinstance(last, list | tuple) and list(first) != list(last):
                raise InvalidInputError(
                    f"环未闭合 ring {r} of polygon {p} is not closed: its last position {list(last)} must equal its "
                    f"first {list(first)} (RFC 7946)"
                )


#: Characters an area's name may not hold: controls (tab and line breaks too), bidirectional overrides and
#: isolates (they make a name read backwards), lone surrogates, U+FFFE/U+FFFF.
_BAD_NAME = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def clean_name(name) -> str:
    """An area's name, stripped.

    Refused (:class:`InvalidInputError`) when blank, longer than 200 characters or holding characters a name may
    not (controls, bidirectional overrides, lone surrogates).
    """
    if not isinstance(name, str):
        raise InvalidInputError("名称应为文本 the name must be text")
    name = name.strip()
    if not name:
        raise InvalidInputError("名称不能为空 the name must not be blank")
    if len(name) > 200:
        raise InvalidInputError("名称过长 the name is longer than 200 characters")
    bad = _BAD_NAME.search(name)
    if bad:
        raise InvalidInputError(
            f"名称含有不允许的字符 the name holds a character it may not (U+{ord(bad.group()):04X}: a control, "
            "a bidirectional override or a lone surrogate)"
        )
    return name


def numeric_positions(coordinates, depth: int) -> None:
    """Refuse GeoJSON ``coordinates`` nested ``depth`` levels above positions whose numbers are not numbers."""
    stack = [(coordinates, depth)]
    while stack:
        value, level = stack.pop()
        if not isinstance(value, list | tuple):
            raise InvalidInputError("坐标格式错误 coordinates must be nested arrays of numbers")
        if level == 0:
            if not 2 <= len(value) <= 3 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value
            ):
                raise InvalidInputError(
                    f"坐标应为数字 every position must be [longitude, latitude] numbers, not {str(value)[:60]}"
                )
            continue
        stack.extend((v, level - 1) for v in value)


def _polygon(geometry, crs=WGS84) -> shapely.Geometry:
    """A valid WGS84 polygon from GeoJSON (dict) or shapely in ``crs``, or a clear error.

    Coordinates must lie where ``crs`` can describe them (:func:`geo.crs.check_area_of_use`: lon/lat range with
    a hint when swapped; for an EPSG code its area of use); they are converted to WGS84 before any other check.
    """
    if isinstance(geometry, dict):
        kind = geometry.get("type")
        if kind not in ("Polygon", "MultiPolygon"):
            raise InvalidInputError(
                f"区域必须是面 an area must be a GeoJSON Polygon or MultiPolygon geometry, not {kind!r}"
            )
        numeric_positions(geometry.get("coordinates"), 2 if kind == "Polygon" else 3)
        _closed_rings(geometry)
    try:
        geom = geometry if isinstance(geometry, shapely.Geometry) else shapely.geometry.shape(geometry)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, shapely.errors.GEOSException) as exc:
        raise InvalidInputError(f"几何格式错误 invalid GeoJSON geometry: {exc}") from exc
    if geom.is_empty:
        raise InvalidInputError("区域边界为空 the area's outline is empty")
    geom = shapely.force_2d(geom)  # a height means nothing to an area (and 1e308 would be stored as such)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInputError(f"区域必须是面 an area must be a Polygon or MultiPolygon, not {geom.geom_type}")
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise InvalidInputError("坐标不是有限数 coordinates must be finite numbers")
    check_area_of_use(coords[:, 0], coords[:, 1], crs, "区域边界 area boundary")
    geom = geometries_to_wgs84(np.array([geom], dtype=object), crs)[0]
    coords = shapely.get_coordinates(geom)
    check_lonlat(coords[:, 0], coords[:, 1], "区域边界 area boundary")
    reasons = topology.invalid_reasons(np.array([geom], dtype=object))
    if reasons:
        raise InvalidInputError(f"无效面 invalid polygon: {reasons[0]}; fix the drawing and send it again")
    return geom


def _checks(store, conn, draft, code, geom, parent_code) -> dict:
    """Drawing-rule findings for one area: outside its parent, overlapping its siblings (m²)."""
    found = {"outside_parent_m2": 0.0, "overlaps": []}
    if parent_code is not None:
        parent = store.areas(draft, codes=[parent_code], conn=conn)
        if parent:
            parent_geom = parent[0]["geometry"]
            outside = topology.outside_parent(
                np.array([geom], dtype=object),
                np.array([parent_geom], dtype=object),
                min_area_m2=OUTSIDE_PARENT_TOLERANCE_M2,
            )
            found["outside_parent_m2"] = round(float(outside[0]), 2)
    siblings = [r for r in store.areas(draft, parent_code=parent_code, conn=conn) if r["code"] != code]
    if siblings:
        geoms = np.array([geom, *(r["geometry"] for r in siblings)], dtype=object)
        found["overlaps"] = [
            {"code": siblings[j - 1]["code"], "area_m2": round(a, 2)}
            for i, j, a in topology.overlapping_pairs(geoms)
            if i == 0
        ]
    return found


def _refuse_outside_parent(code, parent_code, outside_m2: float) -> None:
    if outside_m2 > 0:
        raise InvalidInputError(
            f"区域 {code} 超出上级区域 {parent_code} {outside_m2:.2f} 平方米 area {code!r} lies {outside_m2:.2f} m² "
            f"outside its parent area {parent_code!r} (tolerance {OUTSIDE_PARENT_TOLERANCE_M2:g} m²): "
            f"redraw it inside {parent_code}"
        )


def _as_record(row: dict) -> dict:
    out = {k: row[k] for k in _AREA_KEYS}
    if "geometry" in row:
        out["geometry"] = shapely.geometry.mapping(row["geometry"])
    return out


def _draft_row(store, conn, draft, code) -> dict | None:
    rows = store.areas(draft, codes=[code], conn=conn)
    return rows[0] if rows else None


def _state(draft: int, row: dict) -> dict:
    """An area as the change answers show it."""
    return {"generation": draft, "area": _as_record(row)}


def create_area(view: ScopedRegistry, code, level, name, parent_code, geometry, kind="general", crs=WGS84) -> dict:
    """Add an area to the draft under ``parent_code`` (which must be in the caller's scope).

    ``geometry`` is in ``crs`` (see :func:`geo.crs.normalize_crs`; default WGS84) and stored in WGS84.
    The answer carries the new row's ``version`` (its ETag). An area drawn more than
    :data:`OUTSIDE_PARENT_TOLERANCE_M2` outside its parent is refused, naming the parent; so is a code that does
    not extend a parent code of the registry's layout (:meth:`~boundaries.codes.CodeLayout.child_problem`).
    """
    check_level(level)
    check_kind(kind)
    code, name = str(code).strip(), clean_name(name)
    if not code:
        raise InvalidInputError("编码和名称不能为空 code and name are required")
    check_code(code)
    geom = _polygon(geometry, normalize_crs(crs))
    store = view.registry.store
    with store.transaction() as conn:
        draft = drafts.open_draft(store, conn, view.actor)
        drafts.require_below(view, conn, draft, parent_code)
        if _draft_row(store, conn, draft, code) is not None:
            raise ConflictError(f"编码已存在 an area with code {code!r} already exists in the draft")
        parent = store.areas(draft, codes=[parent_code], geometry=False, conn=conn) if parent_code else []
        if parent_code and not parent:
            raise NotFoundError(f"上级区域不存在 parent {parent_code!r} is not in the draft")
        if parent and parent_level(level) != parent[0]["level"]:
            raise InvalidInputError(
                f"层级不匹配 a {level} must lie under a {parent_level(level)}, not a {parent[0]['level']}"
            )
        view.registry.layout.check_child(code, level, parent_code)
        checks = _checks(store, conn, draft, code, geom, parent_code)
        _refuse_outside_parent(code, parent_code, checks["outside_parent_m2"])
        row = {"code": code, "level": level, "name": name, "kind": kind, "parent_code": parent_code}
        new_id = store.insert_area(conn, {**row, "generation_low": draft, "geometry": geom})
        record(conn, view.actor, "create", "area", code, None, {**_as_record({**row, "geometry": geom})})
    version = area_version({**row, "id": new_id, "generation_low": draft, "geometry": geom})
    return {"generation": draft, "area": row, "checks": checks, "version": version}


def update_area(view: ScopedRegistry, code, name=None, kind=None, geometry=None, if_match=None, crs=WGS84) -> dict:
    """Change an area's name, kind and/or boundary (given in ``crs``, as in :func:`create_area`) in the draft.

    ``if_match``: the versions (ETags) the caller accepts, ``{"*"}``, or ``None`` (no condition); a stale one
    is refused with :class:`~boundaries.versions.PreconditionFailedError` carrying the current state.
    """
    if name is None and kind is None and geometry is None:
        raise InvalidInputError("没有要修改的字段 nothing to change: send name, kind or geometry")
    if kind is not None:
        check_kind(kind)
    if name is not None:
        name = clean_name(name)
    crs = normalize_crs(crs)
    geom = _polygon(geometry, crs) if geometry is not None else None
    store = view.registry.store
    with store.transaction() as conn:
        draft = drafts.open_draft(store, conn, view.actor)
        old = _draft_row(store, conn, draft, code)
        if old is None:
            raise NotFoundError(f"区域不存在 no area with code {code!r} in the draft")
        drafts.require_below(view, conn, draft, old["parent_code"])
        check_version(if_match, area_version(old), _state(draft, old), ("区域", "area"))
        new = {k: old[k] for k in _AREA_KEYS}
        if name is not None:
            new["name"] = name
        if kind is not None:
            new["kind"] = kind
        new_geom = geom if geom is not None else old["geometry"]
        checks = _checks(store, conn, draft, code, new_geom, new["parent_code"])
        if geom is not None:
            _refuse_outside_parent(code, new["parent_code"], checks["outside_parent_m2"])
        new_id = store.replace_draft_area(conn, draft, old, {**new, "geometry": new_geom})
        record(conn, view.actor, "update", "area", code, _as_record(old), _as_record({**new, "geometry": new_geom}))
    version = area_version({**new, "id": new_id, "generation_low": draft, "geometry": new_geom})
    return {"generation": draft, "area": new, "checks": checks, "version": version}


def retire_area(view: ScopedRegistry, code, if_match=None) -> dict:
    """Remove an area from the draft; refused while areas below it remain.

    ``if_match`` as in :func:`update_area`.
    """
    store = view.registry.store
    with store.transaction() as conn:
        draft = drafts.open_draft(store, conn, view.actor)
        old = _draft_row(store, conn, draft, code)
        if old is None:
            raise NotFoundError(f"区域不存在 no area with code {code!r} in the draft")
        drafts.require_below(view, conn, draft, old["parent_code"])
        check_version(if_match, area_version(old), _state(draft, old), ("区域", "area"))
        if store.areas(draft, parent_code=code, geometry=False, conn=conn):
            raise ConflictError(f"区域 {code} 下仍有下级区域 area {code!r} still has areas below it; remove them first")
        store.replace_draft_area(conn, draft, old, None)
        record(conn, view.actor, "delete", "area", code, _as_record(old), None)
    return {"generation": draft, "code": code}


def publish(view: ScopedRegistry, change_set: int | None = None) -> int:
    """Publish the caller's change set (or ``change_set``); a planner may publish only changes under their areas.

    The scope of every change (by code, and by geometry: see :func:`boundaries.drafts.scope_check`) is
    checked in the transaction that publishes it; so are conflicts with generations published since it began.
    """
    return view.registry.publish(view.actor, drafts.scope_check(view), change_set)


def discard(view: ScopedRegistry, change_set: int | None = None) -> int:
    """Discard the caller's change set (or ``change_set``; same scope rule as :func:`publish`)."""
    return view.registry.discard_draft(view.actor, drafts.scope_check(view), change_set)


def _clean(values: dict, allowed) -> dict:
    if not values:
        raise InvalidInputError("没有要修改的字段 nothing to change: send at least one field")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise InvalidInputError(f"不能修改的字段 fields that cannot be set: {', '.join(unknown)}")
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}


def _asset(view: ScopedRegistry, conn, table: str, row_id: int) -> dict:
    """One building or service point read in the write transaction, in the caller's scope.

    One outside the scope answers exactly like a missing one (:meth:`ScopedRegistry.asset_in_scope`).
    """
    if table == "buildings":
        return view.building(row_id, conn=conn)
    return view.service_point(row_id, conn=conn)


def update_building(view: ScopedRegistry, building_id: int, changes: dict, if_match=None) -> dict:
    """Edit a building's attributes (its footprint comes from imports); returns the row as stored now.

    ``if_match`` as in :func:`update_area`, against :func:`~boundaries.versions.row_version`.
    """
    changes = _clean(changes, BUILDING_FIELDS)
    for key in ("floors", "households", "vulnerable_households"):
        if key in changes and (not isinstance(changes[key], int) or changes[key] < 0):
            raise InvalidInputError(f"{key} 必须是非负整数 must be a non-negative integer")
    view.building(building_id)  # 404 before taking the write lock
    store = view.registry.store
    with store.transaction() as conn:
        old = _asset(view, conn, "buildings", building_id)
        check_version(if_match, row_version(old), old, ("建筑", "building"))
        if {**old, **changes}.get("vulnerable_households", 0) > {**old, **changes}.get("households", 0):
            raise InvalidInputError("重点关爱户不能多于户数 vulnerable_households cannot exceed households")
        store.update_one(conn, "buildings", int(building_id), changes)
        new = _asset(view, conn, "buildings", building_id)
        record(conn, view.actor, "update", "building", building_id, old, new)
    return new


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
    """Add a service point inside the caller's areas; returns the row as stored."""
    values = _point_values(_clean(values, SERVICE_POINT_FIELDS))
    missing = [k for k in ("name", "kind", "lon", "lat") if k not in values]
    if missing:
        raise InvalidInputError(f"缺少字段 missing fields: {', '.join(missing)}")
    view.require_point(values["lon"], values["lat"])
    store = view.registry.store
    with store.transaction() as conn:
        point_id = store.insert_one(conn, "service_points", values)
        record(conn, view.actor, "create", "service_point", point_id, None, values)
        return _asset(view, conn, "service_points", point_id)


def update_service_point(view: ScopedRegistry, point_id: int, changes: dict, if_match=None) -> dict:
    """Change a service point; moving it requires the new place to be in scope too.

    ``if_match`` as in :func:`update_building`.
    """
    changes = _point_values(_clean(changes, SERVICE_POINT_FIELDS))
    view.service_point(point_id)  # 404 before taking the write lock
    store = view.registry.store
    with store.transaction() as conn:
        old = _asset(view, conn, "service_points", point_id)
        check_version(if_match, row_version(old), old, ("服务点", "service point"))
        new = {**old, **changes}
        view.require_point(new["lon"], new["lat"])
        store.update_one(conn, "service_points", int(point_id), changes)
        new = _asset(view, conn, "service_points", point_id)
        record(conn, view.actor, "update", "service_point", point_id, old, new)
    return new


def delete_service_point(view: ScopedRegistry, point_id: int, if_match=None) -> dict:
    """Delete a service point (``if_match`` as in :func:`update_building`); returns what was deleted."""
    view.service_point(point_id)  # 404 before taking the write lock
    store = view.registry.store
    with store.transaction() as conn:
        old = _asset(view, conn, "service_points", point_id)
        check_version(if_match, row_version(old), old, ("服务点", "service point"))
        store.delete_one(conn, "service_points", int(point_id))
        record(conn, view.actor, "delete", "service_point", point_id, old, None)
    return old
