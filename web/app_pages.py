"""The grid workers' phone app under ``/app``: an installable progressive web app that works offline.

Every page is a small shell (``templates/app/*.html`` on the phone layout ``app/layout.html``) with one script of
ours (``static/app/*.js``) over the JSON API; what a page needs is written into the ``data-config`` attribute of
``<body>`` and its text into a ``page-strings`` JSON element, so no page carries inline script. The service worker
(``/app/sw.js``, scope ``/app/``) precaches every shell, script, style, vendored Leaflet file and icon listed by
:func:`precached_urls` under a cache named by their hashes; what a worker does offline waits in an IndexedDB
outbox (``static/app/app.js``) and is sent, each item once by its client id, when the connection returns.

Access: the pages need ``patrols:record`` or ``issues:handle`` (grid workers; staff and admins too). The manifest
and the service worker are public: browsers fetch the manifest without cookies, and neither holds any data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, render_template, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf

from core.errors import RegistryError
from issues.queries import get_issue
from issues.workflow import ACTIONS, allowed_actions
from web.access import allow, caller, public, scoped
from web.compression import static_url
from web.i18n import locale_tag
from web.issue_pages import category_name
from web.issues_api import desk
from web.names import KIND_NAMES, ROLE_NAMES, STATE_NAMES, USE_NAMES
from web.vendor import VENDOR_DIR, vendor_url, versions

__all__ = ["app_pages", "APP_ACCESS", "SCRIPTS", "precached_urls", "cache_name"]

app_pages = Blueprint("app_pages", __name__, url_prefix="/app")

#: Who may open the app: whoever records patrols or handles issues.
APP_ACCESS = ("patrols:record", "issues:handle")
_STATIC = Path(__file__).resolve().parent / "static"
_TEMPLATES = Path(__file__).resolve().parent / "templates" / "app"
#: Our files the app uses (under ``web/static/``), all precached by the service worker.
SCRIPTS = ("app/app.js", "app/map.js", "app/work.js", "app/issue.js", "app/report.js", "app/building.js")
SCRIPTS += (
    "app/recorder.js",
    "app/patrol.js",
    "app/outbox.js",
    "app/app.css",
    "app/icons/icon-192.png",
    "app/icons/icon-512.png",
)
SCRIPTS += ("app/icons/icon-maskable-512.png",)
#: Vendored files the app uses: ``(package, file)``.
VENDORED = (
    ("leaflet", "leaflet.js"),
    ("leaflet", "leaflet.css"),
    ("leaflet.vectorgrid", "Leaflet.VectorGrid.bundled.min.js"),
)
#: The page shells (endpoints without parameters) the service worker precaches.
SHELLS = ("home", "work", "report", "building", "patrol", "outbox", "offline")


def precached_urls() -> list[str]:
    """Every same-origin URL the service worker stores at install: page shells, our files, vendored files.

    Returns
    -------
    list of str
        App-relative URLs (our files with their content hash, vendored files with their version).
    """
    shells = [url_for(f"app_pages.{name}") for name in SHELLS]
    return shells + [static_url(name) for name in SCRIPTS] + [vendor_url(p, f) for p, f in VENDORED]


def cache_name() -> str:
    """The service worker's cache name: a hash of every precached file and of the page templates.

    A change to any of them is a new name, so the worker installs again and deletes the old cache on activation.

    Returns
    -------
    str
        ``weige-app-<12 hex digits>``.
    """
    digest = hashlib.sha256()
    for name in SCRIPTS:
        digest.update(name.encode() + hashlib.sha256((_STATIC / name).read_bytes()).digest())
    for package, filename in VENDORED:
        digest.update(f"{package}/{versions()[package]}/{filename}".encode())
        digest.update(hashlib.sha256((VENDOR_DIR / package / versions()[package] / filename).read_bytes()).digest())
    for template in sorted(_TEMPLATES.glob("*")):
        digest.update(template.name.encode() + hashlib.sha256(template.read_bytes()).digest())
    return "weige-app-" + digest.hexdigest()[:12]


def _strings() -> dict:
    """Every text the app's scripts show, in the page's language."""
    return {
        "offline": _("Offline"),
        "online": _("Online"),
        "waiting": _("Waiting to send"),
        "sending": _("Sending…"),
        "sent": _("Sent"),
        "queued": _("Saved; it will be sent when the connection returns."),
        "failed": _("Refused"),
        "sign_in": _("Sign in again to send what is waiting."),
        "loading": _("Loading…"),
        "load_failed": _("Could not load; showing what was saved."),
        "nothing": _("Nothing here."),
        "no_position": _("No position yet."),
        "position": _("My position"),
        "accuracy": _("accuracy %(m)s m"),
        "geo_denied": _("Location is off: allow it in the browser to use GPS."),
        "overdue": _("Overdue"),
        "hours_left": _("%(h)s hours left"),
        "hours_late": _("%(h)s hours overdue"),
        "due": _("Due"),
        "kind_report": _("Report"),
        "kind_patrol_start": _("Patrol started"),
        "kind_positions": _("Patrol positions"),
        "kind_patrol_end": _("Patrol ended"),
        "kind_checkin": _("Check-in"),
        "kind_action": _("Issue step"),
        "n_positions": _("%(n)s positions"),
        "n_photos": _("%(n)s photos"),
        "discard": _("Remove from the outbox"),
        "located_in": _("Located in micro-grid %(name)s"),
        "unlocated": _("Not in any micro-grid; it goes to the community's queue."),
        "issue_no": _("Issue %(id)s"),
        "open_issue": _("Open the issue"),
        "pick_place": _("Choose a place: GPS, a tap on the map, or a building."),
        "pick_category": _("Choose a category."),
        "place_gps": _("GPS position"),
        "place_map": _("Place tapped on the map"),
        "place_building": _("Building %(id)s"),
        "households": _("Households"),
        "address": _("Address"),
        "floors": _("Floors"),
        "use": _("Use"),
        "visit_due": _("Visit due"),
        "vulnerable_due": _("Vulnerable households: visit due"),
        "vulnerable_mark": _("Care"),
        "vulnerable_households": _("Vulnerable households"),
        "patrol_due": _("Patrol due"),
        "more_due": _("and %(n)s more buildings due (marked on the map)"),
        "checked_in": _("Checked in (%(m)s m from the building)"),
        "too_far": _("Too far from the building: %(m)s m"),
        "nearest_points": _("Nearest service points"),
        "metres": _("%(m)s m"),
        "km": _("%(km)s km"),
        "elapsed": _("Time"),
        "distance": _("Distance"),
        "fixes": _("Fixes"),
        "running": _("Patrol running"),
        "stopped": _("Patrol stopped"),
        "summary": _("Summary from the server"),
        "summary_wait": _("The summary comes when the patrol has been sent."),
        "inside": _("Inside my areas"),
        "outside": _("Outside my areas"),
        "micro_grids": _("Micro-grids patrolled"),
        "buildings_passed": _("Buildings passed"),
        "alerts": _("Out-of-area alerts"),
        "gpx_done": _("%(n)s tracks uploaded"),
        "choose_file": _("Choose a GPX file."),
        "needs_online": _("This needs a connection."),
        "photo": _("Photo"),
        "kinds": {k: str(name) for k, name in KIND_NAMES.items()},
        "uses": {k: str(name) for k, name in USE_NAMES.items()},
        "states": {k: str(name) for k, name in STATE_NAMES.items()},
        "categories": {c.code: category_name(c.code) for c in desk().catalog},
    }


def _page(template: str, title: str, tab: str, script: str, context: dict | None = None, **config) -> str:
    """One app page: the phone layout, its tab highlighted, its script, its configuration and ``context``."""
    base = {
        "sw": url_for("app_pages.service_worker"),
        "session": url_for("app_pages.session"),
        "outbox": url_for("app_pages.outbox"),
        "home": url_for("app_pages.home"),
        "issuePage": url_for("app_pages.issue", issue_id=1).removesuffix("1"),
        "buildingPage": url_for("app_pages.building"),
        "reportPage": url_for("app_pages.report"),
        "work": "/api/v1/me/work",
        "issues": url_for("issues.list_issues_view"),
        "issueApi": url_for("issues.list_issues_view"),
        "buildings": "/api/v1/buildings/",
        "patrols": "/api/v1/patrols",
        "checkins": "/api/v1/checkins",
        "locale": locale_tag(),  # a BCP 47 tag: zh-CN or en
        # who is signed in comes from /app/session (the shells are cached and must not name anyone); what the
        # role may do decides which buttons the page shows
        "permissions": sorted(p for p in ("patrols:record", "issues:handle", "issues:create") if caller().can(p)),
    }
    return render_template(
        f"app/{template}",
        title=title,
        tab=tab,
        script=static_url(f"app/{script}"),
        config=json.dumps({**base, **config}, ensure_ascii=False),
        strings=_strings(),
        user=caller(),
        **(context or {}),
    )


def _extent() -> list[float]:
    """The caller's areas' bounding box (the whole registry for an unrestricted caller)."""
    view = scoped()
    generation = view.resolve_generation(None)
    store = view.registry.store
    if view.scope.unrestricted:
        found = store.areas_extent(generation, level=view.registry.levels_present(generation)[0])
    else:
        found = store.areas_extent(generation, codes=sorted(view.scope.roots))
    return list(found) if found else [103.9, 30.5, 104.2, 30.8]


def _map_config() -> dict:
    return {
        "extent": _extent(),
        "tiles": url_for("tiles.get_tile", layer="LAYER", z=0, x=0, y=0).replace("LAYER/0/0/0", "{layer}/{z}/{x}/{y}"),
        "layerApi": url_for("layers.get_layer", layer="LAYER").replace("LAYER", "{layer}"),
        "leaflet": [vendor_url("leaflet", "leaflet.js"), vendor_url("leaflet.vectorgrid", VENDORED[2][1])],
    }


@app_pages.route("/")
@allow(*APP_ACCESS)
def home():
    """My area: my grids and micro-grids, my position, buildings with what is due, the nearest service points."""
    return _page("map.html", _("My area"), "map", "map.js", **_map_config())


@app_pages.route("/work")
@allow(*APP_ACCESS)
def work():
    """My work: the open issues routed to me, overdue first."""
    return _page("work.html", _("My issues"), "work", "work.js")


@app_pages.route("/issues/<int(min=1, max=2147483647):issue_id>")
@allow(*APP_ACCESS)
def issue(issue_id):
    """One issue: its place, photos and steps, and the steps I may take (the staff pages' rule)."""
    found = get_issue(scoped(), issue_id, now=desk().clock())
    allowed = allowed_actions(found, caller())  # the same rule the desk enforces
    steps = [name for name in allowed if name in ACTIONS or name == "escalate"]
    context = {"issue": found, "steps": steps, "category": category_name(found["category"])}
    context["micro_grid_name"] = _area_name(found["micro_grid_code"], found["generation"])
    return _page("issue.html", _("Issue %(id)s", id=issue_id), "work", "issue.js", context, issueId=issue_id)


def _area_name(code: str | None, generation: int | None) -> str:
    """An area's name in the generation an issue was located in (its code when the name is unknown)."""
    if not code:
        return ""
    try:
        node = scoped().registry.hierarchy(generation).get(code)
    except RegistryError:
        node = None
    return node["name"] if node else code


@app_pages.route("/report")
@allow(*APP_ACCESS)
def report():
    """Report: category, description, photos from the camera, place from GPS, a tap on the map or a building."""
    categories = [{"code": c.code, "name": category_name(c.code)} for c in desk().catalog]
    return _page("report.html", _("Report"), "report", "report.js", {"categories": categories}, **_map_config())


@app_pages.route("/building")
@allow(*APP_ACCESS)
def building():
    """A building (``?id=``): households, what is due there, check-in and a report here."""
    return _page("building.html", _("Building"), "map", "building.js")


@app_pages.route("/patrol")
@allow(*APP_ACCESS)
def patrol():
    """Patrol: start and stop, the track, time and distance, the server's summary; a GPX upload."""
    return _page("patrol.html", _("Patrol"), "patrol", "patrol.js", **_map_config())


@app_pages.route("/outbox")
@allow(*APP_ACCESS)
def outbox():
    """What waits to be sent, item by item."""
    return _page("outbox.html", _("Waiting to send"), "", "outbox.js")


@app_pages.route("/offline")
@allow(*APP_ACCESS)
def offline():
    """Shown offline for a page that was never opened while online."""
    return _page("offline.html", _("Offline"), "", "outbox.js")


@app_pages.route("/session")
@allow(*APP_ACCESS)
def session():
    """A fresh CSRF token for the outbox (a cached page's token may be older than the session)."""
    user = caller()
    body = {
        "csrf_token": generate_csrf(),
        "user": user.name,
        "role": user.role,
        "display_name": user.display_name or user.name,
        "role_name": str(ROLE_NAMES.get(user.role, user.role)),
    }
    return Response(json.dumps(body), mimetype="application/json", headers={"Cache-Control": "no-store"})


@app_pages.route("/manifest.webmanifest")
@public
def manifest():
    """The web app manifest: name, start URL, standalone display, icons."""
    icon = static_url
    body = {
        "name": _("Weige"),
        "short_name": _("Weige"),
        "description": _("Grid work in the field: my area, my issues, reports and patrols"),
        "lang": locale_tag(),
        "start_url": url_for("app_pages.home"),
        "scope": url_for("app_pages.home"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#1f3a5f",
        "icons": [
            {"src": icon("app/icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": icon("app/icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": icon("app/icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        mimetype="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@app_pages.route("/sw.js")
@public
def service_worker():
    """The service worker (scope ``/app/``): precache, offline pages, cached map data."""
    source = render_template(
        "app/sw.js",
        cache=cache_name(),
        precache=json.dumps(precached_urls()),
        offline=json.dumps(url_for("app_pages.offline")),
        offline_message=json.dumps(str(_("Offline")), ensure_ascii=False),
        scope=json.dumps(url_for("app_pages.home")),
    )
    return Response(source, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})
