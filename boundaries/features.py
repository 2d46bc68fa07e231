"""Feature collections as a caller may see them: the domain side of OGC API – Features (``web/ogc_api.py``).

A collection is one area level (of any generation), the buildings, the service points or the issues. A page is
taken in a stable order (areas by code, everything else by id), so ``limit`` / ``offset`` paging returns every
feature exactly once. Scope: an unrestricted caller's pages are cut in SQL; a scoped caller's matching rows are
read lean (id and position), filtered by the scope in Python as everywhere else (buildings and service points by
their representative point, areas by code, issues by the codes they were located in) and then cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import shapely

from boundaries.scope import NO_SUCH_ASSET, ScopedRegistry
from core.errors import NotFoundError

__all__ = ["COLLECTIONS", "Collection", "Page", "collection_extent", "feature", "features"]


@dataclass(frozen=True)
class Collection:
    """One feature collection: its id, English and Chinese titles, what it holds and the permission to read it."""

    id: str
    title: str
    title_zh: str
    kind: str  # area | buildings | service_points | issues
    permission: str
    level: str | None = None


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection("areas-street", "Streets", "街道", "area", "areas:read", "street"),
        Collection("areas-community", "Communities", "社区", "area", "areas:read", "community"),
        Collection("areas-grid", "Grids", "网格", "area", "areas:read", "grid"),
        Collection("areas-micro_grid", "Micro-grids", "微网格", "area", "areas:read", "micro_grid"),
        Collection("buildings", "Buildings", "建筑", "buildings", "assets:read"),
        Collection("service-points", "Service points", "服务点", "service_points", "assets:read"),
        Collection("issues", "Issues", "事件", "issues", "issues:read"),
    )
}

_AREA_PROPERTIES = ("code", "name", "level", "kind", "parent_code", "generation_low", "generation_high")
_PROPERTIES = {
    "buildings": ("ref", "name", "address", "floors", "households", "use"),
    "service_points": ("name", "kind", "opening_hours", "capacity", "address"),
    "issues": (
        "category",
        "description",
        "address",
        "hazard_level",
        "state",
        "level",
        "handler_code",
        "micro_grid_code",
        "grid_code",
        "community_code",
        "street_code",
        "created_at",
        "due_at",
        "closed_at",
    ),
}


@dataclass
class Page:
    """One page: ``features`` as ``(id, properties, shapely geometry)`` and how many match in all."""

    features: list[tuple]
    matched: int


def _issue_condition(view: ScopedRegistry):
    from issues.queries import visible  # issues build on boundaries: imported when used

    return visible(view)


def _time(value):
    if isinstance(value, datetime):
        from boundaries.storage.features import _aware

        return _aware(value).isoformat()
    return value


def _row_feature(kind: str, row: dict) -> tuple:
    if kind == "buildings":
        geometry = row["geometry"]
    else:
        geometry = shapely.Point(row["lon"], row["lat"])
    return row["id"], {k: _time(row[k]) for k in _PROPERTIES[kind]}, geometry


def features(
    view: ScopedRegistry,
    collection: Collection,
    bbox=None,
    limit: int = 100,
    offset: int = 0,
    reported: tuple | None = None,
    generation=None,
) -> Page:
    """A page of ``collection`` as ``view`` sees it (``bbox`` in WGS84 lon/lat; ``reported`` for issues).

    Parameters
    ----------
    view : ScopedRegistry
    collection : Collection
    bbox : tuple of float, optional
        ``(minx, miny, maxx, maxy)``: features whose box meets it.
    limit, offset : int
        The page: at most ``limit`` features after skipping ``offset``, in the collection's stable order.
    reported : tuple of datetime, optional
        ``(since, until)``, inclusive, either may be ``None`` (open): issues reported in that window.
    generation : int or str, optional
        The areas' generation (default: the current one).

    Returns
    -------
    Page
    """
    if collection.kind == "area":
        return _area_page(view, collection.level, bbox, limit, offset, generation)
    store = view.registry.store
    kind = collection.kind
    where = _issue_condition(view) if kind == "issues" else None
    reported = reported if kind == "issues" else None
    if view.scope.unrestricted or kind == "issues":  # issue visibility is a SQL condition
        matched = store.feature_count(kind, bbox, reported, where)
        rows = store.feature_rows(kind, bbox, reported, where, limit=limit, offset=offset)
    else:
        points = store.feature_points(kind, bbox, reported, where)
        inside = view.covers_points([p[1] for p in points], [p[2] for p in points]) if points else []
        ids = [p[0] for p, keep in zip(points, inside, strict=True) if keep]
        matched = len(ids)
        page = ids[offset : offset + limit]
        rows = store.feature_rows(kind, ids=page) if page else []
    return Page([_row_feature(kind, r) for r in rows], matched)


def _area_page(view: ScopedRegistry, level: str, bbox, limit: int, offset: int, generation) -> Page:
    g = view.resolve_generation(generation)
    store = view.registry.store
    rows = store.areas(g, level=level, bbox=bbox, geometry=False)  # ordered by code
    codes = view.codes(g)
    if codes is not None:
        rows = [r for r in rows if r["code"] in codes]
    page = rows[offset : offset + limit]
    shapes = store.area_geometries([r["id"] for r in page])
    out = [(r["code"], {k: r[k] for k in _AREA_PROPERTIES}, shapes[r["id"]]) for r in page]
    return Page(out, len(rows))


def feature(view: ScopedRegistry, collection: Collection, feature_id: str, generation=None) -> tuple:
    """One feature ``(id, properties, geometry)`` by id (an area by code); :class:`NotFoundError` when unseen.

    A feature outside the caller's areas answers exactly like a missing one.
    """
    if collection.kind == "area":
        g = view.resolve_generation(generation)
        rows = view.registry.store.areas(g, level=collection.level, codes=[feature_id], geometry=False)
        if not rows or not view.covers(feature_id, g):
            raise NotFoundError(f"区域不存在或不在您的辖区内 no area {feature_id!r} in your areas")
        shape = view.registry.store.area_geometries([rows[0]["id"]])[rows[0]["id"]]
        return rows[0]["code"], {k: rows[0][k] for k in _AREA_PROPERTIES}, shape
    kind = collection.kind
    if kind == "issues":
        from issues.queries import NO_SUCH_ISSUE

        missing = NO_SUCH_ISSUE
    else:
        missing = NO_SUCH_ASSET["building" if kind == "buildings" else "service_point"]
    try:
        number = int(feature_id)
    except ValueError:
        raise NotFoundError(missing) from None
    where = _issue_condition(view) if kind == "issues" else None
    rows = view.registry.store.feature_rows(kind, where=where, ids=[number]) if abs(number) < 2**62 else []
    if not rows or (kind != "issues" and not view.covers_points([rows[0]["lon"]], [rows[0]["lat"]])[0]):
        raise NotFoundError(missing)
    return _row_feature(kind, rows[0])


def collection_extent(view: ScopedRegistry, collection: Collection, generation=None) -> tuple:
    """``(bbox, (first, last) report times or None)`` of a collection as ``view`` sees it.

    WGS84; ``bbox`` None when empty. A scoped caller's extent covers only what it may read, as its pages do.
    """
    store = view.registry.store
    if collection.kind == "area":
        g = view.resolve_generation(generation)
        return store.areas_extent(g, level=collection.level), None
    if collection.kind == "issues":
        return store.feature_extent("issues", where=_issue_condition(view))
    if view.scope.unrestricted:
        return store.feature_extent(collection.kind)
    points = store.feature_points(collection.kind)
    inside = view.covers_points([p[1] for p in points], [p[2] for p in points]) if points else []
    ids = [p[0] for p, keep in zip(points, inside, strict=True) if keep]
    return store.feature_extent(collection.kind, ids=ids)
