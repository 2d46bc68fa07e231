"""Folium maps that work with no internet: every asset is served by the app from a declared dependency.

A default ``folium.Map`` asks public CDNs for Leaflet, jQuery, Bootstrap, Leaflet.awesome-markers, Font
Awesome and Glyphicons. Our maps use only Leaflet (vendored from npm into ``web/static/vendor/`` and served
under ``/vendor/leaflet/<version>/``, see :mod:`web.vendor`) and draw no third-party base map unless
``WEIGE_TILES`` names one (e.g. an intranet Tianditu proxy), so a government intranet shows them unchanged.
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
from flask_babel import gettext as _

from web.vendor import vendor_url

__all__ = [
    "offline_map",
    "add_areas",
    "add_buildings",
    "escaped",
    "LEVEL_STYLES",
]

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
    fmap.default_js = [("leaflet", vendor_url("leaflet", "leaflet.js"))]
    fmap.default_css = [("leaflet_css", vendor_url("leaflet", "leaflet.css"))]
    if tiles:
        folium.TileLayer(tiles=tiles, attr=attribution or _("Base map"), name=_("Base map")).add_to(fmap)
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


def _geojson_layer(fmap, frame, fields, aliases, name, style) -> folium.GeoJson:
    data = escaped(frame, list(fields))
    layer = folium.GeoJson(
        data,
        name=name,
        style_function=lambda _feature, s=style: s,
        tooltip=folium.GeoJsonTooltip(fields=list(fields), aliases=list(aliases)),
    )
    layer.add_to(fmap)
    return layer


def add_areas(fmap: folium.Map, frame: gpd.GeoDataFrame, level: str, name: str, fields, aliases) -> folium.GeoJson:
    """Add one level's areas as a GeoJSON layer with an escaped tooltip."""
    return _geojson_layer(fmap, frame, fields, aliases, name, LEVEL_STYLES.get(level, LEVEL_STYLES["grid"]))


def add_buildings(fmap: folium.Map, frame: gpd.GeoDataFrame, name: str | None = None) -> folium.GeoJson:
    """Add building footprints with an escaped tooltip (name, address, households)."""
    style = {"color": "#7f8c8d", "weight": 1, "fillOpacity": 0.3, "fillColor": "#95a5a6"}
    fields, aliases = ["name", "address", "households"], [_("Name"), _("Address"), _("Households")]
    return _geojson_layer(fmap, frame, fields, aliases, name or _("Buildings"), style)
