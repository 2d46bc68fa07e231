"""Map layers served to pages: GeoJSON by bounding box and Mapbox Vector Tiles, simplified per zoom, scoped.

A page loads only what is on screen, so its HTML no longer grows with the data. Areas of one level are simplified
together with ``shapely.coverage_simplify`` at a tolerance of half a pixel of the zoom, so edges shared by two
areas stay shared (no slivers or gaps between neighbours); buildings are simplified one by one; service points
are points. Each simplified level is built once per generation (and revision, for a draft) and zoom, and kept in
the registry's cache with an STRtree; buildings and service points are read per window from the store's spatial
index (a city has millions of buildings); tiles are cached by everything they depend on, including the
caller's scope, and every feature is filtered by that scope before it is encoded.

Tiles can also be cut in GCJ-02 (``crs="gcj02"``) for a page whose base map is AMap's: every geometry is shifted
to GCJ-02 before it is projected to web mercator, so the tile grid is AMap's and the overlay lies on its streets.
Building features carry ``area``, the code of the lowest-level area holding the building's point in the tile's
generation, so a page can colour them by micro-grid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import mapbox_vector_tile
import mercantile
import numpy as np
import shapely

from boundaries import assets
from boundaries.levels import LEVELS
from boundaries.scope import ScopedRegistry
from core.errors import InvalidInputError, NotFoundError
from geo.crs import GCJ02, WGS84, gcj02_to_wgs84, geometries_from_wgs84

__all__ = [
    "LAYERS",
    "MAX_FEATURES",
    "MAX_WINDOW_PIXELS",
    "MAX_ZOOM",
    "window_pixels",
    "TILE_CRS",
    "TILE_EXTENT",
    "layer_geojson",
    "tile",
    "tile_etag",
    "tolerance_deg",
]

#: Layers a page can ask for: each level of areas, buildings and service points.
LAYERS = (*LEVELS, "buildings", "service_points")
MAX_ZOOM = 22
#: The largest window a GeoJSON layer answer covers (a 4K screen is 8.3 million pixels) and its most features.
MAX_WINDOW_PIXELS = 4096 * 4096
MAX_FEATURES = 20_000
#: Tile extent and the buffer around a tile (in tile units) that features are clipped to.
TILE_EXTENT, TILE_BUFFER = 4096, 64
_AREA_PROPS = ("code", "name", "level", "kind", "parent_code")
#: Coordinate systems a tile grid can be cut in: WGS84 web mercator, or GCJ-02 web mercator (AMap's grid).
TILE_CRS = (WGS84, GCJ02)


def tolerance_deg(zoom: int) -> float:
    """Half a screen pixel at ``zoom`` in degrees of longitude (0 from zoom 17, where outlines are kept whole)."""
    return 0.0 if zoom >= 17 else 360.0 / (256 * 2**zoom) / 2


@dataclass
class _Layer:
    geometries: np.ndarray  # simplified, WGS84
    properties: list[dict]
    tree: shapely.STRtree | None  # areas: the layer's tree; assets are read per window (no tree)
    points: tuple[np.ndarray, np.ndarray] | None = None  # lon, lat of assets (for the scope test)


def _check(layer: str, zoom: int, crs: str = WGS84) -> None:
    if crs not in TILE_CRS:
        raise InvalidInputError(f"瓦片坐标系应为 wgs84 或 gcj02 tile crs must be wgs84 or gcj02, not {crs!r}")
    if layer not in LAYERS:
        raise NotFoundError(f"图层不存在 no layer {layer!r}: {', '.join(LAYERS)}")
    if not 0 <= int(zoom) <= MAX_ZOOM:
        raise InvalidInputError(f"缩放级别应为 0–{MAX_ZOOM} zoom must be 0 to {MAX_ZOOM}, not {zoom}")


def _area_layer(view: ScopedRegistry, level: str, generation: int, zoom: int) -> _Layer:
    registry = view.registry

    def build():
        frame = registry.areas(level=level, generation=generation)
        geoms = np.asarray(frame.geometry.values, dtype=object)
        tolerance = tolerance_deg(zoom)
        if tolerance and len(geoms):
            try:
                geoms = np.asarray(shapely.coverage_simplify(geoms, tolerance), dtype=object)
            except shapely.errors.GEOSException:  # not a valid coverage (overlaps): simplify each on its own
                geoms = np.asarray(shapely.simplify(geoms, tolerance, preserve_topology=True), dtype=object)
        props = frame[list(_AREA_PROPS)].to_dict("records")
        return _Layer(geoms, props, shapely.STRtree(geoms))

    key = ("layer", level, generation, registry.cache_version(generation), min(zoom, 17))
    return registry.layers.get_or_build(key, build)


#: Zooms whose tiles of the lowest level are simplified ahead (from 17 outlines are kept whole).
WARM_ZOOMS = (14, 15, 16)


def warm_layers(registry, generation: int, zooms=WARM_ZOOMS) -> None:
    """Simplify a generation's lowest level for ``zooms`` now, so no tile request waits for it.

    The first tile of a zoom otherwise simplifies the whole level (``coverage_simplify`` of 126,000 micro-grids
    took 8 s in ``bench/maps.py``). The service runs this after a publish and at start, in the background.

    Parameters
    ----------
    registry : boundaries.registry.Registry
        The registry whose layer cache is filled.
    generation : int
        A published generation.
    zooms : tuple of int
        The zooms to prepare.
    """
    from core.audit import SYSTEM
    from core.scope import Scope

    if not registry.levels_present(generation):
        return
    view = ScopedRegistry(registry, Scope.everything(), SYSTEM)
    level = registry.lowest_level(generation)
    for zoom in zooms:
        _area_layer(view, level, generation, zoom)


def _asset_window(view: ScopedRegistry, layer: str, zoom: int, box) -> _Layer:
    """The buildings or service points whose boxes meet ``box``, read from the store's spatial index.

    Assets are read per window rather than as a whole layer: a city holds millions of buildings, and reading
    them all (the first tile after a start, or after any asset change) took ~40 s; a window is one indexed query.
    """
    bbox = tuple(float(v) for v in box.bounds)
    if layer == "buildings":
        frame = assets.buildings(view.registry, bbox=bbox)
        keep = ["id", "name", "address", "floors", "households", "use"]
    else:
        frame = assets.service_points(view.registry, bbox=bbox)
        keep = ["id", "name", "kind", "opening_hours", "capacity", "address"]
    geoms = np.asarray(frame.geometry.values, dtype=object)
    tolerance = tolerance_deg(zoom)
    if tolerance and layer == "buildings" and len(geoms):
        geoms = np.asarray(shapely.simplify(geoms, tolerance, preserve_topology=True), dtype=object)
    props = frame[[c for c in keep if c in frame.columns]].to_dict("records")
    points = (frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    return _Layer(geoms, props, None, points)


def _building_areas(view: ScopedRegistry, generation: int, data: _Layer, hits: np.ndarray) -> dict[int, str]:
    """The lowest-level area code holding each hit building's point in ``generation`` (none outside every area)."""
    registry = view.registry
    if not len(hits) or not registry.levels_present(generation):
        return {}
    lon, lat = data.points
    found = registry.locate(lon[hits], lat[hits], level=registry.lowest_level(generation), generation=generation)
    ok = found["status"].to_numpy() == "ok"
    return {
        int(i): str(code) for i, code, good in zip(hits, found["code"].to_numpy(dtype=object), ok, strict=True) if good
    }


