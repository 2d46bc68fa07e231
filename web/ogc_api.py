"""OGC API – Features (Part 1 core with GeoJSON and HTML, Part 2 CRS) at ``/ogc``, served by Weige itself.

The collections, their scope and their stable paging come from :mod:`boundaries.features`; this module reads the
OGC query parameters, converts coordinates for the requested CRS and writes GeoJSON (or a page). Access is the
app's own (:mod:`web.access`): the landing page, conformance and API description are public; the collections
need the permission to read what they hold, by session or Bearer token, and show only the caller's areas.
Errors are OGC exception documents ``{code, description}`` (with the app's ``error`` object beside them).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, time, timedelta, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from boundaries.features import COLLECTIONS, Collection, collection_extent, feature, features
from core.errors import NotFoundError, RegistryError
from geo.errors import GeoError
from web.access import allow, caller, public, scoped
from web.errors import ApiError, domain_status

__all__ = ["ogc", "CRS84", "CRS_URIS", "MAX_LIMIT", "DEFAULT_LIMIT"]

ogc = Blueprint("ogc", __name__, url_prefix="/ogc")

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
#: Every CRS offered, and whether its axis order is latitude first (EPSG's geographic CRSs are).
CRS_URIS = {CRS84: False, EPSG_4326: True, EPSG_4490: True}
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]
_ITEM_PARAMETERS = {"f", "bbox", "bbox-crs", "limit", "offset", "datetime", "crs", "generation"}
_GEOJSON = "application/geo+json"
_READERS = ("areas:read", "assets:read", "issues:read")
_TRS = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
#: The properties' names on pages.
_FIELDS = {
    "code": _l("Code"),
    "name": _l("Name"),
    "level": _l("Level"),
    "kind": _l("Kind"),
    "parent_code": _l("Parent area"),
    "generation_low": _l("First generation"),
    "generation_high": _l("Retired in generation"),
    "ref": _l("Source id"),
    "address": _l("Address"),
    "floors": _l("Floors"),
    "households": _l("Households"),
    "use": _l("Use"),
    "opening_hours": _l("Opening hours"),
    "capacity": _l("Capacity"),
    "category": _l("Category"),
    "description": _l("Description"),
    "hazard_level": _l("Hazard level"),
    "state": _l("State"),
    "handler_code": _l("Handling area"),
    "micro_grid_code": _l("Micro-grid"),
    "grid_code": _l("Grid"),
    "community_code": _l("Community"),
    "street_code": _l("Street"),
    "created_at": _l("Reported at"),
    "due_at": _l("Due at"),
    "closed_at": _l("Closed at"),
}
#: The collections' names on pages (one language, see web/i18n.py).
_TITLES = {
    "areas-street": _l("Streets"),
    "areas-community": _l("Communities"),
    "areas-grid": _l("Grids"),
    "areas-micro_grid": _l("Micro-grids"),
    "buildings": _l("Buildings"),
    "service-points": _l("Service points"),
    "issues": _l("Issues"),
}


# -- errors ----------------------------------------------------------------------------------------
def _exception(code: str, description: str, status: int):
    body = {"code": code, "description": description, "error": {"code": code, "message": description}}
    return jsonify(body), status


@ogc.errorhandler(ApiError)
def _api_error(exc: ApiError):
    if exc.status == 401 and request.args.get("f") == "html":  # a person in a browser: the sign-in page
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    return _exception(exc.code, str(exc), exc.status)


@ogc.errorhandler(RegistryError)
@ogc.errorhandler(GeoError)
def _domain_error(exc: Exception):
    return _exception(getattr(exc, "code", "bad_request"), str(exc), domain_status(exc))


@ogc.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _exception(exc.name.lower().replace(" ", "_"), exc.description or exc.name, exc.code or 500)


def _bad(message: str) -> ApiError:
    return ApiError(message, "InvalidParameterValue", 400)


# -- parameters ------------------------------------------------------------------------------------
def _format() -> str:
    f = request.args.get("f")
    if f is not None:
        if f not in ("json", "html"):
            raise _bad(f"不支持的格式 unsupported format f={f!r}: use json or html")
        return f
    best = request.accept_mimetypes.best_match(["application/json", _GEOJSON, "text/html"], "application/json")
    return "html" if best == "text/html" else "json"


def _crs(name: str) -> str:
    value = request.args.get(name)
    if value is None:
        return CRS84
    value = value.strip().strip("<>")
    if value not in CRS_URIS:
        raise _bad(f"不支持的坐标参照系 unsupported {name} {value!r}: use one of {', '.join(CRS_URIS)}")
    return value


def _bbox() -> tuple | None:
    raw = request.args.get("bbox")
    if raw is None:
        return None
    try:
        values = [float(v) for v in raw.split(",")]
    except ValueError:
        raise _bad("bbox 应为 4 个数 bbox must be four numbers: minx,miny,maxx,maxy") from None
    if len(values) == 6:  # minx,miny,minz,maxx,maxy,maxz: heights are ignored
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise _bad("bbox 应为 4 个数 bbox must be four numbers: minx,miny,maxx,maxy")
    if CRS_URIS[_crs("bbox-crs")]:  # latitude first
        values = [values[1], values[0], values[3], values[2]]
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise _bad("bbox 超出经纬度范围 bbox out of range: longitude -180..180, latitude -90..90")
    if minx > maxx or miny > maxy:
        raise _bad("bbox 的最小值大于最大值 bbox minimum above its maximum")
    return minx, miny, maxx, maxy


def _integer(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"{name} 应为整数 {name} must be an integer") from None
    if not low <= value <= high:
        raise _bad(f"{name} 应在 {low} 到 {high} 之间 {name} must be between {low} and {high}")
    return value


def _instant(text: str, end: bool) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:  # a date: the whole day in the deployment's zone
            day = datetime.fromisoformat(text).date()
            start = datetime.combine(day, time(), ZoneInfo(current_app.extensions["weige.issues"].calendar.tz))
            return (start + timedelta(days=1, microseconds=-1) if end else start).astimezone(timezone.utc)
        value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise _bad(f"datetime 格式错误 bad datetime {text!r}: RFC 3339, e.g. 2026-11-27T08:00:00Z") from None
    if value.tzinfo is None:
        raise _bad(f"datetime 需带时区 datetime {text!r} needs a time zone (Z or +08:00)")
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 lies beyond the year 9999 in UTC
        raise _bad(f"datetime 超出范围 datetime {text!r} out of range") from None


def _datetime() -> tuple | None:
    raw = request.args.get("datetime")
    if raw is None:
        return None
    parts = raw.split("/")
    if len(parts) == 1:
        if raw in ("", ".."):
            raise _bad("datetime 不能为空 datetime must not be empty")
        since, until = _instant(raw, False), _instant(raw, True)
    elif len(parts) == 2:
        since, until = _instant(parts[0], False), _instant(parts[1], True)
    else:
        raise _bad(f"datetime 格式错误 bad datetime {raw!r}: an instant or start/end")
    if since is not None and until is not None and since > until:
        raise _bad("datetime 的起点晚于终点 datetime interval starts after it ends")
    return since, until


def _collection(collection_id: str) -> Collection:
    found = COLLECTIONS.get(collection_id)
    if found is None:
        raise ApiError(f"没有该要素集 no collection {collection_id!r}", "NotFound", 404)
    user = caller()
    if not user.can(found.permission):
        raise ApiError(
            f"您的角色无权读取 your role may not read {collection_id} ({found.permission})", "forbidden", 403
        )
    return found


def _generation() -> int | None:
    """The areas' generation (``None``: the current one)."""
    return _integer("generation", None, 1, 2**31 - 1)


