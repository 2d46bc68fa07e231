"""Folium maps that work with no internet: every asset is served by the app from a declared dependency.

A default ``folium.Map`` asks public CDNs for Leaflet, jQuery, Bootstrap, Leaflet.awesome-markers, Font
Awesome and Glyphicons. Our maps use only Leaflet (served from the XStatic-Leaflet package under
``/vendor/leaflet/``) and draw no third-party base map unless ``WEIGE_TILES`` names one (e.g. an intranet
Tianditu proxy), so a government intranet shows them unchanged.
"""

from __future__ import annotations

import folium
import geopandas as gpd
from flask import url_for

__all__ = ["offline_map", "add_areas", "LEVEL_STYLES"]

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


def add_areas(fmap: folium.Map, frame: gpd.GeoDataFrame, level: str, name: str, fields, aliases) -> folium.GeoJson:
    """Add one level's areas as a GeoJSON layer with an escaped tooltip."""
    style = LEVEL_STYLES.get(level, LEVEL_STYLES["grid"])
    layer = folium.GeoJson(
        frame[[*fields, "geometry"]],
        name=name,
        style_function=lambda _feature, s=style: s,
        tooltip=folium.GeoJsonTooltip(fields=list(fields), aliases=list(aliases)),
    )
    layer.add_to(fmap)
    return layer
