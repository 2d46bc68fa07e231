"""Issues over the API: intake, queues, one issue, workflow steps, photos, statistics and exports.

Intake takes JSON (photos as base64) or a multipart form with files named ``photos``; exports are xlsx with
Chinese headers, or CSV.
"""

from __future__ import annotations

import base64
import binascii
import io
import json

from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from issues.desk import HAZARD_LEVELS, IssueDesk
from issues.queries import export_frame, get_issue, issue_stats, list_issues, photo
from issues.workflow import ACTIONS, STATES
from web.access import allow, authenticated, caller, scoped
from web.api import MAX_ID
from web.errors import ApiError, parse_json

__all__ = ["blueprints", "desk", "IssueCreate"]

issues_bp = Blueprint("issues", __name__, url_prefix="/api/v1", description="事件 issues from the field")
blueprints = [issues_bp]


def desk() -> IssueDesk:
    """The app's issue desk."""
    return current_app.extensions["weige.issues"]


class PhotoData(Schema):
    """A photo sent inside JSON."""

    filename = fields.String(load_default="photo", validate=validate.Length(max=200))
    content_base64 = fields.String(required=True, metadata={"description": "the image file, base64"})


class IssueCreate(Schema):
    """A report from the field: where (lon/lat in a CRS, or a building), what, who."""

    category = fields.String(required=True, validate=validate.Length(min=1, max=32))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    lon = fields.Float(allow_nan=False, metadata={"description": "longitude in `crs` (not needed with building_id)"})
    lat = fields.Float(allow_nan=False, metadata={"description": "latitude in `crs`"})
    crs = fields.String(
        load_default="wgs84",
        validate=validate.Length(max=16),
        metadata={"description": "wgs84 | cgcs2000 | gcj02 | bd09"},
    )
    building_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    external_id = fields.String(
        validate=validate.Length(max=64), metadata={"description": "the channel's id: idempotent"}
    )
    address = fields.String(load_default="", validate=validate.Length(max=500))
    hazard_level = fields.String(load_default="general", validate=validate.OneOf(list(HAZARD_LEVELS)))
    reporter_name = fields.String(load_default="", validate=validate.Length(max=100))
    reporter_phone = fields.String(load_default="", validate=validate.Length(max=32))
    photos = fields.List(fields.Nested(PhotoData), load_default=list, validate=validate.Length(max=9))


_TIME_DOC = "ISO 8601; without a UTC offset it is read in the deployment's time zone (WORK_CALENDAR tz)"


class IssueQuery(Schema):
    """Queue filters."""

    state = fields.String(validate=validate.OneOf([*STATES, "open"]))
    area = fields.String(validate=validate.Length(max=32))
    category = fields.String(validate=validate.Length(max=32))
    overdue = fields.Boolean()
    unlocated = fields.Boolean()
    since = fields.DateTime(metadata={"description": _TIME_DOC})
    until = fields.DateTime(metadata={"description": "reported before this instant; " + _TIME_DOC})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ExportQuery(IssueQuery):
    """Queue filters and the file format."""

    format = fields.String(load_default="xlsx", validate=validate.OneOf(["xlsx", "csv"]))


class StatsQuery(Schema):
    """An area and a time window."""

    area = fields.String(validate=validate.Length(max=32))
    since = fields.DateTime(metadata={"description": _TIME_DOC})
    until = fields.DateTime(metadata={"description": "reported before this instant; " + _TIME_DOC})
    period = fields.String(load_default="month", validate=validate.OneOf(["day", "week", "month"]))


class ActionBody(Schema):
    """A workflow step."""

    action = fields.String(required=True, validate=validate.OneOf([*ACTIONS, "escalate", "assign"]))
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    area = fields.String(validate=validate.Length(min=1, max=32), metadata={"description": "for assign: the area"})
    photos = fields.List(fields.Nested(PhotoData), load_default=list, validate=validate.Length(max=9))


def _decoded(items) -> list[tuple[str, bytes]]:
    out = []
    for item in items:
        try:
            out.append((item["filename"], base64.b64decode(item["content_base64"], validate=True)))
        except (binascii.Error, ValueError) as exc:
            raise ApiError(f"照片不是 base64 photo {item['filename']!r} is not valid base64", "bad_photo") from exc
    return out


def _intake_body() -> tuple[dict, list[tuple[str, bytes]]]:
    """The report from a JSON body, or from a multipart form with files named ``photos``."""
    if request.mimetype == "multipart/form-data":
        fields_ = {k: v for k, v in request.form.items() if v != ""}
        files = [(f.filename or "photo", f.read()) for f in request.files.getlist("photos")]
    else:
        fields_ = parse_json(request.get_data(cache=False) or b"null")
        if not isinstance(fields_, dict):
            raise ApiError("请求体须为 JSON 对象 the body must be a JSON object", "malformed_json")
        files = []
    try:
        body = IssueCreate().load(fields_)
    except ValidationError as exc:
        raise ApiError("请求参数错误 invalid request parameters", "unprocessable_entity", 422, exc.messages) from exc
    return body, files + _decoded(body.pop("photos"))


