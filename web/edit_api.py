"""Changes through the API: drawing areas in the draft, publishing, editing buildings and service points.

Each view checks the role (``@allow``) and hands the caller's scoped registry to one domain function in
:mod:`boundaries.editing`, which enforces the area scope and writes the audit entry.
"""

from __future__ import annotations

import re

from flask import jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.http import quote_etag

from boundaries import change_sets, editing, rule_waivers, rules
from boundaries.levels import KINDS, LEVELS
from boundaries.versions import ANY, PreconditionFailedError, row_version
from core.errors import ChangeSetConflictError
from web.access import allow, scoped
from web.errors import ApiError
from web.rules_api import refused, rule_settings

__all__ = ["blueprints", "if_match", "etag_header", "precondition_failed", "change_set_conflict"]

draw_bp = Blueprint("draw", __name__, url_prefix="/api/v1", description="绘制与发布 drawing areas and publishing")
edit_bp = Blueprint("edit", __name__, url_prefix="/api/v1", description="编辑建筑与服务点 editing assets")
blueprints = [draw_bp, edit_bp]

_TEXT = validate.Length(min=1, max=200)
#: A list of entity-tags (RFC 9110 §8.8.3, §5.6.1): each an optional ``W/`` and a quoted string of etagc.
_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_ENTITY_TAGS = re.compile(rf"(?:,[ \t]*)*{_TAG}(?:[ \t]*,(?:[ \t]*{_TAG})?)*")


def if_match() -> set[str] | None:
    """The entity tags of the request's ``If-Match`` (RFC 9110 §13.1.1), for the domain's version check.

    ``None`` when the header is absent or empty: the condition is optional, and a write without it goes ahead
    (last writer wins). ``{"*"}`` for ``*``. Otherwise the strong tags only: ``If-Match`` uses the strong
    comparison, so a weak tag (``W/"…"``) never matches and the write is refused with 412. A value that is
    neither ``*`` nor a list of quoted entity-tags (``abc``, ``"abc``) is malformed: 400 ``bad_if_match``, never
    a match and never ignored.
    """
    value = request.headers.get("If-Match", "").strip()
    if not value:
        return None
    if value != "*" and not _ENTITY_TAGS.fullmatch(value):
        raise ApiError(
            f"If-Match 格式错误 malformed If-Match {value[:100]!r}: send * or the ETag exactly as received, "
            'quoted (e.g. If-Match: "…"; RFC 9110 entity-tags are quoted strings)',
            "bad_if_match",
        )
    tags = request.if_match
    return {ANY} if tags.star_tag else set(tags.as_set())


def etag_header(version: str) -> dict:
    """The ``ETag`` header of a version (a strong, quoted entity tag)."""
    return {"ETag": quote_etag(version)}


def precondition_failed(exc: PreconditionFailedError):
    """412 with the current state (and its ETag), so the caller can merge and send again."""
    body = {"error": {"code": exc.code, "message": str(exc), "current": exc.current}}
    return jsonify(body), 412, etag_header(exc.version)


def conditional(blueprint: Blueprint):
    """Document a write that honours ``If-Match`` (the header parameter and the 412 answer)."""

    def wrap(view):
        view = blueprint.alt_response(
            412, description="If-Match is stale: error.current holds the current state, the ETag header its version"
        )(view)
        header = {
            "in": "header",
            "name": "If-Match",
            "required": False,
            "schema": {"type": "string"},
            "description": "ETag of the version you read (optional; without it the write goes ahead)",
        }
        return blueprint.doc(parameters=[header])(view)

    return wrap


def _asset_answer(row: dict, status: int = 200):
    out = {k: v for k, v in row.items() if k not in ("geometry", "minx", "miny", "maxx", "maxy")}
    return out, status, etag_header(row_version(row))


def _area_answer(result: dict, status: int = 200):
    result = dict(result)
    version = result.pop("version", None)
    return (result, status, etag_header(version)) if version else (result, status)


