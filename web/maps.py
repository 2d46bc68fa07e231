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


def add_reach_polygons(fmap: folium.Map, polygons: gpd.GeoDataFrame, name: str = "服务范围 reach"):
    """Reach of each service point (circles, or the streets walkable within reach) as a translucent layer."""
    style = {"color": "#2980b9", "weight": 1, "fillOpacity": 0.12, "fillColor": "#3498db"}
    return _geojson_layer(fmap, polygons, ["name"], ["服务点"], name, style)


def add_coverage_buildings(fmap: folium.Map, buildings: gpd.GeoDataFrame, name: str = "建筑覆盖 buildings"):
    """Buildings coloured by coverage: reached (green) or not (red), with households and nearest distance."""
    fields, aliases = ["name", "households", "nearest_m", "points"], ["名称", "户数", "最近服务点(米)", "可达服务点"]
    layers = []
    for covered, colour, label in ((True, "#27ae60", "已覆盖 covered"), (False, "#c0392b", "未覆盖 uncovered")):
        part = buildings[buildings["covered"] == covered]
        if not part.empty:
            style = {"color": colour, "weight": 1, "fillOpacity": 0.6, "fillColor": colour}
            layers.append(_geojson_layer(fmap, part, fields, aliases, f"{name}: {label}", style))
    return layers


def add_choropleth(fmap: folium.Map, areas: gpd.GeoDataFrame, column: str, title: str, name: str = "覆盖率 share"):
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
        name=name,
        style_function=lambda feature: {
            "color": "#34495e",
            "weight": 1,
            "fillOpacity": 0.55,
            "fillColor": feature["properties"]["fill"],
        },
        tooltip=folium.GeoJsonTooltip(fields=["code", "name", "share_text"], aliases=["编码", "名称", title]),
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


def add_suggestions(fmap: folium.Map, sites: gpd.GeoDataFrame, name: str = "建议新址 suggested sites"):
    """Suggested new sites as markers with the households each would add."""
    style = {"color": "#8e44ad"}
    return _geojson_layer(
        fmap, sites, ["candidate", "households_added"], ["候选", "新增覆盖户数"], name, style, popup=True
    )
