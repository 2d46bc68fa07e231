"""Coverage over the API and as a map page: figures, reports, and suggested new sites."""

from __future__ import annotations

import json

import folium
import geopandas as gpd
from flask import Blueprint as FlaskBlueprint
from flask import Response, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from boundaries import assets
from boundaries.errors import InvalidInputError, RegistryError
from serving.analysis import analyse
from serving.optimize import suggest
from serving.report import write_report
from web.access import allow, scoped
from web.maps import (
    add_areas,
    add_choropleth,
    add_coverage_buildings,
    add_reach_polygons,
    add_service_points,
    add_suggestions,
    offline_map,
)
from web.names import KIND_NAMES
from web.security import allow_scripts_in

__all__ = ["blueprints", "coverage_pages"]

coverage_bp = Blueprint("coverage", __name__, url_prefix="/api/v1", description="服务点覆盖 service-point coverage")
blueprints = [coverage_bp]
coverage_pages = FlaskBlueprint("coverage_pages", __name__)

_MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "geojson": "application/geo+json",
}


class CoverageQuery(Schema):
    """A coverage run."""

    kind = fields.String(required=True, validate=validate.Length(min=1, max=32))
    reach = fields.Float(
        validate=validate.Range(min=1, max=50_000), allow_nan=False, metadata={"description": "metres"}
    )
    network = fields.Boolean(load_default=False)
    area = fields.String(validate=validate.Length(min=1, max=32))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", *_MIMETYPES]))


class SuggestBody(Schema):
    """A siting question."""

    kind = fields.String(required=True, validate=validate.Length(min=1, max=32))
    reach = fields.Float(validate=validate.Range(min=1, max=50_000), allow_nan=False)
    area = fields.String(validate=validate.Length(min=1, max=32))
    model = fields.String(load_default="mclp", validate=validate.OneOf(["mclp", "lscp"]))
    k = fields.Integer(load_default=1, validate=validate.Range(min=1, max=50))
    candidates = fields.Raw(
        load_default="buildings", metadata={"description": '"buildings", or a GeoJSON FeatureCollection of points'}
    )


def _run(args):
    return analyse(
        scoped(),
        args["kind"],
        reach_m=args.get("reach"),
        network=args.get("network", False),
        area=args.get("area"),
        reach_table=current_app.config.get("COVERAGE_REACH"),
    )


def _records(frame) -> list[dict]:
    return json.loads(frame.drop(columns="geometry", errors="ignore").to_json(orient="records", force_ascii=False))


@coverage_bp.route("/coverage")
@allow("stats:read")
@coverage_bp.arguments(CoverageQuery, location="query")
@coverage_bp.response(200, description="Coverage figures (JSON), or the report as xlsx, CSV or GeoJSON")
def coverage(args):
    """Who the service points of a kind reach: per building, per area at every level, per point."""
    result = _run(args)
    fmt = args["format"]
    if fmt != "json":
        name = f"coverage-{args['kind']}.{fmt}"
        return Response(
            write_report(result, None, fmt),
            mimetype=_MIMETYPES[fmt],
            headers={"Content-Disposition": f"attachment; filename={name}"},
        )
    return {"summary": result.summary(), "areas": _records(result.areas), "points": _records(result.points)}


def _candidates(value):
    if value == "buildings":
        return "buildings"
    if isinstance(value, dict) and value.get("type") == "FeatureCollection" and isinstance(value.get("features"), list):
        try:
            return gpd.GeoDataFrame.from_features(value["features"], crs=4326)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"候选点 GeoJSON 错误 invalid candidate features: {exc}") from exc
    raise InvalidInputError('candidates 须为 "buildings" 或 GeoJSON 点集 must be "buildings" or a FeatureCollection')


@coverage_bp.route("/coverage/suggest", methods=["POST"])
@allow("stats:read")
@coverage_bp.arguments(SuggestBody)
@coverage_bp.response(200, description="Suggested new sites and the households they add")
def suggest_sites(body):
    """Where k new points would cover the most households (MCLP), or the fewest that cover all (LSCP)."""
    result = _run(body)
    return suggest(result, body["model"], body["k"], _candidates(body["candidates"])).as_dict()


