"""Map data for pages, loaded for the area on screen: GeoJSON by bbox and zoom, and Mapbox Vector Tiles.

``GET /api/v1/layers/{layer}?bbox=&zoom=&generation=`` and ``GET /tiles/{layer}/{z}/{x}/{y}.mvt?generation=&crs=``
(``crs=gcj02`` cuts the tile on AMap's GCJ-02 grid);
``layer`` is a level (``district`` … ``micro_grid``), ``buildings`` or ``service_points``. Both are filtered by
the caller's scope (see :mod:`boundaries.layers`). Tiles carry a strong ETag (generation, revision and scope) and
answer 304 to ``If-None-Match``.
"""

from __future__ import annotations

import json

from flask import Blueprint as FlaskBlueprint
from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from boundaries.layers import MAX_ZOOM, TILE_CRS, layer_geojson, tile, tile_etag
from web.access import allow, scoped
from web.api import GEOJSON, MAX_ID, _bbox
from web.errors import ApiError

__all__ = ["blueprints", "tiles"]

layers_bp = Blueprint("layers", __name__, url_prefix="/api/v1", description="地图图层 map layers")
blueprints = [layers_bp]
tiles = FlaskBlueprint("tiles", __name__)

MVT = "application/vnd.mapbox-vector-tile"


class LayerQuery(Schema):
    """The area on screen and its zoom."""

    bbox = fields.String(required=True, metadata={"description": "minlon,minlat,maxlon,maxlat (WGS84)"})
    zoom = fields.Integer(required=True, validate=validate.Range(min=0, max=MAX_ZOOM))
    generation = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))


@layers_bp.route("/layers/<string:layer>")
@allow("maps:view")
@layers_bp.arguments(LayerQuery, location="query")
@layers_bp.response(200, description="GeoJSON features of the layer in the bbox, simplified for the zoom")
def get_layer(args, layer):
    """Features of one layer meeting a bbox, simplified for a zoom (areas keep their shared edges)."""
    data = layer_geojson(scoped(), layer, _bbox(args["bbox"]), args["zoom"], args.get("generation"))
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body, mimetype=GEOJSON, headers={"Cache-Control": "private, max-age=60"})


@tiles.route(f"/tiles/<string:layer>/<int(max={MAX_ZOOM}):z>/<int(max=4194303):x>/<int(max=4194303):y>.mvt")
@allow("maps:view")
def get_tile(layer, z, x, y):
    """One Mapbox Vector Tile of a layer (features in the caller's scope only)."""
    raw = request.args.get("generation")
    try:
        generation = None if raw in (None, "") else int(raw)
    except ValueError as exc:
        raise ApiError("generation 应为整数 generation must be a whole number", "bad_generation") from exc
    if generation is not None and not 1 <= generation <= MAX_ID:
        raise ApiError("generation 超出范围 generation out of range", "bad_generation")
    crs = request.args.get("crs") or "wgs84"
    if crs not in TILE_CRS:
        raise ApiError("crs 应为 wgs84 或 gcj02 crs must be wgs84 or gcj02", "bad_crs")
    view = scoped()
    etag = tile_etag(view, layer, z, x, y, generation, crs)
    # a named generation never changes once published; the current one changes at the next publish
    cache = "private, max-age=86400" if generation is not None else "private, max-age=60"
    if request.if_none_match.contains_weak(etag):  # If-None-Match compares weakly (RFC 9110 §13.1.2)
        answer = Response(status=304)
    else:
        answer = Response(tile(view, layer, z, x, y, generation, crs), mimetype=MVT)
    answer.set_etag(etag)
    answer.headers["Cache-Control"] = cache
    return answer
