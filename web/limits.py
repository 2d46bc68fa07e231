"""Rate limits (Flask-Limiter): a default per caller on every API route, tighter ones on login and intake.

Limits are read from the config at request time (``API_RATE_LIMIT``, ``LOGIN_RATE_LIMIT``,
``LOGIN_NAME_RATE_LIMIT``, ``INTAKE_RATE_LIMIT``), so deployments tune them without code changes. Counters
live in memory (one process, the embedded default); set ``RATELIMIT_STORAGE_URI`` to a Redis URL when
several processes serve the app.
"""

from __future__ import annotations

import hashlib

from flask import Flask, current_app, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

__all__ = ["init_limits", "limit_login", "limit_intake"]


def _caller_key() -> str:
    header = request.headers.get("Authorization", "")
    if not header and request.path.startswith("/open311/") and request.values.get("api_key"):
        header = "Bearer " + request.values["api_key"]  # the same caller as with the header
    if header:
        return "token:" + hashlib.sha256(header.encode("utf-8", "replace")).hexdigest()[:16]
    user = session.get("_user_id")
    return f"user:{user}" if user else f"ip:{get_remote_address()}"


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
