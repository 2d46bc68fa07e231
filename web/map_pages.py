"""The staff map — everyone's home map: every level, buildings and service points from the tile and layer API.

The page is a small HTML shell (its size does not grow with the data) and two scripts of ours,
``static/js/gcj02.js`` and ``static/js/staffmap.js``; Leaflet and Leaflet.VectorGrid come from the vendored copies.
What the script needs (the caller's extent, the generations, the API URLs, the levels, the base maps) is written
into a ``data-config`` attribute and the page's text into a ``page-strings`` JSON element, so the page carries no
inline script. ``?generation=N`` shows a published generation (anything else is a 404 page); ``?basemap=NAME``
one of the deployment's base maps (:mod:`web.basemaps`).
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, g, render_template, request, url_for
from flask_babel import gettext as _

from boundaries.levels import LEVELS
from core.errors import NotFoundError
from web.access import allow, caller, scoped
from web.basemaps import basemap_options, image_sources
from web.names import KIND_NAMES, LEVEL_NAMES, USE_NAMES
from web.vendor import vendor_url

__all__ = ["map_pages"]

map_pages = Blueprint("map_pages", __name__)

#: The zoom from which each level is drawn, and from which its names are shown (one level's names at a time).
_MIN_ZOOM = {"district": 0, "street": 0, "community": 11, "grid": 13, "micro_grid": 14}
_LABEL_ZOOM = {"district": 0, "street": 10, "community": 13, "grid": 15, "micro_grid": 17}


def _extent(view, generation) -> list[float]:
    """The caller's areas' bounding box (the whole registry for an unrestricted caller), in one query."""
    store = view.registry.store
    if view.scope.unrestricted:
        found = store.areas_extent(generation, level=view.registry.levels_present(generation)[0])
    else:
        found = store.areas_extent(generation, codes=sorted(view.scope.roots))
    return list(found) if found else [-180.0, -85.0, 180.0, 85.0]


def _published(view) -> list[dict]:
    """Published generations, newest first: ``{id, current}``."""
    rows = [r for r in view.generations() if r.get("state") == "published"]
    return [{"id": int(r["id"]), "current": bool(r.get("current"))} for r in sorted(rows, key=lambda r: -r["id"])]


def _strings() -> dict:
    """Every text the script shows, in the page's language."""
    return {
        "search_empty": _("Enter an area name or code, an address or coordinates."),
        "searching": _("Searching…"),
        "not_found": _("Nothing found."),
        "swapped": _("Latitude and longitude look swapped: enter longitude first."),
        "click_hint": _("Click an area on the map to see its details."),
        "loading": _("Loading…"),
        "failed": _("Could not load the details."),
        "level": _("Level"),
        "code": _("Code"),
        "parents": _("Parents"),
        "buildings": _("Buildings"),
        "households": _("Households"),
        "workers": _("Workers"),
        "open_issues": _("Open issues"),
        "overdue": _("Overdue"),
        "on_time": _("On time"),
        "issue_queue": _("Issues in this area"),
        "statistics": _("Statistics"),
        "address": _("Address"),
        "floors": _("Floors"),
        "use": _("Use"),
        "kind": _("Kind"),
        "hours": _("Opening hours"),
        "capacity": _("Capacity"),
        "building": _("Building"),
        "service_point": _("Service point"),
        "place": _("Place"),
        "lonlat": _("Longitude, latitude (WGS84)"),
        "results": _("Results"),
        "layers": _("Layers"),
        "levels": _("Levels"),
        "basemaps": _("Base map"),
        "service_points": _("Service points"),
        "none": _("None"),
        "basemap_none": _("Blank (offline)"),
        "basemap_osm": _("OpenStreetMap"),
        "basemap_tianditu_vec": _("Tianditu map"),
        "basemap_tianditu_img": _("Tianditu imagery"),
        "basemap_amap": _("AMap"),
        "levels_names": {lv: str(name) for lv, name in LEVEL_NAMES.items()},
        "kinds": {k: str(name) for k, name in KIND_NAMES.items()},
        "uses": {k: str(name) for k, name in USE_NAMES.items()},
    }


@map_pages.route("/map")
@allow("maps:view")
def staff_map():
    """The staff map of the caller's areas (any published generation with ``?generation=``)."""
    view = scoped()
    published = _published(view)
    asked = request.args.get("generation", "")
    if asked:
        if not asked.isdigit() or int(asked) not in {p["id"] for p in published}:
            raise NotFoundError(f"没有已发布的版本 {asked[:12]} no published generation {asked[:12]!r}")
        generation = int(asked)
    else:
        generation = view.resolve_generation(None)
    present = set(view.registry.levels_present(generation))
    levels = [level for level in LEVELS if level in present]
    basemaps = basemap_options(current_app.config)
    offered = [b["name"] for b in basemaps["maps"]]
    chosen = request.args.get("basemap", "")
    basemaps["current"] = chosen if chosen in offered else basemaps["default"]
    g.csp_img_sources = image_sources(current_app.config)
    config = {
        "extent": _extent(view, generation),
        "generation": generation,
        "generations": published,
        "tiles": url_for("tiles.get_tile", layer="LAYER", z=0, x=0, y=0).replace("LAYER/0/0/0", "{layer}/{z}/{x}/{y}"),
        "layerApi": url_for("layers.get_layer", layer="service_points"),
        "panelApi": url_for("map_api.map_panel"),
        "searchApi": url_for("map_api.map_search"),
        "labelsApi": url_for("map_api.map_labels"),
        "levels": [
            {"name": lv, "label": str(LEVEL_NAMES[lv]), "minZoom": _MIN_ZOOM.get(lv, 15), "labelZoom": _LABEL_ZOOM[lv]}
            for lv in levels
        ],
        "basemaps": basemaps,
    }
    return render_template(
        "staffmap.html",
        config=json.dumps(config, ensure_ascii=False),
        strings=_strings(),
        levels=config["levels"],
        generations=published,
        generation=generation,
        kinds=KIND_NAMES,
        user=caller(),
        leaflet_css=vendor_url("leaflet", "leaflet.css"),
        leaflet_js=vendor_url("leaflet", "leaflet.js"),
        vectorgrid_js=vendor_url("leaflet.vectorgrid", "Leaflet.VectorGrid.bundled.min.js"),
    )
