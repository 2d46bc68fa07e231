"""Rate limits (Flask-Limiter): a default per caller on every API route, tighter ones on login and intake.

Limits are read from the config at request time (``API_RATE_LIMIT``, ``LOGIN_RATE_LIMIT``,
``LOGIN_NAME_RATE_LIMIT``, ``INTAKE_RATE_LIMIT``), so deployments tune them without code changes. Counters
live in memory (one process, the embedded default); set ``RATELIMIT_STORAGE_URI`` to a Redis URL when
several processes serve the app.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from web.access import identify
from web.errors import ApiError

__all__ = ["init_limits", "limit_login", "limit_intake"]


def _caller_key() -> str:
    """The authenticated caller (user id), whatever the spelling of their token; the address when anonymous."""
    try:
        user = identify()
    except ApiError:  # a malformed header or unknown token: counted per address (and refused with 401 later)
        user = None
    return f"user:{user.id}" if user is not None else f"ip:{get_remote_address()}"


def _login_name_key() -> str:
    return "login:" + str(request.form.get("username", "")).strip().lower()[:64]


def init_limits(app: Flask) -> Limiter:
    """Create the app's limiter; views named in :func:`limit_login` / :func:`limit_intake` get tighter limits."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(
        key_func=_caller_key,
        app=app,
        default_limits=[lambda: current_app.config["API_RATE_LIMIT"]],
        default_limits_exempt_when=lambda: not request.path.startswith("/api/"),
    )
    app.extensions["weige.limiter"] = limiter
    return limiter


def limit_login(limiter: Limiter, view):
    """Throttle sign-in attempts per client address and per login name (POST only)."""
    view = limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=get_remote_address, methods=["POST"])(
        view
    )
    return limiter.limit(
        lambda: current_app.config["LOGIN_NAME_RATE_LIMIT"], key_func=_login_name_key, methods=["POST"]
    )(view)


def limit_intake(limiter: Limiter, view):
    """Throttle issue intake per caller (token or user), one allowance shared by every intake route."""
    limit = limiter.shared_limit(
        lambda: current_app.config["INTAKE_RATE_LIMIT"], scope="intake", key_func=_caller_key, methods=["POST"]
    )
    return limit(view)
