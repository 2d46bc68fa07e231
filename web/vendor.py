"""The front-end libraries, served by the app from ``web/static/vendor/`` (nothing comes from a CDN).

``scripts/vendor_assets.py`` copies the files from the npm packages locked in ``package-lock.json`` into
``web/static/vendor/<package>/<version>/`` and lists them in ``manifest.json``. The version is part of every URL,
so the files are served with a one-year cache lifetime; pages name a file by package and path with
:func:`vendor_url` (also a Jinja global), which looks the version up in the manifest.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import Blueprint, Flask, send_from_directory, url_for

from web.access import public

__all__ = ["VENDOR_DIR", "MAX_AGE", "versions", "vendor_url", "init_vendor"]

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
#: One year: a new version is a new folder, hence a new URL.
MAX_AGE = 365 * 24 * 3600

vendor = Blueprint("vendor", __name__, url_prefix="/vendor")


@cache
def versions() -> dict[str, str]:
    """Each vendored package's version, from ``web/static/vendor/manifest.json``."""
    manifest = json.loads((VENDOR_DIR / "manifest.json").read_text(encoding="utf-8"))
    return {entry["package"]: entry["version"] for entry in manifest["files"] if "/licences/" not in entry["path"]}


def vendor_url(package: str, filename: str) -> str:
    """The URL of ``filename`` (a path inside the package's vendor folder) of the vendored ``package``.

    Parameters
    ----------
    package : str
        The npm package name, e.g. ``"leaflet"`` or ``"@geoman-io/leaflet-geoman-free"``.
    filename : str
        The file's path inside the package's folder, e.g. ``"leaflet.js"`` or ``"images/layers.png"``.

    Returns
    -------
    str
        The app-relative URL, e.g. ``/vendor/leaflet/1.9.4/leaflet.js``.
    """
    return url_for("vendor.file", filename=f"{package}/{versions()[package]}/{filename}")


@vendor.route("/<path:filename>", endpoint="file")
@public
def _file(filename):
    """A vendored front-end file (see ``web/static/vendor/manifest.json``), cached for a year."""
    return send_from_directory(VENDOR_DIR, filename, max_age=MAX_AGE)


def init_vendor(app: Flask) -> None:
    """Serve ``/vendor/<package>/<version>/<file>`` and give templates ``vendor_url``."""
    app.register_blueprint(vendor)
    app.jinja_env.globals["vendor_url"] = vendor_url
