"""Suggested micro-grids on the API: ``POST /api/v1/areas/{code}/suggest``, a preview or applied to a change set.

The view parses the body, calls :func:`boundaries.suggest.suggest_micro_grids` and returns its answer.
"""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from boundaries import suggest
from boundaries.versions import PreconditionFailedError
from core.errors import ChangeSetConflictError
from web.access import allow, scoped
from web.edit_api import change_set_conflict, precondition_failed
from web.rules_api import StrictBoolean, rule_settings

__all__ = ["bp"]

bp = Blueprint("suggest", __name__, url_prefix="/api/v1", description="建议微网格 suggested micro-grids")
bp.register_error_handler(PreconditionFailedError, precondition_failed)
bp.register_error_handler(ChangeSetConflictError, change_set_conflict)

_HOUSEHOLDS = validate.Range(min=1, max=100_000)


class MicroGridSuggestBody(Schema):
    """Preview or apply; the household range (default: the settings' micro-grid range)."""

    apply = StrictBoolean(load_default=False, metadata={"description": "write the proposal into your change set"})
    low = fields.Integer(load_default=None, strict=True, validate=_HOUSEHOLDS, metadata={"description": "floor"})
    high = fields.Integer(load_default=None, strict=True, validate=_HOUSEHOLDS, metadata={"description": "ceiling"})

    @validates_schema
    def _range(self, data, **kwargs):
        if data.get("low") is not None and data.get("high") is not None and data["low"] > data["high"]:
            raise ValidationError("户数下限不能大于上限 low must not exceed high", "low")


@bp.route("/areas/<code>/suggest", methods=["POST"])
@allow("areas:write")
@bp.arguments(MicroGridSuggestBody)
@bp.response(200, description="The suggested micro-grids (GeoJSON) with a summary")
def suggest_micro_grids(body, code):
    """Suggest a grid's micro-grids from its buildings; with apply, write them into your change set."""
    return suggest.suggest_micro_grids(scoped(), code, body["apply"], rule_settings(), body["low"], body["high"])