# -- links -----------------------------------------------------------------------------------------
def _url(endpoint: str, args: dict | None = None, **values) -> str:
    base = url_for(endpoint, _external=True, **values)
    return base + ("?" + urlencode(args) if args else "")


def _link(href: str, rel: str, kind: str, title: str) -> dict:
    return {"href": href, "rel": rel, "type": kind, "title": title}


def _self_links(endpoint: str, fmt: str, **values) -> list[dict]:
    args = {k: v for k, v in request.args.items() if k != "f"}
    json_kind = _GEOJSON if endpoint in ("ogc.items", "ogc.item") else "application/json"
    json_link = _link(_url(endpoint, {**args, "f": "json"}, **values), "self", json_kind, "this document")
    html_link = _link(_url(endpoint, {**args, "f": "html"}, **values), "alternate", "text/html", "as HTML")
    if fmt == "html":
        json_link["rel"], html_link["rel"] = "alternate", "self"
    return [json_link, html_link]


# -- documents -------------------------------------------------------------------------------------
def _respond(fmt: str, body: dict, template: str, status: int = 200, headers: dict | None = None, kind=None):
    if fmt == "html":
        titles = {key: str(title) for key, title in _TITLES.items()}
        fields = {key: str(name) for key, name in _FIELDS.items()}
        page = render_template(template, doc=body, user=caller(), titles=titles, fields=fields)
        return page, status, headers or {}
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status, headers or {}, mimetype=kind or "application/json")