def _select(view: ScopedRegistry, layer: str, generation: int, zoom: int, box) -> tuple[_Layer, np.ndarray]:
    """The layer and the indices of its features that meet ``box`` and lie in the caller's scope."""
    if layer in LEVELS:
        data = _area_layer(view, layer, generation, zoom)
        hits = np.sort(data.tree.query(box))
        allowed = view.codes(generation)
        if allowed is not None:
            hits = hits[np.fromiter((data.properties[i]["code"] in allowed for i in hits), bool, len(hits))]
        return data, hits
    data = _asset_window(view, layer, zoom, box)
    hits = np.arange(len(data.geometries))
    if len(hits):
        lon, lat = data.points
        hits = hits[view.covers_points(lon[hits], lat[hits])]
    return data, hits


def _same_kind(clipped, original):
    """The part of a clipped geometry of the original's kind (clipping a polygon can leave lines or points)."""
    if clipped is None or clipped.is_empty:
        return None
    kind = shapely.get_type_id(original)
    if kind in (3, 6):  # polygons
        parts = [p for p in shapely.get_parts(clipped) if shapely.get_type_id(p) == 3 and not p.is_empty]
        return None if not parts else parts[0] if len(parts) == 1 else shapely.multipolygons(parts)
    if kind == 0:
        return clipped if shapely.get_type_id(clipped) == 0 else None
    return clipped


