"""The issue map (``/issues/map``): clustered issues coloured by state, a heat layer, a choropleth per area.

The page is a small HTML shell; ``static/js/issuemap.js`` loads the data as JSON:

- ``GET /api/v1/issues/points?<filters>&limit=`` — the issues as ``[id, lon, lat, state, category, created_at,
  closed_at]`` rows, newest first, at most ``limit`` (default and maximum :data:`MAX_POINTS`); ``total`` says how
  many match and ``truncated`` whether some were left out;
- ``GET /api/v1/issues/areas?<filters>&level=&measure=&scheme=&k=`` — per area of the level in the caller's
  scope: count, overdue rate, on-time rate, with classes from mapclassify; the polygons come from the layer
  API (``/api/v1/layers/{level}``) and are joined to these figures by code in the browser.

The filters are the queue's (``web.issue_pages.SHARED_FILTERS``, checked by the same schema), so the queue, the map
and the exports take the same query string and each links to the others with it. The page joins the
``issue_pages`` blueprint (``issue_pages.issue_map``); the JSON routes are in the API (``issue_map_api``).
"""

from __future__ import annotations

import json

from flask import Response, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from marshmallow import ValidationError, fields, validate

from core.errors import InvalidInputError, NotFoundError
from issues.area_figures import MAP_LEVELS, MEASURES, SCHEMES, area_figures, classify
from issues.queries import list_issues
from issues.workflow import STATES
from web.access import allow, scoped
from web.errors import ApiError
from web.issue_pages import (
    SHARED_FILTERS,
    _common,
    category_name,
    export_links,
    filter_errors,
    issue_pages,
    shared_filters,
)
from web.issues_api import IssueQuery, desk
from web.names import LEVEL_NAMES, STATE_NAMES
from web.paging import filter_error, page_filters

__all__ = ["MAX_POINTS", "MAX_FIGURE_ISSUES", "issue_map_api"]

#: The map's two JSON routes, in the API's OpenAPI document (their query strings are checked by the schemas
#: below with the queue's readable messages, so they are documented from the schemas, not parsed by webargs).
issue_map_api = Blueprint("issue_map", __name__, url_prefix="/api/v1", description="事件地图 issue map data")

#: The most issue points one answer carries (newest first); the answer says when more matched.
MAX_POINTS = 20_000
#: The most issues the per-area figures count (a larger selection is refused: narrow the filters).
MAX_FIGURE_ISSUES = 200_000


class _Filters(IssueQuery):
    """The shared filters (the queue's schema without its paging)."""

    class Meta:
        exclude = ("page", "per_page")


class PointsQuery(_Filters):
    """The shared filters and how many points at most."""

    limit = fields.Integer(load_default=MAX_POINTS, validate=validate.Range(min=1, max=MAX_POINTS))


class FiguresQuery(_Filters):
    """The shared filters, the level and measure of the choropleth and how to class it."""

    level = fields.String(load_default="community", validate=validate.OneOf(MAP_LEVELS))
    measure = fields.String(load_default="count", validate=validate.OneOf(MEASURES))
    scheme = fields.String(load_default="natural_breaks", validate=validate.OneOf(SCHEMES))
    k = fields.Integer(load_default=5, validate=validate.Range(min=2, max=9))


class MapPageQuery(IssueQuery):
    """What the map page takes: the shared filters, the choropleth's level and measure."""

    level = fields.String(validate=validate.OneOf(MAP_LEVELS))
    measure = fields.String(load_default="count", validate=validate.OneOf(MEASURES))


MEASURE_NAMES = {
    "count": _l("Number of issues"),
    "overdue_rate": _l("Overdue share"),
    "on_time_rate": _l("On-time rate"),
}

#: What the API says about a parameter it cannot use (bilingual, like every API message).
_API_ERRORS = {
    "state": f"状态须为 state must be one of: open, {', '.join(STATES)}",
    "since": "起始时间须为时间，如 2025-06-01T09:00:00+08:00 since must be a time such as 2025-06-01T09:00:00+08:00",
    "until": "截止时间须为时间，如 2025-06-01T09:00:00+08:00 until must be a time such as 2025-06-01T09:00:00+08:00",
    "limit": f"limit 须为 1 到 {MAX_POINTS} 之间的整数 limit must be a whole number from 1 to {MAX_POINTS}",
    "level": f"层级须为 level must be one of: {', '.join(MAP_LEVELS)}",
    "measure": f"指标须为 measure must be one of: {', '.join(MEASURES)}",
    "scheme": f"分级方法须为 scheme must be one of: {', '.join(SCHEMES)}",
    "k": "分级数须为 2 到 9 之间的整数 k must be a whole number from 2 to 9",
}


def _api_args(schema) -> dict:
    """The query string loaded with ``schema``, or a 400 naming each refused parameter."""
    try:
        return schema.load({k: v for k, v in request.args.items() if v != ""})
    except ValidationError as exc:
        fields_ = exc.messages if isinstance(exc.messages, dict) else {"": exc.messages}
        message = filter_error(fields_, _API_ERRORS, schema.fields)
        raise ApiError(f"请求参数错误 invalid request parameters: {message}", "bad_filter") from exc


def _issues(args: dict, limit: int) -> tuple[list[dict], int]:
    filters = {k: args[k] for k in SHARED_FILTERS if k in args}
    return list_issues(scoped(), now=desk().clock(), tz=desk().calendar.tz, per_page=limit, **filters)


