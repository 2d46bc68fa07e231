"""The OpenAPI 3.0 description of ``/ogc`` (OGC API – Features' ``service-desc``).

Clients read it: GDAL (and QGIS through it) take the ``limit`` parameter's maximum as their page size, so a
100,000-feature collection comes in ten requests rather than ten thousand.
"""

from __future__ import annotations

__all__ = ["openapi_document"]


def _query(name: str, schema: dict, description: str, style: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema} | (
        style or {}
    )


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _get(summary: str, parameters: list, kind: str = "application/json") -> dict:
    return {
        "get": {
            "summary": summary,
            "parameters": parameters,
            "responses": {
                "200": {"description": "OK", "content": {kind: {}}},
                "400": {"description": "bad parameter"},
                "401": {"description": "sign in or send a Bearer token"},
                "404": {"description": "not found"},
            },
        }
    }


def openapi_document(server: str, max_limit: int, default_limit: int, collections: list[str]) -> dict:
    """The API description with ``server`` as its base URL.

    Parameters
    ----------
    server : str
        The landing page's absolute URL.
    max_limit, default_limit : int
        The ``limit`` parameter's maximum and default.
    collections : list of str
        The collection ids (the ``collectionId`` enumeration).

    Returns
    -------
    dict
    """
    f = _query("f", {"type": "string", "enum": ["json", "html"]}, "format")
    crs = _query("crs", {"type": "string", "format": "uri"}, "CRS of the answer (default CRS84)")
    collection_id = _path("collectionId", "collection") | {"schema": {"type": "string", "enum": collections}}
    items = [
        collection_id,
        _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": max_limit, "default": default_limit},
            "features per page",
            {"style": "form", "explode": False},
        ),
        _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "features skipped (stable order by id)"),
        _query(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "minx,miny,maxx,maxy",
            {"style": "form", "explode": False},
        ),
        _query("bbox-crs", {"type": "string", "format": "uri"}, "CRS of bbox (default CRS84)"),
        _query("datetime", {"type": "string"}, "issues: report time, an instant or start/end (.. open)"),
        _query("generation", {"type": "string"}, "areas: the generation (default the current one)"),
        crs,
        f,
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": "Weige 微格 OGC API – Features", "version": "1.0.0"},
        "servers": [{"url": server}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}, {}],
        "paths": {
            "/": _get("landing page", [f]),
            "/conformance": _get("conformance classes", [f]),
            "/collections": _get("collections", [f]),
            "/collections/{collectionId}": _get("one collection", [collection_id, f]),
            "/collections/{collectionId}/items": _get("features", items, "application/geo+json"),
            "/collections/{collectionId}/items/{featureId}": _get(
                "one feature", [collection_id, _path("featureId", "feature id"), crs, f], "application/geo+json"
            ),
        },
    }