@ogc.route("")
@public
def landing():
    """The landing page: links to the API description, the conformance classes and the collections."""
    fmt = _format()
    body = {
        "title": "Weige 微格 OGC API – Features",
        "description": "网格、建筑、服务点与事件 grids, buildings, service points and issues",
        "links": [
            *_self_links("ogc.landing", fmt),
            _link(_url("ogc.api"), "service-desc", "application/vnd.oai.openapi+json;version=3.0", "API definition"),
            _link(url_for("api-docs.openapi_json", _external=True), "describedby", "application/json", "Weige API"),
            _link(_url("ogc.conformance"), "conformance", "application/json", "conformance classes"),
            _link(_url("ogc.collections"), "data", "application/json", "collections"),
        ],
    }
    return _respond(fmt, body, "ogc_landing.html")


@ogc.route("/conformance")
@public
def conformance():
    """The conformance classes this service implements."""
    fmt = _format()
    return _respond(fmt, {"conformsTo": CONFORMANCE, "links": _self_links("ogc.conformance", fmt)}, "ogc_landing.html")


@ogc.route("/api")
@public
def api():
    """The API description (OpenAPI 3.0): clients read ``limit``'s maximum from it as their page size."""
    from web.ogc_openapi import openapi_document

    return jsonify(openapi_document(_url("ogc.landing"), MAX_LIMIT, DEFAULT_LIMIT, list(COLLECTIONS)))


def _collection_document(view, collection: Collection, generation) -> dict:
    box, span = collection_extent(view, collection, generation)
    extent = {"spatial": {"bbox": [list(box) if box else [-180, -90, 180, 90]], "crs": CRS84}}
    if collection.kind == "issues":
        interval = [span[0].isoformat(), span[1].isoformat()] if span else [None, None]
        extent["temporal"] = {"interval": [interval], "trs": _TRS}
    args = {} if generation is None else {"generation": generation}
    items = "ogc.items"
    return {
        "id": collection.id,
        "title": f"{collection.title_zh} {collection.title}",
        "itemType": "feature",
        "extent": extent,
        "crs": list(CRS_URIS),
        "storageCrs": CRS84,
        "links": [
            _link(_url("ogc.collection", args, collection_id=collection.id), "self", "application/json", "this"),
            _link(_url(items, {**args, "f": "json"}, collection_id=collection.id), "items", _GEOJSON, "items"),
            _link(_url(items, {**args, "f": "html"}, collection_id=collection.id), "items", "text/html", "items"),
        ],
    }


@ogc.route("/collections")
@allow(*_READERS)
def collections():
    """The collections the caller may read."""
    fmt = _format()
    view, user = scoped(), caller()
    readable = [c for c in COLLECTIONS.values() if user.can(c.permission)]
    body = {
        "links": _self_links("ogc.collections", fmt),
        "collections": [_collection_document(view, c, _generation()) for c in readable],
    }
    return _respond(fmt, body, "ogc_landing.html")


@ogc.route("/collections/<collection_id>")
@allow(*_READERS)
def collection(collection_id: str):
    """One collection's description: extent, CRSs, links to its items."""
    fmt = _format()
    found = _collection(collection_id)
    body = _collection_document(scoped(), found, _generation())
    body["links"] = _self_links("ogc.collection", fmt, collection_id=collection_id) + body["links"][1:]
    return _respond(fmt, body, "ogc_landing.html")


def _geometries_json(geometries: list, crs: str) -> list[str]:
    array = np.asarray(geometries, dtype=object)
    if CRS_URIS[crs] and len(array):
        array = shapely.transform(array, lambda xy: xy[:, ::-1])
    return [str(s) for s in shapely.to_geojson(array)] if len(array) else []


