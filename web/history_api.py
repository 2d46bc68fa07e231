"""History on the API: the diff of two generations, an area's lineage and its figures over time.

Each view parses the request, calls one domain function with the caller's scoped registry
(:mod:`boundaries.history`, :mod:`boundaries.lineage`, :mod:`issues.area_history`) and serialises the answer.
"""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from boundaries import history
from boundaries.levels import LEVELS
from boundaries.lineage import lineage
from issues.area_history import figures_over_time
from web.access import allow, scoped
from web.errors import ApiError

__all__ = ["bp"]

bp = Blueprint("history", __name__, url_prefix="/api/v1", description="历史 history, diff and lineage of areas")

_MAX_ID = 2_147_483_647


class DiffQuery(Schema):
    """What to compare."""

    parent = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    level = fields.String(load_default=None, validate=validate.OneOf(LEVELS))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "geojson"]))


class LineageQuery(Schema):
    """Where the lineage starts."""

    generation = fields.Integer(load_default=None, validate=validate.Range(min=1, max=_MAX_ID))


def _generation(value: str, draft: bool = False):
    if draft and value == history.DRAFT:
        return value
    if not value.isdigit() or not 1 <= int(value) <= _MAX_ID:
        allowed = "a generation number or draft" if draft else "a generation number"
        raise ApiError(f"版本参数错误 {value[:20]!r} is not {allowed}", "bad_generation")
    return int(value)


@bp.route("/generations/<old>/diff/<new>", methods=["GET"])
@allow("areas:read")
@bp.arguments(DiffQuery, location="query")
@bp.response(200, description="Areas added, removed, reshaped, changed, split, merged and buildings moved")
def generation_diff(query, old, new):
    """What changed between two generations (``new`` may be ``draft``: the caller's change set)."""
    found = history.diff(scoped(), _generation(old), _generation(new, True), query["parent"], query["level"])
    return found.features() if query["format"] == "geojson" else found.as_dict()


@bp.route("/areas/<code>/lineage", methods=["GET"])
@allow("areas:read")
@bp.arguments(LineageQuery, location="query")
@bp.response(200, description="Ancestors and descendants through the published generations")
def area_lineage(query, code):
    """Which areas an area came from and became, with the share of households."""
    return lineage(scoped(), code, query["generation"])


@bp.route("/areas/<code>/history", methods=["GET"])
@allow("areas:read")
@bp.response(200, description="Buildings, households and issues per published generation")
def area_history(code):
    """An area's figures over time, followed through its lineage."""
    return figures_over_time(scoped(), code)
