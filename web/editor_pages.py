"""The planners' editor (``/editor?area=CODE``): redraw the areas below a street, community or grid on a map.

The page is a shell; ``static/js/editor.js`` draws with the vendored Leaflet and Leaflet-Geoman and talks to the
editor API (:mod:`web.editor_api`), the drawing and change-set API (:mod:`web.edit_api`) and the rules API
(:mod:`web.rules_api`). Shared boundaries move together (the script moves a vertex that neighbours share in all
of them and saves them in one request), household counts are recomputed in the browser as you draw, and the
server checks the rules on every save. Without ``area`` the page opens the caller's first area that has areas
below it.
"""

from __future__ import annotations

import json

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from boundaries.editor import EDITABLE_LEVELS
from boundaries.rules import RULES
from core.errors import NotFoundError
from web.access import allow, caller, scoped
from web.editor_offline import SCOPE
from web.layout import area_breadcrumbs
from web.names import LEVEL_NAMES
from web.vendor import vendor_url

__all__ = ["editor_pages"]

editor_pages = Blueprint("editor_pages", __name__)


def _strings() -> dict:
    """Every text the script shows, in the page's language."""
    chinese = str(get_locale()).startswith("zh")
    return {
        "loading": _("Loading…"),
        "saved": _("Saved."),
        "saving": _("Saving…"),
        "failed": _("Could not save: %(reason)s"),
        "stale": _("Someone changed these areas since you loaded them. Reload to see their version."),
        "reload": _("Reload"),
        "households": _("Households"),
        "buildings": _("Buildings"),
        "range": _("Allowed: %(low)s–%(high)s households"),
        "out_of_range": _("outside the allowed range"),
        "select_first": _("Select an area on the map first."),
        "select_two": _("Select two or more neighbouring areas (click, then Shift+click)."),
        "draw_line": _("Draw a line on the map; double-click or click the last point again to finish."),
        "draw_polygon": _("Draw the new area on the map; click the first point to close it."),
        "cut_hint": _("Draw the hole inside an area; click the first point to close it."),
        "edit_hint": _("Drag a vertex to move it; a vertex shared with a neighbour moves in both."),
        "new_name": _("Name of the new area"),
        "confirm_delete": _("Remove area %(name)s from your change set?"),
        "confirm_discard": _("Discard every change in your change set?"),
        "rules_ok": _("All rules pass."),
        "rules_failed": _("%(n)s rule failures"),
        "waived": _("waived"),
        "publish_refused": _("Publishing refused: fix or waive the rule failures listed."),
        "published": _("Published as generation %(id)s."),
        "conflict": _("Since your change set began, generation %(generation)s (by %(author)s) changed: %(codes)s."),
        "rebase": _("Rebase onto the current generation (your areas win)"),
        "rebased": _("Your change set now builds on generation %(id)s."),
        "no_change_set": _("No changes yet: you are looking at the current generation."),
        "change_set": _("Your change set %(id)s, based on generation %(base)s"),
        "behind": _("%(n)s generations were published since it began."),
        "fix_preview": _("%(n)s vertices would move, at most %(max)s m; %(fixed)s areas fixed, %(left)s left alone."),
        "fix_nothing": _("Nothing to fix within %(tol)s m."),
        "fix_apply": _("Apply the fix"),
        "undo_empty": _("Nothing to undo."),
        "redo_empty": _("Nothing to redo."),
        "discarded": _("Change set discarded."),
        "moved": _("moves %(m)s m"),
        "level_names": {lv: str(name) for lv, name in LEVEL_NAMES.items()},
        "rule_names": {rule: names[0] if chinese else names[1] for rule, names in RULES.items()},
        "building": _("Building"),
        "suggested": _(
            "Suggested: %(n)s micro-grids of %(low)s–%(high)s households (%(kept)s codes kept, %(new)s new); "
            "%(reported)s cannot be brought into the range."
        ),
        "suggesting": _("Working out micro-grids from the buildings…"),
        "households_n": _("%(n)s households"),
        "offline_saved": _("Offline: kept on this device. Edits waiting to be saved: %(n)s."),
        "syncing": _("Back online: saving the edits made offline (%(n)s)…"),
        "synced": _("Every edit made offline is saved."),
        "offline_stale": _(
            "These areas were changed elsewhere while you were offline (by someone else, or by you in another tab "
            "or on another device); your offline edit was not saved over that."
        ),
        "skip_offline": _("Discard this edit, save the rest"),
        "discard_offline": _("Discard all my offline edits"),
        "confirm_discard_offline": _("Discard the edits made offline that were not saved?"),
        "offline_full": _("This browser's storage is full: the edit could not be kept offline and was undone."),
        "offline_dropped": _("%(n)s unreadable offline edits were dropped."),
        "needs_server": _("Offline: this tool needs the server. Moving vertices works offline."),
        "rules_offline": _("The rules are checked again once your edits are saved."),
        "sign_in_again": _("Sign in again (as the same planner) to save the edits made offline."),
    }