def _feature_json(fid, properties: dict, geometry: str) -> str:
    props = json.dumps(properties, ensure_ascii=False, separators=(",", ":"))
    return f'{{"type":"Feature","id":{json.dumps(fid)},"geometry":{geometry},"properties":{props}}}'


@ogc.route("/collections/<collection_id>/items")
@allow(*_READERS)
def items(collection_id: str):
    """A page of features: ``bbox`` (``bbox-crs``), ``limit`` / ``offset``, ``datetime`` (issues), ``crs``."""
    unknown = sorted(set(request.args) - _ITEM_PARAMETERS)
    if unknown:
        raise _bad(f"未知参数 unknown parameter(s): {', '.join(unknown)}")
    fmt, found = _format(), _collection(collection_id)
    crs, box = _crs("crs"), _bbox()
    limit = _integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _integer("offset", 0, 0, 2**31)
    window = _datetime()
    if window is not None and found.kind != "issues":
        window = None  # features without a time: the filter does not apply (OGC: they all match)
    page = features(scoped(), found, box, limit, offset, window, _generation())
    geometries = _geometries_json([f[2] for f in page.features], crs)
    links = _self_links("ogc.items", fmt, collection_id=collection_id)
    args = {k: v for k, v in request.args.items() if k not in ("offset", "f")}
    for rel, start in (("next", offset + limit), ("prev", max(offset - limit, 0))):
        if (rel == "next" and start < page.matched) or (rel == "prev" and offset > 0):
            href = _url("ogc.items", {**args, "offset": start, "f": fmt}, collection_id=collection_id)
            links.append(_link(href, rel, _GEOJSON if fmt == "json" else "text/html", rel))
    stamp = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    headers = {"Content-Crs": f"<{crs}>"}
    if fmt == "html":
        body = {
            "collection": _collection_document(scoped(), found, _generation()),
            "features": [(f[0], f[1]) for f in page.features],
            "geojson": [
                json.loads(_feature_json(f[0], {}, g))
                for f, g in zip(page.features, _geometries_json([f[2] for f in page.features], CRS84), strict=True)
            ],
            "numberMatched": page.matched,
            "numberReturned": len(page.features),
            "offset": offset,
            "links": links,
        }
        return _respond(fmt, body, "ogc_items.html", headers=headers)
    head = {
        "type": "FeatureCollection",
        "numberMatched": page.matched,
        "numberReturned": len(page.features),
        "timeStamp": stamp,
        "links": links,
    }
    parts = [_feature_json(f[0], f[1], g) for f, g in zip(page.features, geometries, strict=True)]
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"features":[' + ",".join(parts) + "]}"
    return Response(text, 200, headers, mimetype=_GEOJSON)


@ogc.route("/collections/<collection_id>/items/<feature_id>")
@allow(*_READERS)
def item(collection_id: str, feature_id: str):
    """One feature by id (areas by code)."""
    unknown = sorted(set(request.args) - {"f", "crs", "generation"})
    if unknown:
        raise _bad(f"未知参数 unknown parameter(s): {', '.join(unknown)}")
    fmt, found, crs = _format(), _collection(collection_id), _crs("crs")
    try:
        fid, properties, geometry = feature(scoped(), found, feature_id, _generation())
    except NotFoundError as exc:
        raise ApiError(str(exc), "NotFound", 404) from None
    links = _self_links("ogc.item", fmt, collection_id=collection_id, feature_id=feature_id)
    links.append(_link(_url("ogc.collection", collection_id=collection_id), "collection", "application/json", "up"))
    headers = {"Content-Crs": f"<{crs}>"}
    if fmt == "html":
        body = {
            "collection": {"id": found.id, "title": f"{found.title_zh} {found.title}"},
            "features": [(fid, properties)],
            "geojson": [json.loads(_feature_json(fid, {}, _geometries_json([geometry], CRS84)[0]))],
            "numberMatched": 1,
            "numberReturned": 1,
            "offset": 0,
            "links": links,
        }
        return _respond(fmt, body, "ogc_items.html", headers=headers)
    text = _feature_json(fid, properties, _geometries_json([geometry], crs)[0])[:-1]
    text += ',"links":' + json.dumps(links, ensure_ascii=False) + "}"
    return Response(text, 200, headers, mimetype=_GEOJSON)
