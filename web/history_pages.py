"""The history page (``/history``): what changed between two generations under one area, as tables and two maps.

The page picks two published generations and an area of the caller's (names, codes on hover) and shows the diff
of the area's children (:func:`boundaries.history.diff`): added, removed, reshaped, split, merged, renamed or
moved areas and the buildings that moved between micro-grids, as tables written on the server (the page reads
without script), and two maps side by side — before | after, views kept in sync, areas coloured by change — drawn
by ``static/js/history.js`` from the diff API's GeoJSON with the vendored Leaflet.
"""

from __future__ import annotations

import json

from flask import Blueprint, Flask, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from boundaries import history
from boundaries.drafts import SYSTEM_OWNER
from boundaries.levels import child_level
from core.errors import InvalidInputError
from web.access import allow, scoped
from web.names import KIND_NAMES, LEVEL_NAMES
from web.stats_pages import area_options
from web.vendor import vendor_url

__all__ = ["history_pages", "init_history", "CHANGE_NAMES"]

history_pages = Blueprint("history_pages", __name__)

#: Changes by name, in the page's language (the map legend and the tables).
CHANGE_NAMES = {
    "added": _l("Added"),
    "removed": _l("Removed"),
    "split": _l("Split"),
    "merged": _l("Merged"),
    "reshaped": _l("Reshaped"),
    "changed": _l("Renamed or moved"),
    "unchanged": _l("Unchanged"),
    "moved": _l("Buildings moved"),
}
#: Colours of the changes on the maps (the legend shows them).
CHANGE_COLOURS = {
    "added": "#2a9d8f",
    "removed": "#d62828",
    "split": "#f77f00",
    "merged": "#7b2cbf",
    "reshaped": "#fcbf49",
    "changed": "#4895ef",
    "unchanged": "#adb5bd",
    "moved": "#111111",
}


def init_history(app: Flask, api) -> None:
    """Register the history API (on ``api``) and the page (on ``app``)."""
    from web.history_api import bp

    api.register_blueprint(bp)
    app.register_blueprint(history_pages)


def _published(view) -> list[dict]:
    """The published generations, oldest first: ``id``, ``published_at`` (UTC) and ``author`` (who published it)."""
    rows = [g for g in view.generations() if g.get("state") == "published"]
    out = []
    for g in sorted(rows, key=lambda g: int(g["id"])):
        author = g.get("author") or ""
        shown = _("System") if author in ("", SYSTEM_OWNER) else author
        out.append({"id": int(g["id"]), "published_at": g.get("published_at"), "author": shown})
    return out


def _pick(published: list[int], asked: str | None, default: int, what: str) -> int:
    if not asked:
        return default
    if not asked.isdigit() or int(asked) not in published:
        raise InvalidInputError(f"没有已发布的版本 {asked[:12]} no published generation {asked[:12]!r} ({what})")
    return int(asked)


#: What a "renamed or moved" row says changed.
_WHAT = {"name": _l("Name"), "kind": _l("Kind"), "parent_code": _l("Parent area")}


def _changed_rows(view, found: dict) -> list[dict]:
    """One row per changed attribute, kinds and parents by name (codes on hover)."""
    generations = {"before": found["old"], "after": found["new"]}

    def shown(key, side, value):
        if key == "kind":
            return str(KIND_NAMES.get(value, value)), value
        if key == "parent_code" and value:
            g = generations[side]
            node = view.registry.hierarchy(g).get(value) if view.covers(value, g) else None
            return (node["name"] if node else ""), value if node else ""
        return value or "", ""

    rows = []
    for e in found["changed"]:
        for key, (was, now) in e["changes"].items():
            (before, before_title), (after, after_title) = shown(key, "before", was), shown(key, "after", now)
            row = {"code": e["code"], "name": e["name"], "what": str(_WHAT[key])}
            rows.append(
                row | {"before": before, "before_title": before_title, "after": after, "after_title": after_title}
            )
    return rows


def _strings() -> dict:
    return {
        "before": _("Before the change"),
        "after": _("After the change"),
        "loading": _("Loading…"),
        "failed": _("Could not load the maps."),
        "changes": {k: str(v) for k, v in CHANGE_NAMES.items()},
        "households": _("Households"),
        "from": _("Moved from"),
        "to": _("Moved to"),
    }


@history_pages.route("/history")
@allow("areas:read")
def history_page():
    """Two generations compared under one area of the caller's: tables and two synchronised maps."""
    view = scoped()
    generations = _published(view)
    published = [g["id"] for g in generations]
    options, default_area = area_options(view)
    context = {"options": options, "generations": generations, "changes": CHANGE_NAMES, "colours": CHANGE_COLOURS}
    if len(published) < 2 or not options:
        return render_template("history.html", found=None, **context)
    new = _pick(published, request.args.get("new"), published[-1], "new")
    older = [g for g in published if g < new] or [g for g in published if g != new]
    old = _pick(published, request.args.get("old"), older[-1], "old")
    area = request.args.get("area") or default_area or options[0]["code"]
    generation = new if area in view.registry.hierarchy(new) else old
    view.require(area, generation)
    level = child_level(view.registry.hierarchy(generation)[area]["level"])
    if level is None:
        raise InvalidInputError(f"微网格下没有区域 {area} is a micro-grid: pick an area with areas below it")
    found = history.diff(view, old, new, parent=area, level=level)
    answer = found.as_dict()
    geojson = url_for("history.generation_diff", old=old, new=new, parent=area, level=level, format="geojson")
    config = {"geojson": geojson, "colours": CHANGE_COLOURS}
    return render_template(
        "history.html",
        found=answer,
        changed_rows=_changed_rows(view, answer),
        old=old,
        new=new,
        area=area,
        level_name=LEVEL_NAMES[level],
        moved_level_name=LEVEL_NAMES.get(found.moved_level, ""),
        config=json.dumps(config, ensure_ascii=False),
        strings=_strings(),
        leaflet_css=vendor_url("leaflet", "leaflet.css"),
        leaflet_js=vendor_url("leaflet", "leaflet.js"),
        **context,
    )