def _default_area(view) -> str | None:
    """The caller's first area that has areas below it (for an unrestricted caller: the first street)."""
    tree = view.tree()
    stack = list(tree)
    while stack:
        node = stack.pop(0)
        if node["level"] in EDITABLE_LEVELS and node["children"]:
            return node["code"]
        stack.extend(node["children"])
    return None


@editor_pages.route("/editor")
@allow("areas:write")
def editor_page():
    """The editor of the areas below ``?area=`` (default: the caller's first area with areas below it)."""
    view = scoped()
    code = request.args.get("area", "").strip()[:32]
    if not code:
        found = _default_area(view)
        if found is None:
            raise NotFoundError("没有可编辑的区域 there are no areas below yours to draw")
        return redirect(url_for("editor_pages.editor_page", area=found))
    area = view.area(code)  # 404 / 403 as every page
    below = [
        {"code": c["code"], "name": c["name"], "level": str(LEVEL_NAMES.get(c["level"], c["level"]))}
        for node in view.tree()
        for c in _children_of(node, code)
        if c["level"] in EDITABLE_LEVELS and c["children"]
    ]
    config = {
        "code": code,
        "data": url_for("editor.editor_data", code=code),
        "save": url_for("editor.save"),
        "areas": url_for("draw.create_area"),
        "area": url_for("draw.update_area", code="CODE"),
        "split": url_for("editor.split", code="CODE"),
        "reshape": url_for("editor.reshape", code="CODE"),
        "merge": url_for("editor.merge"),
        "rules": url_for("rules.area_rules", code=code),
        "fix": url_for("rules.fix_area", code=code),
        "suggest": url_for("suggest.suggest_micro_grids", code=code),
        "changeSet": url_for("draw.my_change_set"),
        "publish": url_for("draw.publish_draft"),
        "rebase": url_for("draw.rebase_draft"),
        "discard": url_for("draw.discard_draft"),
        "csrf": generate_csrf(),
        "lang": "zh" if str(get_locale()).startswith("zh") else "en",
        "user": caller().name,
        "sw": url_for("editor_offline.service_worker"),
        "swScope": SCOPE,
        "session": url_for("editor_offline.session"),
    }
    chain = view.chain(code)
    return render_template(
        "editor.html",
        config=json.dumps(config, ensure_ascii=False),
        strings=_strings(),
        area={"code": code, "name": area["name"], "level": str(LEVEL_NAMES.get(area["level"], area["level"]))},
        below=below,
        breadcrumbs=area_breadcrumbs(list(reversed(chain)), "editor_pages.editor_page"),
        user=caller(),
        leaflet_css=vendor_url("leaflet", "leaflet.css"),
        leaflet_js=vendor_url("leaflet", "leaflet.js"),
        geoman_css=vendor_url("@geoman-io/leaflet-geoman-free", "leaflet-geoman.css"),
        geoman_js=vendor_url("@geoman-io/leaflet-geoman-free", "leaflet-geoman.min.js"),
    )


def _children_of(node: dict, code: str) -> list[dict]:
    """The children of ``code`` found anywhere in the subtree ``node``."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current["code"] == code:
            return current["children"]
        stack.extend(current["children"])
    return []
