"""HTML pages: sign-in, the home map of the caller's areas, and the audit log for administrators."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from accounts.roles import ROLE_NAMES_ZH
from accounts.users import authenticate
from boundaries import audit
from boundaries.errors import InvalidInputError, NotFoundError
from boundaries.levels import LEVEL_NAMES_ZH, LEVELS
from issues.worktime import local_text, zone_label
from web import registry
from web.access import allow, authenticated, caller, login_user_session, logout_user_session, public, scoped
from web.admin_api import AuditQuery, audit_page_args
from web.maps import add_areas, add_buildings, add_service_points, offline_map
from web.paging import page_filters, render_paged
from web.security import allow_scripts_in

__all__ = ["pages"]

pages = Blueprint("pages", __name__)


def _zone() -> str:
    return current_app.extensions["weige.issues"].calendar.tz


@pages.app_template_filter("local")
def _local(value, seconds: bool = False) -> str:
    """A stored (UTC) instant as wall-clock time in the deployment's zone (the page names the zone)."""
    return local_text(value, _zone(), seconds)


@pages.app_context_processor
def _time_zone() -> dict:
    """``time_zone``: the label pages give their times, e.g. ``Asia/Shanghai, UTC+08:00``."""
    return {"time_zone": zone_label(_zone())}


@pages.app_template_filter("pretty")
def _pretty(value) -> str:
    """Indented JSON text (escaped by the template like any text)."""
    return "" if value is None else json.dumps(value, ensure_ascii=False, indent=1)


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not target:
        return url_for("pages.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.home")
    return target


@pages.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in with login name and password (throttled per address and per name)."""
    error = None
    if request.method == "POST":
        name = request.form.get("username", "").strip()
        user = authenticate(registry(), name, request.form.get("password", ""))
        if user is not None and user.role != "api_client":
            login_user_session(user)
            return redirect(_safe_next(request.args.get("next")))
        error = "登录名或密码错误 wrong login name or password"
    return render_template("login.html", error=error, next=request.args.get("next", "")), 401 if error else 200


@pages.route("/logout", methods=["POST"])
@authenticated
def logout():
    """Sign out: the session ends on the server too (a POST with the CSRF token, so no other site can sign you out)."""
    logout_user_session()
    return redirect(url_for("pages.login"))


@pages.route("/")
@allow("maps:view")
def home():
    """Home page: a map of the boundaries, buildings and service points in the caller's areas."""
    view = scoped()
    try:
        frame = view.areas()
    except NotFoundError:
        frame = None
    if frame is None or frame.empty:
        return render_template(
            "home.html", map_html=None, counts={}, generation=None, user=caller(), roles=ROLE_NAMES_ZH
        )
    shown = frame[frame["level"].isin(["community", "grid", "micro_grid"])]
    if shown.empty:
        shown = frame
    bounds = tuple(shown.total_bounds)
    fmap = offline_map(bounds, tiles=current_app.config.get("WEIGE_TILES"))
    for level in LEVELS:
        part = shown[shown["level"] == level]
        if not part.empty:
            add_areas(fmap, part, level, LEVEL_NAMES_ZH[level], ["code", "name"], ["编码", "名称"])
    buildings = view.buildings(bbox=bounds)
    if not buildings.empty:
        add_buildings(fmap, buildings)
    points = view.service_points(bbox=bounds)
    if not points.empty:
        add_service_points(fmap, points)
    map_html = fmap.get_root().render()
    allow_scripts_in(map_html)
    counts = {LEVEL_NAMES_ZH[k]: int(v) for k, v in frame["level"].value_counts().items()}
    return render_template(
        "home.html",
        map_html=map_html,
        counts=counts,
        generation=view.resolve_generation(None),
        user=caller(),
        roles=ROLE_NAMES_ZH,
    )


@pages.route("/audit")
@allow("audit:read")
def audit_page():
    """The audit log as a filterable, paged table."""
    args, error = page_filters(AuditQuery())
    rows, total = [], 0  # a filter that was not understood lists nothing, never everything
    if not error:
        try:
            rows, total = audit.entries(registry().store.engine, **audit_page_args(args))
        except InvalidInputError as exc:  # e.g. an instant outside the years 1-9999
            error = str(exc)
    keys = ("user", "object_type", "object_id", "since", "until")
    page = render_paged("audit.html", rows, total, args, keys, error=error, user=caller(), roles=ROLE_NAMES_ZH)
    return page, 400 if error else 200
