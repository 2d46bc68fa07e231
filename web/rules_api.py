"""Planning rules on the API: an area's children checked in a generation, rules waived per area, and the fix tool.

Each view parses the request, calls one function of :mod:`boundaries.rules` with the caller's scoped registry,
and serialises the answer (failures as GeoJSON features).
"""

from __future__ import annotations

from flask import current_app, jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.http import quote_etag

from boundaries import fixing, rule_waivers, rules
from boundaries.versions import PreconditionFailedError
from web.access import allow, scoped

__all__ = ["bp", "rule_settings", "refused"]

bp = Blueprint("rules", __name__, url_prefix="/api/v1", description="规划规则 planning rules and waivers")


class GenerationField(fields.Field):
    """``draft`` or a generation id; ``strict``: the id must be a JSON integer (not 1.5, true or "1")."""

    def __init__(self, *args, strict: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.strict = strict

    def _deserialize(self, value, attr, data, **kwargs):
        if value == "draft":
            return value
        if self.strict and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValidationError("版本应为 draft 或整数编号 generation must be draft or a whole number")
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError("版本应为 draft 或编号 generation must be draft or a number") from exc
        if not 1 <= number <= 2_147_483_647:
            raise ValidationError("版本编号超出范围 generation out of range")
        return number


class StrictBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only (not "yes", 1 or "true")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("应为 true 或 false must be true or false")
        return value


class RulesQuery(Schema):
    """Which generation to check."""

    generation = GenerationField(
        load_default=None, metadata={"description": "draft, a generation id, or the current (default)"}
    )


class WaiverCreate(Schema):
    """A rule waived for the area, with the reason."""

    rule = fields.String(required=True, validate=validate.OneOf(list(rules.RULES)))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class FixBody(Schema):
    """The fix tool's request: tolerance (m), preview or apply, and the generation read."""

    tolerance_m = fields.Float(
        load_default=1.0,
        allow_nan=False,
        validate=validate.Range(*fixing.TOLERANCE_RANGE_M),
        metadata={"description": "no vertex moves farther (m); gaps narrower are closed"},
    )
    apply = StrictBoolean(
        load_default=False,
        metadata={"description": "write the fix into your draft (JSON true or false)"},
    )
    generation = GenerationField(
        load_default=None, strict=True, metadata={"description": "draft, an id, or the current"}
    )


def rule_settings() -> rules.RuleSettings:
    """The rule thresholds of the app's settings."""
    return rules.settings_from(current_app.config)


def refused(exc: rules.RulesFailedError):
    """409 listing every unwaived failure as a GeoJSON feature."""
    failures = [f.feature() for f in exc.failures]
    body = {"error": {"code": exc.code, "message": str(exc), "failures": failures}}
    return jsonify(body), 409


def _precondition_failed(exc: PreconditionFailedError):
    """412: a child changed since the preview (or since it was read)."""
    body = {"error": {"code": exc.code, "message": str(exc), "current": exc.current}}
    return jsonify(body), 412, {"ETag": quote_etag(exc.version)}


bp.register_error_handler(rules.RulesFailedError, refused)
bp.register_error_handler(PreconditionFailedError, _precondition_failed)


@bp.route("/areas/<code>/rules", methods=["GET"])
@allow("areas:read")
@bp.arguments(RulesQuery, location="query")
@bp.response(200, description="The rule failures of the area's children as GeoJSON features")
def area_rules(query, code):
    """Check the planning rules on an area's children (``generation=draft`` for the draft)."""
    return _rules_collection(rules.check_area(scoped(), code, query["generation"], rule_settings()))


@bp.route("/areas/<code>/waivers", methods=["POST"])
@allow("areas:write")
@bp.arguments(WaiverCreate)
@bp.response(201, description="The waiver")
def create_waiver(body, code):
    """Waive a rule for an area, with the reason (recorded in the audit log)."""
    return rule_waivers.add_waiver(scoped(), code, body["rule"], body["reason"]), 201


@bp.route("/areas/<code>/waivers/<int(min=1, max=2147483647):waiver_id>", methods=["DELETE"])
@allow("areas:write")
@bp.response(200, description="The withdrawn waiver")
def delete_waiver(code, waiver_id):
    """Withdraw a waiver (recorded in the audit log)."""
    return rule_waivers.remove_waiver(scoped(), code, waiver_id)


def _rules_collection(found: dict) -> dict:
    return {
        "type": "FeatureCollection",
        "generation": found["generation"],
        "code": found["code"],
        "level": found["level"],
        "errors": found["errors"],
        "features": [f.feature() for f in found["failures"]],
    }


@bp.route("/areas/<code>/fix", methods=["POST"])
@allow("areas:write")
@bp.arguments(FixBody)
@bp.response(200, description="Every vertex that moves (GeoJSON points), the areas fixed and those left alone")
def fix_area(body, code):
    """Preview, or with apply write into your draft, the fix of an area's children (If-Match: their versions)."""
    from web.edit_api import if_match  # edit_api imports this module

    found = fixing.fix_area(
        scoped(), code, body["generation"], body["tolerance_m"], body["apply"], if_match(), rule_settings()
    )
    if "rules" in found:
        found["rules"] = _rules_collection(found["rules"])
    return found