class AreaCreate(Schema):
    """A new area in the draft."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    name = fields.String(required=True, validate=_TEXT)
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    parent_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    kind = fields.String(load_default="general", validate=validate.OneOf(list(KINDS)))
    geometry = fields.Dict(required=True, metadata={"description": "GeoJSON Polygon/MultiPolygon, in crs (WGS84)"})


class CrsQuery(Schema):
    """The CRS of a drawn geometry."""

    crs = fields.String(
        load_default="wgs84",
        validate=validate.Length(max=32),
        metadata={"description": "CRS of the geometry: wgs84 (default) | cgcs2000 | gcj02 | bd09 | an EPSG code"},
    )


class AreaUpdate(Schema):
    """Changes to an area in the draft (any subset)."""

    name = fields.String(validate=_TEXT)
    kind = fields.String(validate=validate.OneOf(list(KINDS)))
    geometry = fields.Dict(metadata={"description": "GeoJSON Polygon/MultiPolygon, in crs (WGS84)"})


class BuildingUpdate(Schema):
    """Editable building attributes."""

    name = fields.String(validate=validate.Length(max=200))
    address = fields.String(validate=validate.Length(max=500))
    floors = fields.Integer(validate=validate.Range(min=0, max=300))
    households = fields.Integer(strict=True, validate=validate.Range(min=0, max=100_000))
    vulnerable_households = fields.Integer(strict=True, validate=validate.Range(min=0, max=100_000))
    use = fields.String(validate=validate.Length(min=1, max=32))


class ServicePointBase(Schema):
    """Service-point attributes."""

    name = fields.String(validate=_TEXT)
    kind = fields.String(validate=validate.Length(min=1, max=32))
    opening_hours = fields.String(validate=validate.Length(max=200))
    capacity = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=10_000_000))
    address = fields.String(validate=validate.Length(max=500))
    lon = fields.Float(validate=validate.Range(min=-180, max=180), allow_nan=False)
    lat = fields.Float(validate=validate.Range(min=-90, max=90), allow_nan=False)


class ServicePointCreate(ServicePointBase):
    """A new service point."""

    name = fields.String(required=True, validate=_TEXT)
    kind = fields.String(required=True, validate=validate.Length(min=1, max=32))
    lon = fields.Float(required=True, validate=validate.Range(min=-180, max=180), allow_nan=False)
    lat = fields.Float(required=True, validate=validate.Range(min=-90, max=90), allow_nan=False)


for _bp in blueprints:
    _bp.register_error_handler(PreconditionFailedError, precondition_failed)
draw_bp.register_error_handler(rules.RulesFailedError, refused)


@draw_bp.route("/areas", methods=["POST"])
@allow("areas:write")
@draw_bp.arguments(AreaCreate)
@draw_bp.arguments(CrsQuery, location="query")
@draw_bp.response(201, description="The area as added to the draft, with drawing-rule findings")
def create_area(body, query):
    """Draw a new area in the draft under a parent in your areas (geometry in ``crs``, default WGS84)."""
    return _area_answer(editing.create_area(scoped(), **body, crs=query["crs"]), 201)


@draw_bp.route("/areas/<code>", methods=["PATCH"])
@conditional(draw_bp)
@allow("areas:write")
@draw_bp.arguments(AreaUpdate)
@draw_bp.arguments(CrsQuery, location="query")
@draw_bp.response(200, description="The changed area in the draft, with drawing-rule findings")
def update_area(body, query, code):
    """Rename or redraw an area in the draft (geometry in ``crs``; honours ``If-Match``: 412 when stale)."""
    return _area_answer(editing.update_area(scoped(), code, **body, if_match=if_match(), crs=query["crs"]))


@draw_bp.route("/areas/<code>", methods=["DELETE"])
@conditional(draw_bp)
@allow("areas:write")
@draw_bp.response(200, description="The area was removed from the draft")
def retire_area(code):
    """Remove an area (with no areas below it) from the draft (honours ``If-Match``)."""
    return editing.retire_area(scoped(), code, if_match=if_match())


class ChangeSetQuery(Schema):
    """Whose change set: the caller's own (default) or another open one by id (scope rules apply)."""

    change_set = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=2_147_483_647),
        metadata={"description": "id of an open change set (default: your own)"},
    )


def change_set_conflict(exc: ChangeSetConflictError):
    """409 naming the areas, the change sets that changed them, and how to rebase."""
    body = {
        "error": {
            "code": exc.code,
            "message": str(exc),
            "change_set": exc.change_set,
            "conflicts": exc.conflicts,
            "rebase": "/api/v1/generations/draft/rebase",
        }
    }
    return jsonify(body), 409