def _json(data) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, mimetype="application/json", headers={"Cache-Control": "private, no-store"})


@issue_map_api.route("/issues/points")
@allow("issues:read")
@issue_map_api.doc(parameters=[{"in": "query", "schema": PointsQuery}])
@issue_map_api.response(200, description="``columns``, ``points`` (rows), ``total``, ``limit``, ``truncated``")
def issue_points():
    """The filtered issues as lean rows for the map: ``[id, lon, lat, state, category, created_at, closed_at]``."""
    args = _api_args(PointsQuery())
    rows, total = _issues(args, args["limit"])
    columns = ["id", "lon", "lat", "state", "category", "created_at", "closed_at"]
    points = [[r[c] for c in columns] for r in rows]
    return _json(
        {
            "columns": columns,
            "points": points,
            "total": total,
            "limit": args["limit"],
            "truncated": total > len(points),
        }
    )


@issue_map_api.route("/issues/areas")
@allow("issues:read")
@issue_map_api.doc(parameters=[{"in": "query", "schema": FiguresQuery}])
@issue_map_api.response(200, description="Per area: count, overdue and on-time rates, ``value`` and ``class``")
def issue_area_figures():
    """Issue count, overdue rate and on-time rate per area of a level, classed for a choropleth."""
    args = _api_args(FiguresQuery())
    rows, total = _issues(args, MAX_FIGURE_ISSUES)
    if total > MAX_FIGURE_ISSUES:
        raise ApiError(
            f"所选事件过多（{total}） too many issues selected ({total} > {MAX_FIGURE_ISSUES}): narrow the filters",
            "too_many_issues",
        )
    areas = area_figures(scoped(), args["level"], rows)
    classes, index = classify([a[args["measure"]] for a in areas], args["scheme"], args["k"])
    for area, cls in zip(areas, index, strict=True):
        area["value"], area["class"] = area[args["measure"]], cls
    return _json(
        {
            "level": args["level"],
            "measure": args["measure"],
            "scheme": args["scheme"],
            "issues": total,
            "classes": classes,
            "areas": areas,
        }
    )


def _default_level(view) -> str:
    """The highest of the map's levels that has several areas in the caller's scope."""
    for level in MAP_LEVELS:
        if len(view.areas(level=level)) >= 2:
            return level
    return MAP_LEVELS[-1]


def _extent(view, level: str) -> list[float]:
    frame = view.areas(level=level)
    if frame.empty:
        return [-180.0, -85.0, 180.0, 85.0]
    return [float(v) for v in frame.total_bounds]


@issue_pages.route("/issues/map")
@allow("issues:read")
def issue_map():
    """The issue map: the queue's filters, clusters by state, a heat layer and a choropleth per area."""
    messages = {
        **filter_errors(),
        "level": _("Areas by must be one of: %(levels)s", levels=", ".join(MAP_LEVELS)),
        "measure": _("Shading must be one of: %(measures)s", measures=", ".join(MEASURES)),
    }
    args, error = page_filters(MapPageQuery(), messages)
    view = scoped()
    if error is None and args.get("area"):
        try:
            view.area(args["area"])
        except (NotFoundError, InvalidInputError) as exc:
            error = str(exc)
    level = args.get("level") or _default_level(view)
    filters = {} if error else shared_filters()
    query = {**filters, "level": level, "measure": args["measure"]}
    catalog = desk().catalog
    config = {
        "extent": _extent(view, level),
        "points": url_for("issue_map.issue_points", **filters),
        "figures": url_for("issue_map.issue_area_figures", **query),
        "layer": url_for("layers.get_layer", layer=level),
        "issue": url_for("issue_pages.detail", issue_id=1).rsplit("/", 1)[0] + "/",
        "level": level,
        "measure": args["measure"],
        "error": bool(error),
        "tz": desk().calendar.tz,  # popups give times in the deployment's zone, as the pages do
    }
    strings = {
        "states": {s: str(STATE_NAMES[s]) for s in STATES},
        "categories": {c.code: category_name(c.code) for c in catalog},
        "measure": str(MEASURE_NAMES[args["measure"]]),
        "level": str(LEVEL_NAMES[level]),
        "noData": _("No data"),
        "issues": _("Issues"),
        "heat": _("Heat map"),
        "choropleth": _("Areas: %(measure)s", measure=MEASURE_NAMES[args["measure"]]),
        "open": _("Open the issue"),
        "category": _("Category"),
        "state": _("State"),
        "age": _("Age"),
        "closedAt": _("Closed at"),
        "voidedAt": _("Voided at"),
        "took": _("Took"),
        "clusters": _("A group of issues takes the colour of its most urgent state."),
        "days": _("%(n)s days"),
        "hours": _("%(n)s hours"),
        "shown": _("%(shown)s of %(total)s issues shown"),
        "loadFailed": _("The map data could not be loaded."),
        "legend": _("Legend"),
    }
    page = render_template(
        "issuemap.html",
        config=config,
        strings=strings,
        filters=request.args,
        error=error,
        states=STATES,
        levels=[(lv, LEVEL_NAMES[lv]) for lv in MAP_LEVELS],
        measures=list(MEASURE_NAMES.items()),
        level=level,
        measure=args["measure"],
        exports=export_links(filters) if not error else {},
        queue_link=url_for("issue_pages.queue", **filters),
        **_common(),
    )
    return page, 400 if error else 200
