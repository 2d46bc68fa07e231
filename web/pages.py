"""HTML pages: sign-in, the home page (the map), and the audit log for administrators."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, send_from_directory, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.users import authenticate
from core import audit
from core.errors import InvalidInputError
from issues.worktime import local_text, zone_label
from web import registry
from web.access import allow, authenticated, caller, login_user_session, logout_user_session, may_call, public
from web.admin_api import AuditQuery, audit_page_args
from web.errors import ApiError
from web.i18n import keep_language_at_sign_in
from web.names import ACTION_NAMES
from web.paging import page_filters, render_paged

__all__ = ["pages", "safe_next"]

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


def safe_next(target: str | None) -> str:
    """Where to go after signing in or switching language: a same-site path only (no open redirect)."""
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
            keep_language_at_sign_in(user)
            login_user_session(user)
            return redirect(safe_next(request.args.get("next")))
        error = _("Wrong login name or password")
    return render_template("login.html", error=error, next=request.args.get("next", "")), 401 if error else 200


@pages.route("/favicon.ico")
@public
def favicon():
    """The site's icon (browsers ask for it on their own; a 404 would be a console error on every first visit)."""
    return send_from_directory(current_app.static_folder, "favicon.ico", max_age=7 * 24 * 3600)


@pages.route("/logout", methods=["POST"])
@authenticated
def logout():
    """Sign out: the session ends on the server too (a POST with the CSRF token, so no other site can sign you out)."""
    logout_user_session()
    return redirect(url_for("pages.login"))


@pages.route("/")
@authenticated
def home():
    """Home: grid workers get their phone app, everyone else the staff map (drawn from the tile API)."""
    user = caller()
    if user is not None and user.role == "grid_worker" and may_call("app_pages.home"):
        return redirect(url_for("app_pages.home"))
    if may_call("map_pages.staff_map"):
        return redirect(url_for("map_pages.staff_map"))
    if may_call("issue_pages.queue"):
        return redirect(url_for("issue_pages.queue"))
    raise ApiError(_("Your role has no pages here; use the API."), "no_pages", 403)


#: Audit log object types and actions by name (page language).
OBJECT_TYPES = {
    "area": _l("Area"),
    "generation": _l("Generation"),
    "building": _l("Building"),
    "service_point": _l("Service point"),
    "user": _l("User"),
    "token": _l("API token"),
    "issue": _l("Issue"),
    "patrol": _l("Patrol"),
    "checkin": _l("Check-in"),
    "patrol_positions": _l("Patrol positions"),
}
AUDIT_ACTIONS = {
    "create": _l("Create"),
    "update": _l("Update"),
    "delete": _l("Delete"),
    "import": _l("Import"),
    "publish": _l("Publish"),
    "discard": _l("Discard"),
    "load_demo": _l("Load demo data"),
    "revoke": _l("Revoke"),
    "read_track": _l("Read a track"),
    "purge": _l("Purge"),
    "add_positions": _l("Add positions"),
    "end": _l("End"),
    **ACTION_NAMES,
}


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
    page = render_paged(
        "audit.html", rows, total, args, keys, error=error, object_types=OBJECT_TYPES, audit_actions=AUDIT_ACTIONS
    )
    return page, 400 if error else 200