draw_bp.register_error_handler(ChangeSetConflictError, change_set_conflict)


@draw_bp.route("/generations/draft", methods=["GET"])
@allow("areas:read")
@draw_bp.arguments(ChangeSetQuery, location="query")
@draw_bp.response(200, description="Your change set: base, author, what it changed, and conflicts so far")
def my_change_set(query):
    """Your open change set (or another by ``change_set``): what it changed and what would conflict at publish."""
    return change_sets.change_set_summary(scoped(), query["change_set"])


@draw_bp.route("/generations/draft/publish", methods=["POST"])
@allow("areas:write")
@draw_bp.arguments(ChangeSetQuery, location="query")
@draw_bp.response(200, description="The id of the generation that became current")
@draw_bp.alt_response(409, description="Refused: error.failures lists unwaived rule failures, or error.conflicts "
                      "the areas changed by change sets published since yours began (rebase)")  # fmt: skip
def publish_draft(query):
    """Publish your change set unless planning rules fail unwaived or it conflicts (409); lookups switch at once."""
    return {"generation": rule_waivers.publish(scoped(), rule_settings(), query["change_set"])}


@draw_bp.route("/generations/draft/rebase", methods=["POST"])
@allow("areas:write")
@draw_bp.arguments(ChangeSetQuery, location="query")
@draw_bp.response(200, description="The change set now based on the current generation")
def rebase_draft(query):
    """Rebase your change set onto the current generation: your versions of the areas you changed win."""
    return change_sets.rebase(scoped(), query["change_set"])


class RollbackBody(Schema):
    """Which areas to bring back as they were in the generation."""

    parent = fields.String(
        load_default=None, validate=_TEXT, metadata={"description": "the area whose areas below roll back"}
    )


@draw_bp.route("/generations/<int(min=1, max=2147483647):generation>/rollback", methods=["POST"])
@allow("areas:write")
@draw_bp.arguments(RollbackBody)
@draw_bp.response(200, description="What your change set now restores, redraws and removes")
def rollback(body, generation):
    """Bring back a published generation's areas below ``parent`` into your change set; publish it to roll back."""
    return change_sets.rollback(scoped(), generation, body["parent"])


@draw_bp.route("/generations/draft", methods=["DELETE"])
@allow("areas:write")
@draw_bp.arguments(ChangeSetQuery, location="query")
@draw_bp.response(200, description="The id of the discarded change set")
def discard_draft(query):
    """Discard your change set, restoring what it changed."""
    return {"generation": editing.discard(scoped(), query["change_set"])}


@edit_bp.route("/buildings/<int(min=1, max=2147483647):building_id>", methods=["PATCH"])
@conditional(edit_bp)
@allow("buildings:write")
@edit_bp.arguments(BuildingUpdate)
@edit_bp.response(200, description="The building after the change")
def update_building(body, building_id):
    """Correct a building's name, address, floors, households or use (honours ``If-Match``)."""
    return _asset_answer(editing.update_building(scoped(), building_id, body, if_match=if_match()))


@edit_bp.route("/service-points", methods=["POST"])
@allow("service_points:write")
@edit_bp.arguments(ServicePointCreate)
@edit_bp.response(201, description="The new service point")
def create_service_point(body):
    """Add a service point inside your areas."""
    return _asset_answer(editing.create_service_point(scoped(), body), 201)


@edit_bp.route("/service-points/<int(min=1, max=2147483647):point_id>", methods=["PATCH"])
@conditional(edit_bp)
@allow("service_points:write")
@edit_bp.arguments(ServicePointBase)
@edit_bp.response(200, description="The service point after the change")
def update_service_point(body, point_id):
    """Change or move a service point (honours ``If-Match``)."""
    return _asset_answer(editing.update_service_point(scoped(), point_id, body, if_match=if_match()))


@edit_bp.route("/service-points/<int(min=1, max=2147483647):point_id>", methods=["DELETE"])
@conditional(edit_bp)
@allow("service_points:write")
@edit_bp.response(200, description="The deleted service point")
def delete_service_point(point_id):
    """Delete a service point (honours ``If-Match``)."""
    return editing.delete_service_point(scoped(), point_id, if_match=if_match())
