"""Patrols over the API (issue 12): record a patrol from the phone or a GPX file, read tracks, check in, my work.

The contract shared with the phone app is in the README's "Patrols" section. Times must carry a UTC offset;
every write is idempotent by the client's ``client_id``: a resend answers 200 with the stored object.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from patrols.gpx import GpxTooLargeError, read_gpx
from patrols.service import MAX_POSITIONS, PatrolDesk, TooFarError
from patrols.tracks import TrackRules
from patrols.work import compliance, compliance_xlsx, my_work
from web.access import allow, caller, scoped
from web.api import MAX_ID
from web.errors import ApiError
from web.issues_api import desk
from web.settings import setting

__all__ = ["blueprints", "patrol_desk"]

patrols_bp = Blueprint("patrols", __name__, url_prefix="/api/v1", description="巡查 patrols, check-ins, my work")
blueprints = [patrols_bp]

_TIME = "ISO 8601 with a UTC offset (a time without one is refused)"
_BAD = {"error_status_code": 400}


def patrol_desk() -> PatrolDesk:
    """The app's patrol desk (built on first use from the settings)."""
    found = current_app.extensions.get("weige.patrols")
    if found is None:
        rules = TrackRules.from_settings(current_app.config)
        found = current_app.extensions["weige.patrols"] = PatrolDesk(desk().registry, rules, clock=desk().clock)
    return found


#: Times the API accepts, as instants: from 1970-01-01 to 2200-01-01 (UTC).
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
_TIME_RANGE = "时间须在 1970-01-01 至 2200-01-01 之间 times must lie between 1970-01-01 and 2200-01-01 (UTC)"


class Instant(fields.AwareDateTime):
    """An ISO 8601 time with a UTC offset, as aware UTC, between :data:`EARLIEST` and :data:`LATEST`.

    Extreme values whose offset moves them out of Python's years 1–9999 (``0001-01-01T00:00:00+14:00``) are
    refused like any other time out of range, never an overflow.
    """

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = parsed.astimezone(timezone.utc)
        except (OverflowError, ValueError) as exc:
            raise ValidationError(_TIME_RANGE) from exc
        if not EARLIEST <= parsed < LATEST:
            raise ValidationError(_TIME_RANGE)
        return parsed


class ClientId(fields.String):
    """A client-generated id (a UUID string): 1–64 printable ASCII characters."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(r"^[\x21-\x7e]{1,64}$"), **kwargs)


class PatrolStart(Schema):
    """A patrol started on the phone."""

    client_id = ClientId(required=True)
    started_at = Instant(required=True, metadata={"description": _TIME})


class Fix(Schema):
    """One GPS fix (WGS84)."""

    t = Instant(required=True, metadata={"description": _TIME})
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    accuracy = fields.Float(allow_nan=False, allow_none=True, validate=validate.Range(0, 100_000))


class Positions(Schema):
    """A batch of fixes."""

    positions = fields.List(fields.Nested(Fix), required=True, validate=validate.Length(max=MAX_POSITIONS))


class PatrolEnd(Schema):
    """The end of a patrol."""

    ended_at = Instant(required=True, metadata={"description": _TIME})


class CheckinBody(Schema):
    """A check-in at a building."""

    client_id = ClientId(required=True)
    building_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    accuracy = fields.Float(allow_nan=False, allow_none=True, validate=validate.Range(0, 100_000))
    at = Instant(required=True, metadata={"description": _TIME})


class PatrolQuery(Schema):
    """Patrol filters."""

    worker = fields.Integer(validate=validate.Range(min=1, max=MAX_ID), metadata={"description": "a user id"})
    since = Instant(metadata={"description": "started at or after; " + _TIME})
    until = Instant(metadata={"description": "started before; " + _TIME})
    area = fields.String(validate=validate.Length(min=1, max=32))


class ComplianceQuery(Schema):
    """An area, a period and the format."""

    area = fields.String(validate=validate.Length(min=1, max=32))
    since = Instant(metadata={"description": "default: 30 days ago; " + _TIME})
    until = Instant(metadata={"description": "default: now; " + _TIME})
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "xlsx"]))


def _created(body, created: bool):
    return body, (201 if created else 200)


@patrols_bp.route("/patrols", methods=["POST"])
@allow("patrols:record")
@patrols_bp.arguments(PatrolStart, **_BAD)
@patrols_bp.response(201, description="The patrol (200 with the stored one on a resend of its client_id)")
def start_patrol(body):
    """Start a patrol."""
    return _created(*patrol_desk().start(scoped(), caller(), body["client_id"], body["started_at"]))


@patrols_bp.route("/patrols/<int(min=1, max=2147483647):patrol_id>/positions", methods=["POST"])
@allow("patrols:record")
@patrols_bp.arguments(Positions, **_BAD)
@patrols_bp.response(200, description="{accepted, duplicates}")
def add_positions(body, patrol_id):
    """Add a batch of positions to one's own running patrol (a fix at an instant already stored is a duplicate)."""
    return patrol_desk().add_positions(scoped(), caller(), patrol_id, body["positions"])


