"""Flask application factory: nothing is read at import time; everything comes from ``create_app(config)``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, current_app
from flask_smorest import Api

from boundaries.registry import Registry
from boundaries.storage import open_store

__all__ = ["create_app", "registry", "default_database_url"]


def default_database_url(data_dir: str | os.PathLike | None = None) -> str:
    """SQLite file ``weige.db`` in ``data_dir``, else ``$WEIGE_DATA``, else ``./data``."""
    folder = Path(data_dir or os.environ.get("WEIGE_DATA") or "data").resolve()
    return f"sqlite:///{folder / 'weige.db'}"


def registry() -> Registry:
    """The unscoped registry of the running app: for administration only; views use :func:`web.access.scoped`."""
    return current_app.extensions["weige.registry"]


def _secret_key(database_url: str, store) -> str:
    """The session-signing key, kept so sessions survive restarts and are valid on every web worker.

    Next to a SQLite database; in a server database's ``shared_secrets`` (every worker signs with the same key).
    """
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        path = Path(database_url.removeprefix("sqlite:///")).parent / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip()
    if ":memory:" in database_url:
        return secrets.token_hex(32)  # a database that ends with the process
    return store.shared_secret("session")


def create_app(config: dict | None = None) -> Flask:
    """Create the app.

    Config keys: ``DATABASE_URL`` (default :func:`default_database_url`), ``WEIGE_TILES`` (a tile URL template
    for a base map; none by default), ``MAX_CONTENT_LENGTH`` (bytes, default 32 MiB), ``LOCATE_MAX_POINTS``
    (bulk locate limit, default 200,000), ``SECRET_KEY`` (default: a random key kept next to the SQLite file),
    ``SESSION_COOKIE_SECURE`` (default true: serve over HTTPS, or set false on a plain-HTTP intranet),
    ``API_RATE_LIMIT``, ``LOGIN_RATE_LIMIT``, ``LOGIN_NAME_RATE_LIMIT``, ``INTAKE_RATE_LIMIT``,
    ``ISSUE_CATEGORIES`` (JSON file of categories), ``WORK_CALENDAR`` (dict: ``tz``, ``periods``, ``holidays``,
    ``workdays``), ``NEAR_BOUNDARY_M``, ``PHOTO_MAX_BYTES``, ``ESCALATION_INTERVAL_S`` (0: no escalation thread;
    it is never started when ``TESTING``), ``COVERAGE_REACH`` (service-point kind → reach in metres; default
    500 m), ``ISSUE_CLOCK`` (a callable returning aware UTC "now", for tests).
    """
    from web.forms import StrictRequest
    from web.settings import DEFAULTS, check_settings, issue_desk

    app = Flask(__name__)
    app.request_class = StrictRequest  # forms decoded strictly in their charset (web/forms.py)
    app.config.update(
        {**DEFAULTS, "DATABASE_URL": default_database_url()},
        JSON_AS_ASCII=False,
        API_TITLE="Weige 微格 API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="weige_session",
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "session": {"type": "apiKey", "in": "cookie", "name": "weige_session"},
                }
            },
            "security": [{"bearer": []}, {"session": []}],
        },
    )
    app.json.ensure_ascii = False
    app.config.update(check_settings(dict(config or {})))
    app.config["DATABASE_URL"] = app.config["DATABASE_URL"] or default_database_url()
    app.extensions["weige.registry"] = app.config.get("REGISTRY") or Registry(open_store(app.config["DATABASE_URL"]))
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.config["DATABASE_URL"], app.extensions["weige.registry"].store)
    app.extensions["weige.issues"] = issue_desk(app.extensions["weige.registry"], app.config)

    from web.access import init_access
    from web.admin_api import blueprints as admin_blueprints
    from web.api import blueprints
    from web.app_pages import app_pages
    from web.compression import init_compression
    from web.coverage_api import blueprints as coverage_blueprints
    from web.coverage_api import coverage_pages
    from web.edit_api import blueprints as edit_blueprints
    from web.errors import register_error_handlers
    from web.i18n import init_i18n
    from web.issue_map_pages import issue_map_api
    from web.issue_pages import issue_pages
    from web.issues_api import blueprints as issue_blueprints
    from web.layers_api import blueprints as layer_blueprints
    from web.layers_api import tiles
    from web.layout import init_layout
    from web.limits import init_limits, limit_intake, limit_login
    from web.map_api import map_api
    from web.names import init_names
    from web.open311 import open311
    from web.pages import pages
    from web.patrol_pages import patrol_pages
    from web.patrols_api import blueprints as patrol_blueprints
    from web.security import init_security_headers
    from web.stats_pages import stats_pages

    limiter = init_limits(app)
    init_access(app)
    init_i18n(app)
    init_names(app)
    init_layout(app)
    init_compression(app)
    api = Api(app)
    for blueprint in (
        *blueprints,
        *edit_blueprints,
        *admin_blueprints,
        *issue_blueprints,
        issue_map_api,
        map_api,
        *coverage_blueprints,
        *layer_blueprints,
        *patrol_blueprints,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(pages)
    app.register_blueprint(coverage_pages)
    app.register_blueprint(issue_pages)
    app.register_blueprint(open311)
    app.register_blueprint(tiles)
    from web.map_pages import map_pages

    app.register_blueprint(map_pages)
    app.register_blueprint(stats_pages)
    app.register_blueprint(app_pages)  # the grid workers' phone app, /app
    app.register_blueprint(patrol_pages)  # staff: /patrols
    app.register_blueprint(__import__("web.health", fromlist=["health"]).health)  # GET /healthz
    app.register_blueprint(__import__("web.ogc_api", fromlist=["ogc"]).ogc)  # OGC API – Features, /ogc
    api.register_blueprint(__import__("web.rules_api", fromlist=["bp"]).bp)  # planning rules, waivers
    api.register_blueprint(__import__("web.editor_api", fromlist=["bp"]).bp)  # the planners' editor
    api.register_blueprint(__import__("web.suggest_api", fromlist=["bp"]).bp)  # suggested micro-grids
    app.register_blueprint(__import__("web.editor_pages", fromlist=["editor_pages"]).editor_pages)  # /editor
    app.register_blueprint(__import__("web.editor_offline", fromlist=["editor_offline"]).editor_offline)  # its worker
    __import__("web.history_pages", fromlist=["init_history"]).init_history(app, api)  # history: API and page
    _register_vendor(app)
    app.view_functions["pages.login"] = limit_login(limiter, app.view_functions["pages.login"])
    for endpoint in ("issues.create_issue", "open311.post_request"):
        app.view_functions[endpoint] = limit_intake(limiter, app.view_functions[endpoint])
    _start_escalation(app)
    register_error_handlers(app)
    init_security_headers(app)
    return app


def _start_escalation(app: Flask) -> None:
    """Escalate overdue issues on a schedule inside the service (not in tests: they drive it with a clock)."""
    interval = float(app.config["ESCALATION_INTERVAL_S"] or 0)
    if interval > 0 and not app.config.get("TESTING"):
        from issues.scheduler import EscalationThread

        thread = EscalationThread(app.extensions["weige.issues"], interval)
        thread.start()
        app.extensions["weige.escalation"] = thread


def _register_vendor(app: Flask) -> None:
    from web.vendor import init_vendor

    init_vendor(app)
