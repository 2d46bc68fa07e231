"""Issue pages: the staff queue, and one issue's detail with its place on a small map, history and next steps."""

from __future__ import annotations

import folium
from branca.element import MacroElement
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import Template

from core.errors import ConflictError, InvalidInputError, NotFoundError, OutOfScopeError, RegistryError
from issues.queries import get_issue, issue_row, list_issues
from issues.workflow import ACTIONS, STATES, allowed_actions
from web.access import allow, caller, may_call, scoped
from web.issues_api import IssueQuery, desk
from web.maps import add_areas, offline_map
from web.paging import page_filters, render_paged
from web.security import allow_scripts_in

__all__ = ["issue_pages", "SHARED_FILTERS", "shared_filters", "export_links", "category_name", "filter_errors"]

issue_pages = Blueprint("issue_pages", __name__)


def _area_name(code: str | None, generation: int | None) -> str:
    """An area's name in the generation an issue was located in (its code when the name is unknown)."""
    if not code:
        return ""
    registry = current_app.extensions["weige.registry"]
    try:
        node = registry.hierarchy(generation).get(code)
    except RegistryError:
        node = None
    return node["name"] if node else code


def category_name(code: str | None) -> str:
    """A category's name in the page's language (its code when the catalog does not know it)."""
    catalog = desk().catalog
    if code not in catalog:
        return code or ""
    found = catalog.get(code)
    return found.name_en if str(get_locale() or "").startswith("en") else found.name_zh


def _common() -> dict:
    return {
        "catalog": desk().catalog,
        "category_name": category_name,
        "area_name": _area_name,  # names before codes; the code is on hover
    }


#: The filters shared by the queue, the issue map and the exports: one form, the same query-string parameters.
SHARED_FILTERS = ("state", "category", "since", "until", "overdue", "area", "unlocated")


def shared_filters() -> dict[str, str]:
    """The shared filters set in this request's query string, as given (empty ones left out)."""
    return {k: request.args[k] for k in SHARED_FILTERS if request.args.get(k, "") != ""}


def export_links(filters: dict[str, str]) -> dict[str, str]:
    """Export URLs carrying exactly ``filters``, if the caller may export at all (the export route's own rule)."""
    if not may_call("issues.export_issues"):
        return {}
    return {fmt: url_for("issues.export_issues", format=fmt, **filters) for fmt in ("xlsx", "csv")}


_TIME_FILTER = _l(
    "must be a date and time, such as 2025-06-01T09:00 (deployment time zone) or 2025-06-01T09:00:00+08:00"
)
#: What the issue pages say about a filter they cannot use (one sentence per field, never the validator's text).
_FILTER_ERRORS = {
    "state": _l("State must be one of: open, %(states)s", states=", ".join(STATES)),
    "area": _l("The area code must be 1 to 32 characters"),
    "category": _l("The category must be 1 to 32 characters"),
    "overdue": _l("Overdue now must be true or false"),
    "unlocated": _l("Unlocated must be true or false"),
    "since": _l("From: %(rule)s", rule=_TIME_FILTER),
    "until": _l("Until: %(rule)s", rule=_TIME_FILTER),
    "page": _l("The page must be a whole number from 1 to 1000000"),
    "per_page": _l("Rows per page must be a whole number from 1 to 500"),
}


def filter_errors() -> dict[str, str]:
    """The issue pages' sentence per filter field, in the page's language."""
    return {k: str(v) for k, v in _FILTER_ERRORS.items()}


@issue_pages.route("/issues")
@allow("issues:read")
def queue():
    """The queue of the caller's areas, filterable by state, area, overdue and unlocated."""
    args, error = page_filters(IssueQuery(), filter_errors())
    rows, total = [], 0  # a filter that was not understood lists nothing, never everything
    if error is None:
        try:
            rows, total = list_issues(scoped(), now=desk().clock(), tz=desk().calendar.tz, **args)
        except (InvalidInputError, NotFoundError) as exc:  # shown on the page; areas outside one's own answer 403
            error = str(exc)
    filters = {} if error else shared_filters()
    exports = export_links(filters) if not error else {}  # never an export of other filters than those shown
    page = render_paged(
        "issues.html",
        rows,
        total,
        args,
        SHARED_FILTERS,
        error=error,
        states=STATES,
        exports=exports,
        map_link=url_for("issue_pages.issue_map", **filters),
        **_common(),
    )
    return page, 400 if error else 200


class _MetricScale(MacroElement):
    """A scale bar in metres only (folium's own shows feet too)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


def _issue_map(issue: dict) -> str | None:
    view = scoped()
    lon, lat = issue["lon"], issue["lat"]
    bounds = (lon - 0.002, lat - 0.0015, lon + 0.002, lat + 0.0015)
    fmap = offline_map(bounds, tiles=current_app.config.get("WEIGE_TILES"))
    fmap.control_scale = False
    _MetricScale().add_to(fmap)
    code = issue["micro_grid_code"] or issue["handler_code"]
    if code and view.covers(code):
        try:
            area = view.areas(codes=[code], generation=issue["generation"])
        except RegistryError:
            area = None
        if area is not None and not area.empty:
            add_areas(fmap, area, area.iloc[0]["level"], _("Area"), ["code", "name"], [_("Code"), _("Name")])
    folium.CircleMarker([lat, lon], radius=8, color="#c0392b", fill=True, fill_opacity=0.9).add_to(fmap)
    html = fmap.get_root().render()
    allow_scripts_in(html)
    return html


@issue_pages.route("/issues/<int(min=1, max=2147483647):issue_id>")
@allow("issues:read")
def detail(issue_id):
    """One issue: where, who, state, time limit, every step, and the steps the caller can take now."""
    issue = get_issue(scoped(), issue_id, now=desk().clock())
    allowed = allowed_actions(issue, caller())  # the same rule the desk enforces
    steps = [ACTIONS[name] for name in allowed if name in ACTIONS]
    can_escalate, can_assign = "escalate" in allowed, "assign" in allowed
    return render_template(
        "issue.html",
        issue=issue,
        steps=steps,
        can_escalate=can_escalate,
        can_assign=can_assign,
        map_html=_issue_map(issue),
        message=request.args.get("message"),
        **_common(),
    )


@issue_pages.route("/issues/<int(min=1, max=2147483647):issue_id>/act", methods=["POST"])
@allow("issues:handle", "issues:dispatch")
def act(issue_id):
    """A workflow step from the detail page's form (CSRF-protected like every form)."""
    action = request.form.get("action", "")
    note = request.form.get("note", "")[:2000]
    message = None
    try:
        if action == "assign":
            _assign(issue_id, request.form.get("area", "").strip(), note)
        else:
            desk().act(scoped(), issue_id, action, note, can=caller().can)
    except (ConflictError, InvalidInputError) as exc:  # shown on the page; scope and role errors answer 403
        message = str(exc)
    return redirect(url_for("issue_pages.detail", issue_id=issue_id, message=message))


def _assign(issue_id: int, area: str, note: str) -> None:
    """Assign from the form: an area that does not exist or lies outside one's areas is a message on the page.

    An issue one cannot see still answers 404, and a role that may not assign 403, as everywhere.
    """
    view, user = scoped(), caller()
    issue_row(view, issue_id)
    if user.can("issues:dispatch"):
        try:
            view.area(area)
        except (NotFoundError, OutOfScopeError):
            raise InvalidInputError(_("No such area in your areas: %(area)s", area=area[:32] or "-")) from None
    desk().assign(view, issue_id, area, note, can=user.can)


from web import issue_map_pages  # noqa: E402,F401  (its routes join this blueprint: /issues/map and its data)
