"""The staff map's own questions: search, the side panel of an area, and label points.

``GET /api/v1/map/search?q=&crs=&generation=`` — areas by code or name, buildings by address, or ``x,y`` in a CRS
(answers in WGS84); ``GET /api/v1/map/panel?code=|lon=&lat=&level=&generation=`` — an area's name, level, chain of
parents, buildings, households, workers (phones as the caller's role may see them) and, for callers who may see
issues or statistics, its open and overdue issues and on-time rate; ``GET /api/v1/map/labels?level=&bbox=
&generation=`` — a point inside each area on screen, for its name.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from flask import jsonify, request, url_for
from flask_smorest import Blueprint

from boundaries.levels import LEVELS
from boundaries.map_search import label_points, parse_coordinates, search
from core.errors import InvalidInputError
from web.access import allow, caller, scoped
from web.api import MAX_ID, _bbox
from web.errors import ApiError

__all__ = ["map_api"]

#: In the API's OpenAPI document; the query strings are read by the views (documented here by name).
map_api = Blueprint(
    "map_api", __name__, url_prefix="/api/v1/map", description="地图 the staff map's search, panel, labels"
)


def _params(*names: str) -> list[dict]:
    return [{"in": "query", "name": n, "schema": {"type": "string"}, "required": False} for n in names]


def _generation() -> int | None:
    raw = request.args.get("generation")
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError("generation 应为整数 generation must be a whole number", "bad_generation") from exc
    if not 1 <= value <= MAX_ID:
        raise ApiError("generation 超出范围 generation out of range", "bad_generation")
    return value


@map_api.route("/search")
@allow("maps:view")
@map_api.doc(parameters=_params("q", "crs", "generation"))
@map_api.response(
    200,
    description="Areas, buildings or a place matching ``q``, in WGS84; ``problem`` says why ``q`` cannot be searched",
)
def map_search():
    """Find an area (code or name), a building (address or name) or a place (``x,y`` in ``crs``)."""
    query = request.args.get("q", "")[:200]
    view, crs, generation = scoped(), request.args.get("crs") or "wgs84", _generation()
    try:
        return jsonify(search(view, query, crs, generation))
    except InvalidInputError as exc:  # what was typed cannot be searched: an answer saying why, not an error
        return jsonify({"query": query, "generation": generation, "results": [], "problem": str(exc)})


@map_api.route("/labels")
@allow("maps:view")
@map_api.doc(parameters=_params("level", "bbox", "generation"))
@map_api.response(200, description="A point inside each area of the level in the bbox, with its name")
def map_labels():
    """Label points of one level's areas in a bbox."""
    bbox = _bbox(request.args.get("bbox"))
    if bbox is None:
        raise ApiError("缺少 bbox missing bbox: use minlon,minlat,maxlon,maxlat", "bad_bbox")
    return jsonify(label_points(scoped(), request.args.get("level", ""), bbox, _generation()))


def _issue_figures(view, code: str) -> dict | None:
    """Open and overdue issues and the on-time rate of an area, for callers who may see issues or statistics."""
    user = caller()
    if not (user.can("issues:read") or user.can("stats:read")):
        return None
    from issues.queries import issue_stats

    stats = issue_stats(view, area=code)
    stages = stats["on_time_by_stage"].values()
    finished = sum(s["finished"] for s in stages)
    on_time = sum(s["on_time"] for s in stages)
    return {
        "open": int(sum(stats["open_by_state"].values())),
        "overdue": int(stats["overdue"]),
        "total": int(stats["total"]),
        "on_time_rate": round(on_time / finished, 4) if finished else None,
        "issues_url": url_for("issue_pages.queue", area=code) if user.can("issues:read") else None,
        "stats_url": "/stats?" + urlencode({"area": code}) if user.can("stats:read") else None,
    }


@map_api.route("/panel")
@allow("maps:view")
@map_api.doc(parameters=_params("code", "lon", "lat", "level", "generation"))
@map_api.response(200, description="An area's name, level, chain, counts, workers and issue figures")
def map_panel():
    """The side panel of an area: by ``code``, or the area of ``level`` holding ``lon,lat`` (WGS84)."""
    view = scoped()
    g = view.resolve_generation(_generation())
    code = request.args.get("code", "")[:64]
    lon = lat = None
    if not code:
        point = parse_coordinates(f"{request.args.get('lon', '')},{request.args.get('lat', '')}")
        if point is None:
            raise ApiError("请给出 code 或 lon、lat give code, or lon and lat", "bad_request")
        lon, lat = point
        present = view.registry.levels_present(g)
        level = request.args.get("level") or (present[-1] if present else "")
        if level not in LEVELS:
            raise ApiError(f"层级不存在 no level {level[:32]!r}", "bad_level")
        found = view.registry.locate_point(lon, lat, level=level, generation=g)
        if found["status"] != "ok" or not view.covers(found["code"], g):  # nothing of yours here: not an error
            return jsonify({"code": None, "generation": g, "at": {"lon": lon, "lat": lat}})
        code = found["code"]
    area = view.area(code, g)
    counts = view.household_counts(g)
    row = counts.loc[code] if code in counts.index else None
    households = None if row is None or not math.isfinite(row["households"]) else int(row["households"])
    return jsonify(
        {
            "code": code,
            "name": area["name"],
            "level": area["level"],
            "kind": area.get("kind"),
            "generation": g,
            "chain": view.chain(code, g)[1:][::-1],
            "buildings": None if row is None else int(row["buildings"]),
            "households": households,
            "workers": view.workers([code]),
            "issues": _issue_figures(view, code),
            "bbox": list(area.geometry.bounds),
            "at": None if lon is None else {"lon": lon, "lat": lat},
        }
    )
