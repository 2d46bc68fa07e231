"""Issue pages: the staff queue, and one issue's detail with its place on a small map, history and next steps."""

from __future__ import annotations

import folium
from flask import Blueprint, current_app, redirect, render_template, request, url_for

from accounts.roles import ROLE_NAMES_ZH
from boundaries.errors import ConflictError, InvalidInputError, NotFoundError, OutOfScopeError, RegistryError
from boundaries.levels import LEVEL_NAMES_ZH
from issues.queries import get_issue, issue_row, list_issues
from issues.workflow import ACTIONS, STATE_NAMES_ZH, STATES, allowed_actions
from web.access import AUTHENTICATED, PUBLIC, access_of, allow, caller, scoped
from web.issues_api import IssueQuery, desk
from web.maps import add_areas, offline_map
from web.paging import page_filters, render_paged
from web.security import allow_scripts_in

__all__ = ["issue_pages"]

issue_pages = Blueprint("issue_pages", __name__)


#: Steps of an issue's history by their Chinese names (workflow actions and the desk's own steps).
_ACTION_NAMES = {
    **{name: action.name_zh for name, action in ACTIONS.items()},
    "report": "上报",
    "escalate": "上报上级",
    "assign": "分派",
    "import": "导入",
}


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


def _common() -> dict:
    return {
        "user": caller(),
        "roles": ROLE_NAMES_ZH,
        "state_names": STATE_NAMES_ZH,
        "catalog": desk().catalog,
        "area_name": _area_name,  # names before codes; the code is on hover
        "level_names": LEVEL_NAMES_ZH,
        "action_names": _ACTION_NAMES,
    }


def may_call(endpoint: str) -> bool:
    """Whether the caller may call ``endpoint``, by the access rule the route itself declares.

    A page offers a link exactly when following it is allowed: one source of truth, the route's ``allow``.
    """
    need, user = access_of(current_app, endpoint), caller()
    if need == PUBLIC:
        return True
    if need is None or user is None:
        return False
    return need == AUTHENTICATED or any(user.can(n) for n in ((need,) if isinstance(need, str) else need))


_QUEUE_FILTERS = ("state", "area", "category", "overdue", "unlocated")


def _export_links(args: dict) -> dict[str, str]:
    """Export URLs for the queue's checked filters (only those set), if the caller may export at all."""
    if not may_call("issues.export_issues"):
        return {}
    params = {k: args[k] for k in _QUEUE_FILTERS if args.get(k) is not None}
    params = {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in params.items()}
    return {fmt: url_for("issues.export_issues", format=fmt, **params) for fmt in ("xlsx", "csv")}


_TIME_FILTER = "须为带时区的时间，如 2025-06-01T09:00:00+08:00 must be a time such as 2025-06-01T09:00:00+08:00"
#: What the queue says about a filter it cannot use (bilingual sentences, never the validator's messages).
_FILTER_ERRORS = {
    "state": f"状态须为 state must be one of: open, {', '.join(STATES)}",
    "area": "区域编码须为 1–32 个字符 the area code must be 1 to 32 characters",
    "category": "类别须为 1–32 个字符 the category must be 1 to 32 characters",
    "overdue": "“超时”须为是或否 overdue must be true or false",
    "unlocated": "“未定位”须为是或否 unlocated must be true or false",
    "since": f"起始时间 since {_TIME_FILTER}",
    "until": f"截止时间 until {_TIME_FILTER}",
    "page": "页码须为 1 到 1000000 之间的整数 page must be a whole number from 1 to 1000000",
    "per_page": "每页条数须为 1 到 500 之间的整数 per_page must be a whole number from 1 to 500",
}


@issue_pages.route("/issues")
@allow("issues:read")
def queue():
    """The queue of the caller's areas, filterable by state, area, overdue and unlocated."""
    args, error = page_filters(IssueQuery(), _FILTER_ERRORS)
    rows, total = [], 0  # a filter that was not understood lists nothing, never everything
    if error is None:
        try:
            rows, total = list_issues(scoped(), now=desk().clock(), tz=desk().calendar.tz, **args)
        except (InvalidInputError, NotFoundError) as exc:  # shown on the page; areas outside one's own answer 403
            error = str(exc)
    exports = {} if error else _export_links(args)  # never an export of other filters than those shown
    page = render_paged(
        "issues.html", rows, total, args, _QUEUE_FILTERS, error=error, states=STATES, exports=exports, **_common()
    )
    return page, 400 if error else 200


def _issue_map(issue: dict) -> str | None:
    view = scoped()
    lon, lat = issue["lon"], issue["lat"]
    bounds = (lon - 0.002, lat - 0.0015, lon + 0.002, lat + 0.0015)
    fmap = offline_map(bounds, tiles=current_app.config.get("WEIGE_TILES"))
    code = issue["micro_grid_code"] or issue["handler_code"]
    if code and view.covers(code):
        try:
            area = view.areas(codes=[code], generation=issue["generation"])
        except RegistryError:
            area = None
        if area is not None and not area.empty:
            add_areas(fmap, area, area.iloc[0]["level"], "所在区域", ["code", "name"], ["编码", "名称"])
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


#: The page's answer to an area one cannot assign to: unknown and outside one's areas read alike.
_NO_AREA = "区域 {area} 不存在或不在您的辖区内 no such area in your areas: {area}"


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
            raise InvalidInputError(_NO_AREA.format(area=area[:32] or "-")) from None
    desk().assign(view, issue_id, area, note, can=user.can)
