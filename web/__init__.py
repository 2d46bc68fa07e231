"""Flask application factory: nothing is read at import time; everything comes from ``create_app(config)``."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, current_app, send_from_directory
from flask_smorest import Api

from boundaries.registry import Registry
from boundaries.storage import open_store

__all__ = ["create_app", "registry", "default_database_url"]


def default_database_url(data_dir: str | os.PathLike | None = None) -> str:
    """SQLite file ``weige.db`` in ``data_dir``, else ``$WEIGE_DATA``, else ``./data``."""
    folder = Path(data_dir or os.environ.get("WEIGE_DATA") or "data").resolve()
    return f"sqlite:///{folder / 'weige.db'}"


def registry() -> Registry:
    """The registry of the running app."""
    return current_app.extensions["weige.registry"]


def create_app(config: dict | None = None) -> Flask:
    """Create the app.

    Config keys: ``DATABASE_URL`` (default :func:`default_database_url`), ``WEIGE_TILES`` (a tile URL template
    for a base map; none by default), ``MAX_CONTENT_LENGTH`` (bytes, default 32 MiB), ``LOCATE_MAX_POINTS``
    (bulk locate limit, default 200,000).
    """
    app = Flask(__name__)
    app.config.update(
        DATABASE_URL=default_database_url(),
        WEIGE_TILES=None,
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
        LOCATE_MAX_POINTS=200_000,
        JSON_AS_ASCII=False,
        API_TITLE="Weige 微格 API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    app.json.ensure_ascii = False
    app.config.update(config or {})
    app.extensions["weige.registry"] = app.config.get("REGISTRY") or Registry(open_store(app.config["DATABASE_URL"]))

    from web.api import blueprints
    from web.errors import register_error_handlers
    from web.pages import pages

    api = Api(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.register_blueprint(pages)
    _register_vendor(app)
    register_error_handlers(app)
    return app


def _register_vendor(app: Flask) -> None:
    import xstatic.pkg.leaflet as leaflet
    from flask import Blueprint

    vendor = Blueprint("vendor", __name__, url_prefix="/vendor")

    @vendor.route("/leaflet/<path:filename>", endpoint="leaflet")
    def _leaflet(filename):
        """Leaflet from the XStatic-Leaflet package."""
        return send_from_directory(leaflet.BASE_DIR, filename, max_age=86400)

    app.register_blueprint(vendor)