#: What the page says about a parameter it cannot use (page language, never the validator's raw messages).
_PAGE_FIELD_ERRORS = {
    "kind": _l("The kind must be 1 to 32 characters."),
    "reach": _l("The reach must be a number of metres from 1 to 50000."),
    "network": _l("“Along roads” must be on or off."),
    "area": _l("The area code must be 1 to 32 characters."),
    "suggest": _l("“Suggest” must be a whole number from 1 to 50."),
}
_NO_ROADS = _l("No roads are loaded here, so reach along roads is not available: untick “along roads”.")
_SUGGEST_STRAIGHT = _l("Suggested sites use straight-line reach: untick “along roads”.")


def _page_error(messages: dict) -> str:
    """Validation messages as one readable sentence per field, in the page's language."""
    return " ".join(
        str(_PAGE_FIELD_ERRORS.get(name) or _("Invalid parameter %(name)s.", name=name)) for name in sorted(messages)
    )


def _page_args(values: dict, suggest_k: str | None) -> tuple[dict, int | None]:
    """The page's query (known fields only) validated, and the number of sites to suggest."""
    errors = {}
    try:
        args = CoverageQuery().load({**values, "format": "json"})
    except ValidationError as exc:
        errors.update(exc.messages)
    if suggest_k is not None:
        try:
            suggest_k = int(suggest_k)
        except ValueError:
            suggest_k = 0
        if not 1 <= suggest_k <= 50:
            errors["suggest"] = ["out of range"]
    if errors:
        raise ValidationError(errors)
    return args, suggest_k


def _roads_here(area: str | None) -> bool:
    """Whether walkable roads are loaded around the area asked for (else the caller's areas)."""
    view = scoped()
    frame = view.areas(codes=[area]) if area else view.areas()
    if frame.empty:
        return False
    roads = assets.roads(view.registry, bbox=tuple(frame.total_bounds))
    return bool(roads["walkable"].astype(bool).any()) if not roads.empty else False


@coverage_pages.route("/coverage")
@allow("stats:read")
def coverage_page():
    """A map of coverage: reach, covered and uncovered buildings, a per-area choropleth, and suggestions."""
    values = {k: v for k, v in request.args.items() if v != "" and k in {*_PAGE_FIELD_ERRORS}}
    values.setdefault("kind", "grid_station")
    suggest_k = values.pop("suggest", None)
    context = {"args": dict(values), "map_html": None, "summary": None, "kinds": KIND_NAMES}
    context["roads"] = True
    try:
        args, suggest_k = _page_args(values, suggest_k)
        context["roads"] = _roads_here(args.get("area"))
        if args["network"] and not context["roads"]:
            raise InvalidInputError(_NO_ROADS)
        if args["network"] and suggest_k:
            raise InvalidInputError(_SUGGEST_STRAIGHT)
        result = _run(args)
    except ValidationError as exc:
        return render_template("coverage.html", error=_page_error(exc.messages), **context), 400
    except (InvalidInputError, RegistryError) as exc:
        if type(exc).__name__ == "OutOfScopeError":
            raise
        return render_template("coverage.html", error=str(exc), **context), 400
    fmap = offline_map(tuple(result.buildings.total_bounds), tiles=current_app.config.get("WEIGE_TILES"))
    areas = result.areas
    lowest = areas[areas["level"] == areas["level"].iloc[-1]] if not areas.empty else areas
    if not lowest.empty:
        shapes = scoped().areas(codes=list(lowest["code"]))[["code", "geometry"]].merge(lowest, on="code")
        add_choropleth(fmap, shapes, "covered_share", _("Households covered"))
        add_areas(fmap, shapes, shapes["level"].iloc[0], _("Area boundaries"), ["name", "code"], [_("Name"), _("Code")])
    if not result.reach_polygons.empty:  # folium refuses a tooltip over an empty layer
        add_reach_polygons(fmap, result.reach_polygons)
    shown = result.buildings.assign(  # out of reach: said in words, not "nan"
        nearest_m=[v if v == v else _("beyond reach") for v in result.buildings["nearest_m"]]
    )
    add_coverage_buildings(fmap, shown)
    if not result.points.empty:
        add_service_points(fmap, result.points)
    suggestion = None
    if suggest_k:
        try:
            suggestion = suggest(result, "mclp", suggest_k)
            if not suggestion.new_sites.empty:
                add_suggestions(fmap, suggestion.new_sites)
        except InvalidInputError as exc:
            context["error"] = str(exc)
    folium.LayerControl(collapsed=True).add_to(fmap)
    html = fmap.get_root().render()
    allow_scripts_in(html)
    context.update(map_html=html, summary=result.summary(), suggestion=suggestion.as_dict() if suggestion else None)
    return render_template("coverage.html", **context)
