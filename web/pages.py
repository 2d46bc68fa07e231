"""HTML pages: the home page's map of the boundaries."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from boundaries.errors import NotFoundError
from boundaries.levels import LEVEL_NAMES_ZH, LEVELS
from web import registry
from web.maps import add_areas, offline_map

__all__ = ["pages"]

pages = Blueprint("pages", __name__)


@pages.route("/")
def home():
    """Home page: a map of the current generation's boundaries."""
    reg = registry()
    try:
        frame = reg.areas()
    except NotFoundError:
        return render_template("home.html", map_html=None, counts={}, generation=None)
    shown = frame[frame["level"].isin(["community", "grid", "micro_grid"])]
    if shown.empty:
        shown = frame
    fmap = offline_map(shown.total_bounds, tiles=current_app.config.get("WEIGE_TILES"))
    for level in LEVELS:
        part = shown[shown["level"] == level]
        if not part.empty:
            add_areas(fmap, part, level, LEVEL_NAMES_ZH[level], ["code", "name"], ["编码", "名称"])
    counts = {LEVEL_NAMES_ZH[k]: int(v) for k, v in frame["level"].value_counts().items()}
    return render_template(
        "home.html", map_html=fmap.get_root().render(), counts=counts, generation=reg.current_generation()
    )