def _json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def window_pixels(bbox, zoom: int) -> float:
    """How many screen pixels ``bbox`` (WGS84) covers at ``zoom`` on a web-mercator map (256 px tiles)."""
    minx, miny, maxx, maxy = bbox
    x0, y0 = mercantile.xy(minx, max(miny, -85.0511))
    x1, y1 = mercantile.xy(maxx, min(maxy, 85.0511))
    metres_per_pixel = 2 * 6378137 * np.pi / (256 * 2 ** int(zoom))
    return max(x1 - x0, 0.0) / metres_per_pixel * max(y1 - y0, 0.0) / metres_per_pixel


def layer_geojson(view: ScopedRegistry, layer: str, bbox, zoom: int, generation=None) -> dict:
    """Features of ``layer`` meeting ``bbox`` (WGS84), simplified for ``zoom``, as a GeoJSON FeatureCollection.

    The window must be a screen's worth at that zoom (at most :data:`MAX_WINDOW_PIXELS`) and hold at most
    :data:`MAX_FEATURES` features; a larger one is refused (zoom in, or draw the layer from tiles), so one request
    can never ask for a whole city's buildings.
    """
    _check(layer, zoom)
    pixels = window_pixels(bbox, zoom)
    if pixels > MAX_WINDOW_PIXELS:
        raise InvalidInputError(
            f"范围过大 the bbox covers {pixels / 1e6:.0f} million pixels at zoom {int(zoom)} (at most "
            f"{MAX_WINDOW_PIXELS / 1e6:.0f} million): send the bbox of the screen and its zoom"
        )
    g = view.resolve_generation(generation)
    data, hits = _select(view, layer, g, int(zoom), shapely.box(*bbox))
    if len(hits) > MAX_FEATURES:
        raise InvalidInputError(
            f"要素过多 {len(hits)} features in this window (at most {MAX_FEATURES}): zoom in, or use the tiles"
        )
    features = [
        {
            "type": "Feature",
            "properties": {k: _json_value(v) for k, v in data.properties[i].items()},
            "geometry": shapely.geometry.mapping(data.geometries[i]),
        }
        for i in hits
    ]
    return {"type": "FeatureCollection", "features": features, "generation": g, "zoom": int(zoom)}


def _tile_key(view: ScopedRegistry, layer: str, z: int, x: int, y: int, generation: int, crs: str = WGS84) -> tuple:
    version = view.registry.cache_version(generation) if layer in LEVELS else ("assets", view.snapshot()["assets"])
    if layer == "buildings":  # buildings carry the code of their area in the generation
        version = (*version, view.registry.cache_version(generation))
    scope = None if view.scope.unrestricted else tuple(sorted(view.scope.roots))
    return ("tile", layer, z, x, y, generation, version, scope) + (() if crs == WGS84 else (crs,))


def tile_etag(view: ScopedRegistry, layer: str, z: int, x: int, y: int, generation=None, crs: str = WGS84) -> str:
    """A strong ETag of a tile: it changes with the generation, the revision, the caller's scope and the grid."""
    _check(layer, z, crs)
    g = view.resolve_generation(generation)
    return hashlib.sha256(repr(_tile_key(view, layer, z, x, y, g, crs)).encode()).hexdigest()[:32]


