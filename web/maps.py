"""Folium maps that work with no internet: every asset is served by the app from a declared dependency.

A default ``folium.Map`` asks public CDNs for Leaflet, jQuery, Bootstrap, Leaflet.awesome-markers, Font
Awesome and Glyphicons. Our maps use only Leaflet (served from the XStatic-Leaflet package under
``/vendor/leaflet/``) and draw no third-party base map unless ``WEIGE_TILES`` names one (e.g. an intranet
Tianditu proxy), so a government intranet shows them unchanged.
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
from flask import url_for

__all__ = ["offline_map", "add_areas", "add_buildings", "add_service_points", "escaped", "LEVEL_STYLES"]

LEVEL_STYLES = {
    "district": {"color": "#555555", "weight": 4, "fillOpacity": 0.0},
    "street": {"color": "#8e44ad", "weight": 4, "fillOpacity": 0.0},
    "community": {"color": "#c0392b", "weight": 3, "fillOpacity": 0.0},
    "grid": {"color": "#2c3e50", "weight": 2, "fillOpacity": 0.05, "fillColor": "#3498db"},
    "micro_grid": {"color": "#16a085", "weight": 1, "fillOpacity": 0.08, "fillColor": "#1abc9c"},
}


def offline_map(bounds, tiles: str | None = None, attribution: str = "") -> folium.Map:
    """A folium map fitted to ``bounds`` (minx, miny, maxx, maxy) that loads assets only from this app."""
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=False)
    fmap.default_js = [("leaflet", url_for("vendor.leaflet", filename="leaflet.js"))]
    fmap.default_css = [("leaflet_css", url_for("vendor.leaflet", filename="leaflet.css"))]
    if tiles:
        folium.TileLayer(tiles=tiles, attr=attribution or "base map", name="底图").add_to(fmap)
    minx, miny, maxx, maxy = bounds
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def escaped(frame: gpd.GeoDataFrame, fields) -> gpd.GeoDataFrame:
    """``fields`` of ``frame`` as HTML-escaped text.

    Folium's tooltips and popups put property values into the page with ``innerHTML``, so every value shown
    must be escaped first; escaping also keeps ``</script>`` out of the inline script that carries the data.
    """
    out = frame[[*fields, "geometry"]].copy()
    for name in fields:
        out[name] = [html.escape("" if v is None else str(v), quote=True) for v in out[name]]
    return out


def _geojson_layer(fmap, frame, fields, aliases, name, style, popup: bool = False) -> folium.GeoJson:
    data = escaped(frame, list(fields))
    layer = folium.GeoJson(
        data,
        name=name,
        style_function=lambda _feature, s=style: s,
        tooltip=folium.GeoJsonTooltip(fields=list(fields), aliases=list(aliases)),
        popup=folium.GeoJsonPopup(fields=list(fields), aliases=list(aliases)) if popup else None,
        marker=folium.CircleMarker(radius=6, weight=2, color=style.get("color"), fill=True, fill_opacity=0.8)
        if popup
        else None,
    )
    layer.add_to(fmap)
    return layer


def add_areas(fmap: folium.Map, frame: gpd.GeoDataFrame, level: str, name: str, fields, aliases) -> folium.GeoJson:
    """Add one level's areas as a GeoJSON layer with an escaped tooltip."""
    return _geojson_layer(fmap, frame, fields, aliases, name, LEVEL_STYLES.get(level, LEVEL_STYLES["grid"]))


def add_buildings(fmap: folium.Map, frame: gpd.GeoDataFrame, name: str = "建筑 buildings") -> folium.GeoJson:
    """Add building footprints with an escaped tooltip (name, address, households)."""
    style = {"color": "#7f8c8d", "weight": 1, "fillOpacity": 0.3, "fillColor": "#95a5a6"}
    fields, aliases = ["name", "address", "households"], ["名称", "地址", "户数"]
    return _geojson_layer(fmap, frame, fields, aliases, name, style)


def add_service_points(fmap: folium.Map, frame: gpd.GeoDataFrame, name: str = "服务点 service points"):
    """Add service points as circle markers with an escaped tooltip and popup."""
    fields, aliases = ["name", "kind", "address", "opening_hours"], ["名称", "类型", "地址", "开放时间"]
    return _geojson_layer(fmap, frame, fields, aliases, name, {"color": "#d35400"}, popup=True)