_INTAKE_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": IssueCreate},
            "multipart/form-data": {"schema": IssueCreate},
        },
    }
}


@issues_bp.route("/issues", methods=["POST"])
@allow("issues:create")
@issues_bp.doc(**_INTAKE_DOC)
@issues_bp.response(
    201, description="The new issue, located and routed (200 with the existing one for a repeated external_id)"
)
def create_issue():
    """Report an issue: located in its micro-grid (or its community's unlocated queue) and routed to its worker."""
    body, photos = _intake_body()
    issue, created = desk().report(scoped(), channel="api", photos=photos, **body)
    return Response(json.dumps(issue, ensure_ascii=False), status=201 if created else 200, mimetype="application/json")


@issues_bp.route("/issues")
@allow("issues:read", "issues:status")
@issues_bp.arguments(IssueQuery, location="query")
@issues_bp.response(200, description="One page of the queue, newest first")
def list_issues_view(args):
    """The queue of the caller's areas (an intake channel sees its own reports)."""
    rows, total = list_issues(scoped(), now=desk().clock(), tz=desk().calendar.tz, **args)
    return {"issues": rows, "total": total, "page": args["page"], "per_page": args["per_page"]}


@issues_bp.route("/issues/<int(min=1, max=2147483647):issue_id>")
@allow("issues:read", "issues:status")
@issues_bp.response(200, description="One issue with its history and photos")
def get_issue_view(issue_id):
    """One issue: where it is, who has it, its state and every step so far."""
    return get_issue(scoped(), issue_id, now=desk().clock())


@issues_bp.route("/issues/<int(min=1, max=2147483647):issue_id>/actions", methods=["POST"])
@allow("issues:handle", "issues:dispatch")
@issues_bp.arguments(ActionBody)
@issues_bp.response(200, description="The issue after the step")
def act_on_issue(body, issue_id):
    """Take a workflow step, or escalate one level up the ladder.

    Steps: accept, file, dispatch, start, check, close, reject, void, park, unpark, reopen; ``assign`` with an
    ``area`` hands the issue to that area's queue (unlocated issues to their micro-grid).
    """
    user = caller()
    if body["action"] == "assign":
        if not body.get("area"):
            raise ApiError("分派需要区域编码 assign needs an area code", "missing_area")
        return desk().assign(scoped(), issue_id, body["area"], body["note"], can=user.can)
    return desk().act(scoped(), issue_id, body["action"], body["note"], can=user.can, photos=_decoded(body["photos"]))


@issues_bp.route("/issues/<int(min=1, max=2147483647):issue_id>/photos/<string(length=64):sha256>")
@allow("issues:read", "issues:status")
@issues_bp.response(200, description="The photo as sent")
def get_photo(issue_id, sha256):
    """A photo of an issue."""
    content_type, data = photo(scoped(), issue_id, sha256)
    return Response(data, mimetype=content_type, headers={"Cache-Control": "private, max-age=86400"})


@issues_bp.route("/issues/stats")
@allow("stats:read")
@issues_bp.arguments(StatsQuery, location="query")
@issues_bp.response(200, description="Figures for an area and the areas below it")
def issue_stats_view(args):
    """Open issues by state, overdue, on-time rate per stage, mean time to close, counts by category over time."""
    return issue_stats(scoped(), now=desk().clock(), tz=desk().calendar.tz, **args)


@issues_bp.route("/issues/export")
@allow("stats:read")
@issues_bp.arguments(ExportQuery, location="query")
@issues_bp.response(200, description="The queue as an Excel workbook or CSV (Chinese headers)")
def export_issues(args):
    """Every issue matching the filters, as xlsx or CSV with Chinese column headers."""
    fmt = args.pop("format")
    args.pop("page"), args.pop("per_page")
    frame = export_frame(scoped(), desk().catalog, now=desk().clock(), tz=desk().calendar.tz, **args)
    if fmt == "csv":
        data = frame.to_csv(index=False).encode("utf-8-sig")  # the BOM lets Excel read the Chinese headers
        mimetype = "text/csv"
    else:
        buffer = io.BytesIO()
        frame.to_excel(buffer, index=False, sheet_name="事件")
        data = buffer.getvalue()
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(data, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename=issues.{fmt}"})


@issues_bp.route("/issue-categories")
@authenticated
@issues_bp.response(200, description="Categories with their time limits per stage (working hours)")
def list_categories():
    """The categories issues can be reported in (Open311 services)."""
    return {"categories": [c.as_dict() for c in desk().catalog]}
