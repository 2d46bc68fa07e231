"""The planners' editor on the API: one parent's data, and saves that change several areas in one transaction.

Each view parses the request and hands the caller's scoped registry to one function of
:mod:`boundaries.editor` or :mod:`boundaries.reshaping`; a stale version answers 412 with the current state
(as every area write), a change set conflict 409 (see :mod:`web.edit_api`).
"""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from boundaries import editor, reshaping
from boundaries.versions import PreconditionFailedError
from core.errors import ChangeSetConflictError
from web.access import allow, scoped
from web.edit_api import change_set_conflict, precondition_failed

__all__ = ["bp"]

bp = Blueprint("editor", __name__, url_prefix="/api/v1", description="编辑器 the planners' editor")
bp.register_error_handler(PreconditionFailedError, precondition_failed)
bp.register_error_handler(ChangeSetConflictError, change_set_conflict)

_CODE = validate.Length(min=1, max=32)
_VERSION = validate.Length(min=1, max=64)


class Geometry(fields.Dict):
    """A GeoJSON geometry object (checked by the domain: type, rings, coordinates)."""


class AreaChange(Schema):
    """One area's new boundary and the version it was drawn on."""

    code = fields.String(required=True, validate=_CODE)
    geometry = Geometry(required=True)
    version = fields.String(load_default=None, validate=_VERSION, metadata={"description": "ETag read (optional)"})


class SaveBody(Schema):
    """Areas whose boundaries one gesture changed."""

    changes = fields.List(
        fields.Nested(AreaChange), required=True, validate=validate.Length(min=1, max=reshaping.MAX_BATCH)
    )


class LineBody(Schema):
    """A line drawn on the map, and the version of the area it acts on."""

    line = Geometry(required=True, metadata={"description": "GeoJSON LineString, WGS84"})
    version = fields.String(load_default=None, validate=_VERSION)
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=200))


class MergeBody(Schema):
    """Neighbours to merge, with the versions read."""

    codes = fields.List(
        fields.String(validate=_CODE), required=True, validate=validate.Length(min=2, max=reshaping.MAX_BATCH)
    )
    versions = fields.Dict(keys=fields.String(validate=_CODE), values=fields.String(validate=_VERSION), load_default={})


@bp.route("/editor/<code>", methods=["GET"])
@allow("areas:read")
@bp.response(200, description="The parent, its children with versions and households, buildings, change set")
def editor_data(code):
    """Everything the editor shows of one parent area, in your change set (or the current generation)."""
    return editor.editor_data(scoped(), code, current_app.config.get("HOUSEHOLD_RANGES") or {})


@bp.route("/editor/save", methods=["POST"])
@allow("areas:write")
@bp.arguments(SaveBody)
@bp.response(200, description="Every area saved, with its new version")
def save(body):
    """Save new boundaries of several areas at once (all or nothing; stale versions 412)."""
    changes = [{"code": c["code"], "geometry": c["geometry"], "if_match": c["version"]} for c in body["changes"]]
    return reshaping.save_areas(scoped(), changes)


@bp.route("/areas/<code>/split", methods=["POST"])
@allow("areas:write")
@bp.arguments(LineBody)
@bp.response(200, description="The two areas, with versions")
def split(body, code):
    """Cut an area in two along a line: the larger piece keeps the code, the other gets the next code."""
    return reshaping.split_area(scoped(), code, body["line"], _tags(body["version"]), body["name"])


@bp.route("/areas/<code>/reshape", methods=["POST"])
@allow("areas:write")
@bp.arguments(LineBody)
@bp.response(200, description="The area and the neighbours that gave or took part of it, with versions")
def reshape(body, code):
    """Move the area's boundary to a line that crosses it twice; neighbours follow, so no gap or overlap opens."""
    return reshaping.reshape_area(scoped(), code, body["line"], _tags(body["version"]))


@bp.route("/areas/merge", methods=["POST"])
@allow("areas:write")
@bp.arguments(MergeBody)
@bp.response(200, description="The merged area (lowest code) and the removed ones")
def merge(body):
    """Merge neighbouring areas of one parent into the one with the lowest code."""
    return reshaping.merge_areas(scoped(), body["codes"], body["versions"])


def _tags(version: str | None) -> set[str] | None:
    return None if version is None else {version}
