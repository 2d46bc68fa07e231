"""Coverage over the API and as a map page: figures, reports, suggested new sites, and the map's data.

The page (``/coverage``) is a small HTML shell: the form, the summary line and the report links, and a map that
``static/js/coverage.js`` draws from JSON answers (never geometry inlined in the page, so its size does not grow
with the data):

- ``GET /api/v1/coverage/areas?<run>&level=`` — one level's per-area shares as lean rows, joined in the browser to
  the area polygons of the vector tiles (``/tiles/{level}/{z}/{x}/{y}.mvt``) by code;
- ``GET /api/v1/coverage/reach?<run>&zoom=`` — the reach as one outline (the union), simplified for the zoom;
- ``GET /api/v1/coverage/buildings?<run>&bbox=&zoom=&limit=`` — the uncovered buildings of the view, capped;
- service points from the layer API (``/api/v1/layers/service_points``).

``<run>`` is the coverage API's query (``kind``, ``reach``, ``network``, ``area``). One run is analysed once and
kept (a small cache per app, keyed by the caller's scope, the query, the current generation and the areas and
assets revisions), so the page and the map's requests after it do not analyse again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import geopandas as gpd
from flask import Blueprint as FlaskBlueprint
from flask import Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from boundaries import assets
from boundaries.caches import Cache
from boundaries.layers import MAX_ZOOM
from boundaries.levels import LEVELS
from core.errors import InvalidInputError, RegistryError
from serving.analysis import CoverageResult, analyse
from serving.coverage_map import (
    AREA_COLUMNS,
    COVERED_ZOOM,
    MAX_BUILDINGS,
    area_rows,
    buildings_in_view,
    levels_of,
    reach_outline,
    reach_union,
)
from serving.optimize import suggest
from serving.report import write_report
from web.access import allow, scoped
from web.api import GEOJSON, _bbox
from web.names import KIND_NAMES, LEVEL_NAMES

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


@dataclass
class _Run:
    """One analysed run, kept for the page and the map's requests after it."""

    result: CoverageResult
    generation: int | None
    union: object = field(default=None, repr=False)  # the reach outline, made on first use

    def reach(self):
        """The union of the reach polygons (made once)."""
        if self.union is None:
            self.union = reach_union(self.result)
        return self.union


def _runs() -> Cache:
    """The app's few most recent runs (a run of a whole city holds every building: keep few)."""
    return current_app.extensions.setdefault("weige.coverage_runs", Cache(size=4))


def _cached(args) -> _Run:
    """The run of ``args`` for the caller, analysed once per scope, query, generation and data revision."""
    view = scoped()
    snap = view.snapshot()
    roots = None if view.scope.unrestricted else tuple(sorted(view.scope.roots))
    query = (args["kind"], args.get("reach"), bool(args.get("network", False)), args.get("area"))
    key = ("coverage", roots, *query, snap["current"], snap["areas"], snap["assets"])
    return _runs().get_or_build(key, lambda: _Run(_analyse(view, args), snap["current"]))


def _analyse(view, args) -> CoverageResult:
    return analyse(
        view,
        args["kind"],
        reach_m=args.get("reach"),
        network=args.get("network", False),
        area=args.get("area"),
        reach_table=current_app.config.get("COVERAGE_REACH"),
    )


def _run(args) -> CoverageResult:
    return _cached(args).result


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


class MapRun(Schema):
    """The coverage run a map layer belongs to (the coverage API's query without its format)."""

    kind = fields.String(required=True, validate=validate.Length(min=1, max=32))
    reach = fields.Float(
        validate=validate.Range(min=1, max=50_000), allow_nan=False, metadata={"description": "metres"}
    )
    network = fields.Boolean(load_default=False)
    area = fields.String(validate=validate.Length(min=1, max=32))


class AreasQuery(MapRun):
    """The run and the level of the choropleth (default: the lowest level with figures)."""

    level = fields.String(validate=validate.OneOf(LEVELS))


class ReachQuery(MapRun):
    """The run and the map's zoom (the outline is simplified for it)."""

    zoom = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_ZOOM))


class BuildingsQuery(ReachQuery):
    """The run, the area on screen, its zoom and how many buildings at most."""

    bbox = fields.String(required=True, metadata={"description": "minlon,minlat,maxlon,maxlat (WGS84)"})
    limit = fields.Integer(load_default=MAX_BUILDINGS, validate=validate.Range(min=1, max=MAX_BUILDINGS))


def _lean(data, mimetype: str = "application/json") -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return Response(body, mimetype=mimetype, headers={"Cache-Control": "private, no-store"})


@coverage_bp.route("/coverage/areas")
@allow("stats:read")
@coverage_bp.arguments(AreasQuery, location="query")
@coverage_bp.response(200, description="``level``, ``levels`` (with figures), ``columns`` and ``areas`` (rows)")
def coverage_areas(args):
    """One level's households covered per area, as lean rows for the map's choropleth."""
    run = _cached(args)
    levels = levels_of(run.result)
    level = args.get("level") or (levels[-1] if levels else LEVELS[-1])
    return _lean(
        {"level": level, "levels": levels, "columns": list(AREA_COLUMNS), "areas": area_rows(run.result, level)}
    )


