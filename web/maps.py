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
    "add_service_points",
    "add_reach_polygons",
    "add_coverage_buildings",
    "add_choropleth",
    "add_suggestions",
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


def add_buildings(fmap: folium.Map, frame: gpd.GeoDataFrame, name: str | None = None) -> folium.GeoJson:
    """Add building footprints with an escaped tooltip (name, address, households)."""
    style = {"color": "#7f8c8d", "weight": 1, "fillOpacity": 0.3, "fillColor": "#95a5a6"}
    fields, aliases = ["name", "address", "households"], [_("Name"), _("Address"), _("Households")]
    return _geojson_layer(fmap, frame, fields, aliases, name or _("Buildings"), style)


def add_service_points(fmap: folium.Map, frame: gpd.GeoDataFrame, name: str | None = None):
    """Add service points as circle markers with an escaped tooltip and popup."""
    fields = ["name", "kind", "address", "opening_hours"]
    aliases = [_("Name"), _("Kind"), _("Address"), _("Opening hours")]
    return _geojson_layer(fmap, frame, fields, aliases, name or _("Service points"), {"color": "#d35400"}, popup=True)


def add_reach_polygons(fmap: folium.Map, polygons: gpd.GeoDataFrame, name: str | None = None):
    """The area within reach of any service point, as one dashed outline with no fill.

    Hundreds of overlapping translucent circles add up to an opaque layer that hides the choropleth under it,
    so the reach is drawn as the outline of their union; it can be hidden in the layer control.
    """
    union = gpd.GeoDataFrame(
        {"name": [_("Within reach of a service point")]}, geometry=[polygons.union_all()], crs=polygons.crs
    )
    style = {"color": "#1f5f99", "weight": 2, "dashArray": "6 4", "fillOpacity": 0.0}
    return _geojson_layer(fmap, union, ["name"], [_("Reach")], name or _("Reach"), style)


def add_coverage_buildings(fmap: folium.Map, buildings: gpd.GeoDataFrame, name: str | None = None):
    """Buildings coloured by coverage: reached (green) or not (red), with households and nearest distance."""
    fields = ["name", "households", "nearest_m", "points"]
    aliases = [_("Name"), _("Households"), _("Nearest service point (m)"), _("Service points in reach")]
    name = name or _("Buildings")
    layers = []
    for covered, colour, label in ((True, "#27ae60", _("covered")), (False, "#c0392b", _("not covered"))):
        part = buildings[buildings["covered"] == covered]
        if not part.empty:
            style = {"color": colour, "weight": 1, "fillOpacity": 0.6, "fillColor": colour}
            layers.append(_geojson_layer(fmap, part, fields, aliases, f"{name}: {label}", style))
    return layers


def add_choropleth(fmap: folium.Map, areas: gpd.GeoDataFrame, column: str, title: str, name: str | None = None):
    """Areas filled by ``column`` (0–1) on a red→green scale, with a legend drawn in plain HTML (no script)."""
    import branca.colormap as cm

    scale = cm.LinearColormap(["#c0392b", "#f1c40f", "#27ae60"], vmin=0.0, vmax=1.0)
    data = escaped(
        areas.assign(share_text=[f"{v:.0%}" if v == v else "-" for v in areas[column]]), ["code", "name", "share_text"]
    )
    colours = [scale(v) if v == v else "#bdc3c7" for v in areas[column].to_numpy(float)]
    data["fill"] = colours
    layer = folium.GeoJson(
        data,
        name=name or title,
        style_function=lambda feature: {
            "color": "#34495e",
            "weight": 1,
            "fillOpacity": 0.55,
            "fillColor": feature["properties"]["fill"],
        },
        tooltip=folium.GeoJsonTooltip(fields=["name", "code", "share_text"], aliases=[_("Name"), _("Code"), title]),
    )
    layer.add_to(fmap)
    stops = "".join(
        f'<span style="display:inline-block;width:18px;height:10px;background:{scale(v)}"></span>{v:.0%} '
        for v in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    legend = (
        '<div id="legend" style="position:absolute;bottom:28px;right:12px;z-index:1000;background:#fff;'
        f'padding:6px 8px;border:1px solid #999;font:12px sans-serif">{html.escape(title)}<br>{stops}</div>'
    )
    fmap.get_root().html.add_child(folium.Element(legend))
    return layer


def add_suggestions(fmap: folium.Map, sites: gpd.GeoDataFrame, name: str | None = None):
    """Suggested new sites as markers with the households each would add."""
    fields, aliases = ["candidate", "households_added"], [_("Candidate"), _("Households added")]
    return _geojson_layer(fmap, sites, fields, aliases, name or _("Suggested sites"), {"color": "#8e44ad"}, popup=True)
