"""The staff map: every level, buildings and service points drawn from the tile and layer API, not inlined.

The page is a small HTML shell (its size does not grow with the data) and one script of ours,
``static/js/staffmap.js``; Leaflet and Leaflet.VectorGrid come from the vendored copies. What the script needs
(the caller's extent, the tile URL, the layers and their Chinese names) is written into a ``data-config``
attribute, so the page carries no inline script.
"""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request, url_for

from accounts.roles import ROLE_NAMES_ZH
from boundaries.levels import LEVEL_NAMES_ZH, LEVELS
from web.access import allow, caller, scoped
from web.vendor import vendor_url

__all__ = ["map_pages"]

map_pages = Blueprint("map_pages", __name__)

#: Layers of the staff map, drawn top level first, with the zoom from which each is shown.
_MIN_ZOOM = {"district": 0, "street": 0, "community": 11, "grid": 13, "micro_grid": 14}


def _extent(view, generation) -> list[float]:
    """The caller's areas' bounding box (the whole registry for an unrestricted caller), in one query."""
    store = view.registry.store
    if view.scope.unrestricted:
        found = store.areas_extent(generation, level=view.registry.levels_present(generation)[0])
    else:
        found = store.areas_extent(generation, codes=sorted(view.scope.roots))
    return list(found) if found else [-180.0, -85.0, 180.0, 85.0]


@map_pages.route("/map")
@allow("maps:view")
def staff_map():
    """The staff map of the caller's areas (any published generation with ``?generation=``)."""
    view = scoped()
    generation = view.resolve_generation(request.args.get("generation", type=int))
    present = set(view.registry.levels_present(generation))
    levels = [level for level in LEVELS if level in present]
    config = {
        "extent": _extent(view, generation),
        "generation": generation,
        "tiles": url_for("tiles.get_tile", layer="LAYER", z=0, x=0, y=0).replace("LAYER/0/0/0", "{layer}/{z}/{x}/{y}"),
        "layerApi": url_for("layers.get_layer", layer="service_points"),
        "areaApi": url_for("areas.get_area", code="CODE").replace("CODE", "{code}"),
        "levels": [{"name": lv, "label": LEVEL_NAMES_ZH[lv], "minZoom": _MIN_ZOOM.get(lv, 15)} for lv in levels],
    }
    return render_template(
        "staffmap.html",
        config=json.dumps(config, ensure_ascii=False),
        levels=config["levels"],
        user=caller(),
        roles=ROLE_NAMES_ZH,
        leaflet_css=vendor_url("leaflet", "leaflet.css"),
        leaflet_js=vendor_url("leaflet", "leaflet.js"),
        vectorgrid_js=vendor_url("leaflet.vectorgrid", "Leaflet.VectorGrid.bundled.min.js"),
    )