@coverage_bp.route("/coverage/reach")
@allow("stats:read")
@coverage_bp.arguments(ReachQuery, location="query")
@coverage_bp.response(200, description="GeoJSON: one feature, the area within reach, simplified for the zoom")
def coverage_reach(args):
    """The area within reach of any service point of the kind, as one outline (none when there is no point)."""
    run = _cached(args)
    outline = reach_outline(run.reach(), args["zoom"])
    features = (
        []
        if outline is None
        else [{"type": "Feature", "properties": {"reach_m": run.result.reach_m}, "geometry": outline}]
    )
    return _lean({"type": "FeatureCollection", "features": features}, GEOJSON)


@coverage_bp.route("/coverage/buildings")
@allow("stats:read")
@coverage_bp.arguments(BuildingsQuery, location="query")
@coverage_bp.response(200, description="``columns``, ``buildings`` (rows), ``uncovered``, ``covered``, ``truncated``")
def coverage_buildings(args):
    """The uncovered buildings in a bbox (and the covered ones from zoom 17), most households first, capped."""
    box = _bbox(args["bbox"])  # checked before the run: a bad box never costs an analysis
    return _lean(buildings_in_view(_cached(args).result, box, args["zoom"], args["limit"]))


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


#: The zoom from which each level's areas make the choropleth (the lowest level with figures drawn at the zoom).
_LEVEL_ZOOM = {"district": 0, "street": 0, "community": 0, "grid": 13, "micro_grid": 15}


def _strings() -> dict:
    """Every text the map's script shows, in the page's language."""
    return {
        "share": _("Households covered"),
        "households": _("Households"),
        "covered": _("covered"),
        "notCovered": _("not covered"),
        "nearest": _("Nearest service point (m)"),
        "beyond": _("beyond reach"),
        "reach": _("Within reach of a service point"),
        "uncovered": _("Buildings not covered"),
        "coveredBuildings": _("Buildings covered"),
        "points": _("Service points"),
        "sites": _("Suggested sites"),
        "added": _("Households added"),
        "noHouseholds": _("No households"),
        "legend": _("Legend"),
        "loadFailed": _("The map data could not be loaded."),
        "shown": _("%(shown)s of %(total)s buildings not covered in view are shown (most households first): zoom in"),
        "allShown": _("%(n)s buildings not covered in view"),
        "coveredFrom": _("covered buildings from zoom %(z)s"),
        "kinds": {k: str(name) for k, name in KIND_NAMES.items()},
        "levels": {k: str(name) for k, name in LEVEL_NAMES.items()},
    }


def _map_config(run: _Run, values: dict, suggestion) -> dict:
    """What the script needs: the extent, the levels with figures, the URLs of the map's data, the sites."""
    result = run.result
    tiles = url_for("tiles.get_tile", layer="LAYER", z=0, x=0, y=0).replace("LAYER/0/0/0", "{layer}/{z}/{x}/{y}")
    sites = []
    if suggestion is not None and not suggestion.new_sites.empty:
        frame = suggestion.new_sites
        sites = [
            [round(float(g.x), 6), round(float(g.y), 6), int(added)]
            for g, added in zip(frame.geometry, frame["households_added"], strict=True)
        ]
    return {
        "extent": [float(v) for v in result.buildings.total_bounds],
        "kind": result.kind,
        "generation": run.generation,
        "levels": levels_of(result),
        "levelZoom": _LEVEL_ZOOM,
        "coveredZoom": COVERED_ZOOM,
        "areasApi": url_for("coverage.coverage_areas", **values),
        "reachApi": url_for("coverage.coverage_reach", **values),
        "buildingsApi": url_for("coverage.coverage_buildings", **values),
        "tiles": tiles,
        "pointsApi": url_for("layers.get_layer", layer="service_points"),
        "sites": sites,
    }


@coverage_pages.route("/coverage")
@allow("stats:read")
def coverage_page():
    """The coverage map: households covered per area, the reach, uncovered buildings, points and suggestions."""
    values = {k: v for k, v in request.args.items() if v != "" and k in {*_PAGE_FIELD_ERRORS}}
    values.setdefault("kind", "grid_station")
    suggest_k = values.pop("suggest", None)
    context = {"args": dict(values), "config": None, "summary": None, "kinds": KIND_NAMES, "strings": _strings()}
    context["roads"] = True
    try:
        args, suggest_k = _page_args(values, suggest_k)
        context["roads"] = _roads_here(args.get("area"))
        if args["network"] and not context["roads"]:
            raise InvalidInputError(_NO_ROADS)
        if args["network"] and suggest_k:
            raise InvalidInputError(_SUGGEST_STRAIGHT)
        run = _cached(args)
    except ValidationError as exc:
        return render_template("coverage.html", error=_page_error(exc.messages), **context), 400
    except (InvalidInputError, RegistryError) as exc:
        if type(exc).__name__ == "OutOfScopeError":
            raise
        return render_template("coverage.html", error=str(exc), **context), 400
    suggestion = None
    if suggest_k:
        try:
            suggestion = suggest(run.result, "mclp", suggest_k)
        except InvalidInputError as exc:
            context["error"] = str(exc)
    context.update(
        config=_map_config(run, values, suggestion),
        summary=run.result.summary(),
        suggestion=suggestion.as_dict() if suggestion else None,
    )
    return render_template("coverage.html", **context)
