"""Issues over the API: intake, queues, one issue, workflow steps, photos, statistics and exports.

Intake takes JSON (photos as base64) or a multipart form with files named ``photos``; exports are xlsx or CSV
named like the pages, in the caller's page language (``web.issue_exports``).
"""

from __future__ import annotations

import base64
import binascii
import json

from flask import Response, current_app, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from core.errors import InvalidInputError
from issues.desk import HAZARD_LEVELS, IssueDesk, ReusedKeyError
from issues.exports import EXPORT_TYPES, export_file, export_frame
from issues.queries import get_issue, issue_stats, list_issues, photo
from issues.text import TEXT_LIMITS, text_problem
from issues.workflow import ACTIONS, STATES
from issues.worktime import zone
from web.access import allow, authenticated, caller, scoped
from web.api import MAX_ID
from web.errors import ApiError, parse_json

__all__ = ["blueprints", "desk", "IssueCreate", "Text", "load_report", "report"]

issues_bp = Blueprint("issues", __name__, url_prefix="/api/v1", description="事件 issues from the field")
blueprints = [issues_bp]


def desk() -> IssueDesk:
    """The app's issue desk."""
    return current_app.extensions["weige.issues"]


def _plain(value: str) -> None:
    problem = text_problem(value)
    if problem:
        raise ValidationError(problem)


class Text(fields.String):
    """A string of plain text: no control characters but tab and line breaks, no lone surrogates."""

    def __init__(self, *args, validate=None, **kwargs):
        validators = [_plain, *([validate] if callable(validate) else list(validate or []))]
        super().__init__(*args, validate=validators, **kwargs)


class PhotoData(Schema):
    """A photo sent inside JSON."""

    filename = Text(load_default="photo", validate=validate.Length(max=200))
    content_base64 = fields.String(required=True, metadata={"description": "the image file, base64"})


class IssueCreate(Schema):
    """A report from the field: where (lon/lat in a CRS, or a building), what, who."""

    category = Text(required=True, validate=validate.Length(min=1, max=32))
    description = Text(load_default="", validate=validate.Length(max=TEXT_LIMITS["description"]))
    lon = fields.Float(allow_nan=False, metadata={"description": "longitude in `crs` (not needed with building_id)"})
    lat = fields.Float(allow_nan=False, metadata={"description": "latitude in `crs`"})
    crs = Text(
        load_default="wgs84",
        validate=validate.Length(max=16),
        metadata={"description": "wgs84 | cgcs2000 | gcj02 | bd09"},
    )
    building_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    external_id = Text(
        validate=validate.Length(max=TEXT_LIMITS["external_id"]),
        metadata={"description": "the channel's id: idempotent"},
    )
    address = Text(load_default="", validate=validate.Length(max=TEXT_LIMITS["address"]))
    hazard_level = fields.String(load_default="general", validate=validate.OneOf(list(HAZARD_LEVELS)))
    reporter_name = Text(load_default="", validate=validate.Length(max=TEXT_LIMITS["reporter_name"]))
    reporter_phone = Text(load_default="", validate=validate.Length(max=TEXT_LIMITS["reporter_phone"]))
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
    """An area, a time window and a category."""

    area = fields.String(validate=validate.Length(max=32))
    category = fields.String(validate=validate.Length(max=32))
    since = fields.DateTime(metadata={"description": _TIME_DOC})
    until = fields.DateTime(metadata={"description": "reported before this instant; " + _TIME_DOC})
    period = fields.String(load_default="month", validate=validate.OneOf(["day", "week", "month"]))


class ActionBody(Schema):
    """A workflow step."""

    action = fields.String(required=True, validate=validate.OneOf([*ACTIONS, "escalate", "assign"]))
    note = Text(load_default="", validate=validate.Length(max=2000))
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