@patrols_bp.route("/patrols/<int(min=1, max=2147483647):patrol_id>/end", methods=["POST"])
@allow("patrols:record")
@patrols_bp.arguments(PatrolEnd, **_BAD)
@patrols_bp.response(200, description="The patrol with its summary")
def end_patrol(body, patrol_id):
    """End one's own patrol; ending it again answers the stored patrol."""
    return patrol_desk().end(scoped(), caller(), patrol_id, body["ended_at"])


@patrols_bp.route("/patrols/gpx", methods=["POST"])
@allow("patrols:record")
@patrols_bp.doc(
    requestBody={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}, "client_id": {"type": "string"}},
                    "required": ["file"],
                }
            }
        },
    }
)
@patrols_bp.response(201, description="{patrols: [...]}, one ended patrol per track (200 when all were stored)")
def upload_gpx():
    """Upload a GPX 1.0/1.1 file from a GPS device: one ended patrol per track."""
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None:
        raise ApiError("请以 multipart 表单字段 file 上传 GPX 文件 send the GPX file as the multipart field 'file'")
    data = upload.read()
    if not data:
        raise ApiError("GPX 文件为空 the GPX file is empty", "bad_gpx")
    client_id = request.form.get("client_id") or hashlib.sha256(data).hexdigest()[:40]
    if not 1 <= len(client_id) <= 40 or not client_id.isascii() or not client_id.isprintable():
        raise ApiError("client_id 须为 1–40 个 ASCII 字符 client_id must be 1–40 printable ASCII characters")
    config = current_app.config
    try:
        tracks = read_gpx(
            data,
            max_tracks=int(setting(config, "PATROL_GPX_MAX_TRACKS")),
            max_points=int(setting(config, "PATROL_GPX_MAX_POINTS")),
            max_hours=float(setting(config, "PATROL_MAX_HOURS")),
        )
    except GpxTooLargeError as exc:
        raise ApiError(str(exc), "too_large", 413) from exc
    patrols, created = patrol_desk().import_tracks(scoped(), caller(), tracks, client_id)
    return {"patrols": patrols}, (201 if created else 200)


@patrols_bp.route("/patrols")
@allow("patrols:record", "patrols:read")
@patrols_bp.arguments(PatrolQuery, location="query", **_BAD)
@patrols_bp.response(200, description="{patrols: [...]} with summaries, newest first (a worker: their own)")
def list_patrols(args):
    """Patrols the caller may read."""
    return {"patrols": patrol_desk().list(scoped(), caller(), **args)}


@patrols_bp.route("/patrols/<int(min=1, max=2147483647):patrol_id>")
@allow("patrols:record", "patrols:read")
@patrols_bp.response(200, description="The patrol, its summary, its cleaned track (GeoJSON) and dropped fixes")
def get_patrol(patrol_id):
    """One patrol with its track (thinned evenly beyond PATROL_TRACK_MAX_POINTS fixes, said in ``simplified``)."""
    max_points = int(setting(current_app.config, "PATROL_TRACK_MAX_POINTS"))
    return patrol_desk().get(scoped(), caller(), patrol_id, max_points=max_points)


@patrols_bp.route("/patrols/compliance")
@allow("patrols:read")
@patrols_bp.arguments(ComplianceQuery, location="query", **_BAD)
@patrols_bp.response(200, description="Per worker and per micro-grid: patrolled / due, households visited / due")
def patrol_compliance(args):
    """Patrol compliance for a period (JSON, or xlsx with local, labelled times)."""
    now = desk().clock()
    until = args.get("until") or now
    since = args.get("since") or until - timedelta(days=30)
    if since >= until:
        raise ApiError("since 须早于 until since must be before until")
    since, until = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
    figures = compliance(
        scoped(), args.get("area"), since, until, patrol_desk().rules, desk().calendar.tz, now=patrol_desk().clock()
    )
    if args["format"] == "xlsx":
        return Response(
            compliance_xlsx(figures, desk().calendar.tz),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": "attachment; filename=patrol-compliance.xlsx"},
        )
    return figures


@patrols_bp.route("/checkins", methods=["POST"])
@allow("patrols:record")
@patrols_bp.arguments(CheckinBody, **_BAD)
@patrols_bp.response(201, description="The check-in (200 on a resend); 422 too_far with details.distance_m")
def create_checkin(body):
    """Check in at a building within reach of its footprint."""
    try:
        made, created = patrol_desk().checkin(scoped(), caller(), **body)
    except TooFarError as exc:
        raise ApiError(str(exc), "too_far", 422, {"distance_m": exc.distance_m}) from exc
    return _created(made, created)


@patrols_bp.route("/me/work")
@allow("patrols:record")
@patrols_bp.response(200, description="{queue, areas, due: {micro_grids, buildings}}")
def me_work():
    """The signed-in worker's queue (overdue first), areas and what is due this cycle."""
    now = desk().clock()
    return my_work(scoped(), caller(), desk(), patrol_desk(), now if now.tzinfo else now.replace(tzinfo=timezone.utc))