def _query_box(west: float, south: float, east: float, north: float, crs: str):
    """The WGS84 box holding every feature that can fall in a box of ``crs`` (GCJ-02 shifts by under 1 km)."""
    if crs == WGS84:
        return shapely.box(west, south, east, north)
    lon, lat = gcj02_to_wgs84(np.array([west, east, west, east]), np.array([south, south, north, north]))
    pad = 0.001  # the shift changes by far less than this across one tile
    return shapely.box(lon.min() - pad, lat.min() - pad, lon.max() + pad, lat.max() + pad)


def tile(view: ScopedRegistry, layer: str, z: int, x: int, y: int, generation=None, crs: str = WGS84) -> bytes:
    """The Mapbox Vector Tile ``z/x/y`` of ``layer`` (one MVT layer of that name), clipped to the tile and a buffer.

    Parameters
    ----------
    view : ScopedRegistry
        The caller: only features in their scope are encoded.
    layer : str
        One of :data:`LAYERS`.
    z, x, y : int
        Web-mercator tile address (XYZ, y down).
    generation : int, optional
        Default: the current generation.
    crs : str
        ``wgs84`` (default): the usual web-mercator grid; ``gcj02``: every geometry shifted to GCJ-02 first, so
        the tile lines up with AMap's tiles of the same address.

    Returns
    -------
    bytes
        The encoded tile (an empty tile has no features). Buildings carry ``area`` (see the module).
    """
    _check(layer, z, crs)
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFoundError(f"瓦片不存在 no tile {z}/{x}/{y}")
    g = view.resolve_generation(generation)

    def build():
        west, south, east, north = mercantile.bounds(x, y, z)
        pad_lon, pad_lat = (east - west) * TILE_BUFFER / TILE_EXTENT, (north - south) * TILE_BUFFER / TILE_EXTENT
        data, hits = _select(
            view, layer, g, z, _query_box(west - pad_lon, south - pad_lat, east + pad_lon, north + pad_lat, crs)
        )
        areas = _building_areas(view, g, data, hits) if layer == "buildings" else {}
        bounds = mercantile.xy_bounds(x, y, z)
        pad = (bounds.right - bounds.left) * TILE_BUFFER / TILE_EXTENT
        features = []
        if len(hits):
            geoms = data.geometries[hits]
            if crs == GCJ02:
                geoms = geometries_from_wgs84(geoms, GCJ02)
            merc = geometries_from_wgs84(geoms, "EPSG:3857")
            # to whole tile units (y up; the encoder flips it), as the tile stores them
            scale = np.array([TILE_EXTENT / (bounds.right - bounds.left), TILE_EXTENT / (bounds.top - bounds.bottom)])
            origin = np.array([bounds.left, bounds.bottom])
            merc = shapely.transform(merc, lambda xy: np.round((xy - origin) * scale))
            bounds = mercantile.Bbox(0.0, 0.0, float(TILE_EXTENT), float(TILE_EXTENT))
            pad = float(TILE_BUFFER)
            clipped = shapely.clip_by_rect(
                merc, bounds.left - pad, bounds.bottom - pad, bounds.right + pad, bounds.top + pad
            )
            for i, geom in zip(hits, clipped, strict=True):
                geom = _same_kind(geom, data.geometries[i])
                if geom is None:
                    continue
                props = {k: _json_value(v) for k, v in data.properties[i].items() if _json_value(v) is not None}
                if i in areas:
                    props["area"] = areas[i]
                fid = int(props["id"]) if layer not in LEVELS and "id" in props else int(i) + 1  # assets: their id
                features.append({"geometry": geom, "properties": props, "id": fid})
        return mapbox_vector_tile.encode(
            [{"name": layer, "features": features}], default_options={"extents": TILE_EXTENT}
        )

    return view.registry.tiles.get_or_build(_tile_key(view, layer, z, x, y, g, crs), build)