def load_report(values: dict, names: dict | None = None) -> dict:
    """A report checked by :class:`IssueCreate`: the one validation of every intake channel.

    The JSON API, its multipart form and Open311's form all come through here, so limits and text rules
    (:func:`issues.text.text_problem`) are the same whichever way a report arrives.

    Parameters
    ----------
    values : dict
        The report's fields under :class:`IssueCreate`'s names.
    names : dict, optional
        The channel's name for a field (e.g. Open311's ``address_string`` for ``address``), used in messages.

    Returns
    -------
    dict
        The loaded report.

    Raises
    ------
    web.errors.ApiError
        422 ``unprocessable_entity``, naming every bad field in the message and in ``details``.
    """
    try:
        return IssueCreate().load(values)
    except ValidationError as exc:
        details = {(names or {}).get(k, k): v for k, v in exc.messages.items()}
        summary = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in details.items())
        raise ApiError(
            f"请求参数错误 invalid request parameters: {summary}", "unprocessable_entity", 422, details
        ) from exc


def report(key_name: str = "external_id", **kwargs) -> tuple[dict, bool]:
    """:meth:`IssueDesk.report` for the caller; a key reused for another report is a 422 naming ``key_name``."""
    try:
        return desk().report(scoped(), **kwargs)
    except ReusedKeyError as exc:
        raise ApiError(
            f"{key_name} 已用于另一个不同的上报 the {key_name} {exc.key!r} was already used for a different "
            f"report (issue {exc.issue_id}); send a new {key_name} for a new report, or repeat the first exactly",
            "idempotency_key_reused",
            422,
        ) from exc


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
    body = load_report(fields_)
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
    issue, created = report(channel="api", photos=photos, **body)
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


def _instant(value, tz):
    """An aware instant; a naive time is read in the deployment's zone ``tz``."""
    return None if value is None else value if value.tzinfo else value.replace(tzinfo=tz)


@issues_bp.route("/issues/stats")
@allow("stats:read")
@issues_bp.arguments(StatsQuery, location="query")
@issues_bp.response(200, description="Figures for an area and the areas below it")
def issue_stats_view(args):
    """Open issues by state, overdue, on-time rate per stage, mean time to close, counts by category over time."""
    if not args.get("category"):  # empty (as a form sends it): every category, as on the statistics page
        args.pop("category", None)
    else:  # an unknown category is a mistake, as on the page, not a page of zeros
        desk().catalog.get(args["category"])
    tz = zone(desk().calendar.tz)
    since, until = (
        None if v is None else v if v.tzinfo else v.replace(tzinfo=tz) for v in (args.get("since"), args.get("until"))
    )
    if since is not None and until is not None and since >= until:  # instants: a naive time is in the deployment's zone
        raise InvalidInputError("开始时间须早于结束时间 since must be before until")
    return issue_stats(scoped(), now=desk().clock(), tz=desk().calendar.tz, **args)


@issues_bp.route("/issues/export")
@allow("issues:export")  # the rows themselves: not for roles that only see statistics
@issues_bp.arguments(ExportQuery, location="query")
@issues_bp.response(200, description="The queue as an Excel workbook or CSV, named like the pages")
def export_issues(args):
    """Every issue matching the filters, as xlsx or CSV: headers and names in the page language (tokens: default)."""
    from web.issue_exports import export_headers, export_language, export_names

    fmt = args.pop("format")
    args.pop("page"), args.pop("per_page")
    with export_language() as locale:
        headers, names = export_headers(), export_names(desk().catalog, english=locale == "en")
        sheet = _("Issues")
    frame = export_frame(scoped(), headers, names, now=desk().clock(), tz=desk().calendar.tz, **args)
    return Response(
        export_file(frame, fmt, sheet=sheet),
        mimetype=EXPORT_TYPES[fmt],
        headers={"Content-Disposition": f"attachment; filename=issues.{fmt}"},
    )


@issues_bp.route("/issue-categories")
@authenticated
@issues_bp.response(200, description="Categories with their time limits per stage (working hours)")
def list_categories():
    """The categories issues can be reported in (Open311 services)."""
    return {"categories": [c.as_dict() for c in desk().catalog]}
