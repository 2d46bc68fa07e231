"""The editor offline (离线编辑): a service worker for ``/editor`` and a fresh CSRF token for what waits to be saved.

The worker (``/editor-sw.js``, scope ``/editor``) keeps the editor's scripts, styles and the vendored Leaflet and
Leaflet-Geoman under a name made of their hashes; pages and the editor API's answers come from the network first and,
offline, from what was seen online. Vertex edits made offline wait in the page's outbox
(``static/js/editor_outbox.js``, in ``localStorage`` per user and area) with the version each area was drawn on,
and are saved in order when the connection returns: an area someone else changed meanwhile is refused (412) as
any stale save, never overwritten. Signing out deletes the worker's data (``static/js/signout.js``); copies older
than :data:`OFFLINE_HOURS` are not shown.

The worker is public (a browser fetches it without checking the page's permissions, and it holds no data);
``/editor/session`` is for planners.
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, current_app, render_template, url_for
from flask_wtf.csrf import generate_csrf

from web.access import allow, caller, public
from web.compression import static_url
from web.vendor import VENDOR_DIR, vendor_url, versions

__all__ = ["editor_offline", "SCRIPTS", "VENDORED", "precached_urls", "cache_name"]

editor_offline = Blueprint("editor_offline", __name__)

#: Our files the editor uses (under ``web/static/``).
SCRIPTS = ("js/editor.js", "js/editor_geometry.js", "js/editor_outbox.js", "js/signout.js", "favicon.ico")
#: Vendored files the editor uses: ``(package, file)``.
VENDORED = (
    ("leaflet", "leaflet.js"),
    ("leaflet", "leaflet.css"),
    ("@geoman-io/leaflet-geoman-free", "leaflet-geoman.min.js"),
    ("@geoman-io/leaflet-geoman-free", "leaflet-geoman.css"),
)
#: What the worker answers for a page or data it does not hold (both languages: it is cached, whoever asked).
OFFLINE_TEXT = "离线：此页面在联网时未在本设备上打开过。 Offline: this page was not opened here while online."
#: How long (hours) the worker shows the pages and data it kept, counted from when the server sent them
#: (``EDITOR_OFFLINE_HOURS``): a planner whose session ended without signing out leaves them readable that long.
OFFLINE_HOURS = 24
#: Where the worker's page scope starts (``/editor?area=…``).
SCOPE = "/editor"


def precached_urls() -> list[str]:
    """The URLs the worker stores at install: our files with their content hash, vendored files with their version.

    Returns
    -------
    list of str
    """
    return [static_url(name) for name in SCRIPTS] + [vendor_url(p, f) for p, f in VENDORED]


def cache_name() -> str:
    """The worker's cache name, a hash of every precached URL (they carry their content's hash or version).

    Returns
    -------
    str
        ``weige-editor-<12 hex digits>``.
    """
    digest = hashlib.sha256()
    for url in precached_urls():
        digest.update(url.encode() + b"\n")
    for package, filename in VENDORED:
        digest.update(hashlib.sha256((VENDOR_DIR / package / versions()[package] / filename).read_bytes()).digest())
    return "weige-editor-" + digest.hexdigest()[:12]


@editor_offline.route("/editor-sw.js")
@public
def service_worker():
    """The editor's service worker (scope ``/editor``)."""
    source = render_template(
        "editor_sw.js",
        cache=cache_name(),
        precache=json.dumps(precached_urls()),
        scope=json.dumps(SCOPE),
        session=json.dumps(url_for("editor_offline.session")),
        offline_message=json.dumps(OFFLINE_TEXT, ensure_ascii=False),
        max_age_ms=int(float(current_app.config.get("EDITOR_OFFLINE_HOURS", OFFLINE_HOURS)) * 3_600_000),
    )
    return Response(source, mimetype="text/javascript", headers={"Cache-Control": "no-cache"})


@editor_offline.route("/editor/session")
@allow("areas:write")
def session():
    """A fresh CSRF token for the outbox (the token of a page opened offline may be older than the session)."""
    body = {"csrf_token": generate_csrf(), "user": caller().name}
    return Response(json.dumps(body), mimetype="application/json", headers={"Cache-Control": "no-store"})
